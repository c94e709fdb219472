"""`make lint`'s length budget: no function in lambda_function.py over 40 lines.

ruff has no rule for a function's length, so this reads the file's syntax tree. Exceptions are
named in pyproject.toml under [tool.function-budget.exceptions], each with its reason.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 40


def long_functions(source: str, limit: int = MAX_LINES) -> dict[str, int]:
    """Qualified name -> length in lines, for each function longer than `limit`."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                length = (child.end_lineno or child.lineno) - first + 1
                if length > limit:
                    found[f"{prefix}{child.name}"] = length
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(source), "")
    return found


def main() -> int:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    allowed = config.get("tool", {}).get("function-budget", {}).get("exceptions", {})
    path = REPO / "lambda_function.py"
    over = {
        name: length
        for name, length in long_functions(path.read_text(encoding="utf-8")).items()
        if name not in allowed
    }
    for name, length in sorted(over.items()):
        print(f"{path.name}: {name} is {length} lines (budget {MAX_LINES})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
