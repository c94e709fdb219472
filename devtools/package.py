"""`make package`: dist/lambda.zip, the one artifact for the Lambda console and `sam deploy`.

lambda_function.py at the zip's root plus requirements.txt installed for Lambda's platform
(manylinux wheels for the runtime's Python, whatever Python runs this), without boto3, which
the runtime provides, unless `--with-boto3`. No bin/, no caches.

The dependencies ship as byte-code only, compiled for the runtime's Python: Lambda's code
directory is read-only, so a dependency shipped as source is compiled again on every cold start
(the issue measured 1,163 ms against 440 ms for the import). Each `x.py` becomes `x.pyc` in its
place (compileall's legacy layout, which Python imports without a source; sources and
`__pycache__/` files both would take the zip over the console editor's 3 MB), hash-based and
unchecked, so no time stamp is written and none is checked, and with file names under Lambda's
/var/task. The compiler is the CPython 3.12 of Pyodide (the npm package pinned in package.json:
the only CPython 3.12 the project's registries offer this machine), run by Node; for another
`--python` only this Python, when it is that version. The handler stays source, editable in
the console. Entries are sorted and dated 1980-01-01, so the same sources give the same bytes
(and `sam deploy` sees no change to upload).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME_PYTHON = "3.12"  # template.yaml's Runtime; a test keeps the two equal
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
HANDLER_FILE = "lambda_function.py"
# The curated artists: the skill's index of names reads them beside the handler.
DATA_FILES = ("data/artists.csv", "data/schema.sql")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DEFAULT_OUTPUT = REPO / "dist" / "lambda.zip"
TASK_ROOT = "/var/task"  # Lambda's code directory: the file names written into the byte-code
PYODIDE = REPO / "node_modules" / "pyodide"
PYODIDE_RUNNER = REPO / "devtools" / "pyodide_run.mjs"
# Run by the compiling interpreter, with the staging directory at `root`.
COMPILE_CODE = """
import compileall, py_compile
ok = compileall.compile_dir(
    {root!r}, ddir={ddir!r}, quiet=1, legacy=True, workers=1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
if not ok:
    raise SystemExit("a dependency did not compile")
"""


def pip_install_for_lambda(
    target: Path, requirements: list[str], arch: str, python_version: str
) -> None:
    """pip-install wheels built for Lambda's Linux into `target`, not for this machine."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation=cp",
        f"--platform={PLATFORMS[arch]}",
        f"--python-version={python_version}",
        f"--target={target}",
        *requirements,
    ]
    subprocess.run(command, check=True)


def pinned_boto3() -> str:
    """The boto3 pin of requirements-dev.txt: what the tests ran with."""
    text = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    match = re.search(r"^boto3==[\w.]+", text, re.MULTILINE)
    return match.group(0) if match else "boto3"


def strip_for_lambda(staging: Path) -> None:
    """Drop what Lambda never uses: console scripts and byte-code caches."""
    shutil.rmtree(staging / "bin", ignore_errors=True)
    for cache in sorted(staging.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in staging.rglob("*.py[co]"):
        compiled.unlink()


def minor_version(version: str) -> str:
    return ".".join(version.split(".")[:2])


@dataclass(frozen=True)
class Compiler:
    """An interpreter that compiles byte-code for the runtime's Python version."""

    version: str  # the CPython version, e.g. "3.12.7"
    label: str  # which interpreter it is, for the build's summary line
    command: tuple[str, ...]  # reads Python code on stdin, the staging directory mounted at root
    root: str


def pyodide_compiler(staging: Path) -> Compiler | None:
    """Pyodide's CPython from node_modules (`npm ci`), if it is installed and Node runs here."""
    node = shutil.which("node")
    try:
        info = json.loads((PYODIDE / "pyodide-lock.json").read_text(encoding="utf-8"))["info"]
        version, label = info["python"], f"Pyodide {info['version']}, run by Node"
    except (OSError, ValueError, KeyError):
        return None
    if node is None:
        return None
    command = (node, str(PYODIDE_RUNNER), str(staging), TASK_ROOT)
    return Compiler(version, f"CPython {version} ({label})", command, TASK_ROOT)


def bytecode_compiler(staging: Path, python_version: str) -> Compiler | None:
    """Who compiles for `python_version`: the pinned Pyodide first, so that every machine
    writes the same bytes; else this Python when it is that version; else no one."""
    pyodide = pyodide_compiler(staging)
    if pyodide and minor_version(pyodide.version) == python_version:
        return pyodide
    here = platform.python_version()
    if minor_version(here) == python_version:
        label = f"CPython {here} (the Python running this)"
        return Compiler(here, label, (sys.executable, "-I", "-"), str(staging))
    return None


def compile_dependencies(staging: Path, compiler: Compiler) -> int:
    """Every .py under `staging` replaced by its byte-code; returns the number of modules."""
    code = COMPILE_CODE.format(root=compiler.root, ddir=TASK_ROOT)
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # sets compiled in one order, every run
    subprocess.run(compiler.command, input=code, text=True, env=env, check=True)
    compiled = sorted(staging.rglob("*.pyc"))
    for path in compiled:
        path.with_suffix(".py").unlink()
    return len(compiled)


def runtime_interpreter(version: str = RUNTIME_PYTHON) -> str | None:
    """A native CPython `version` on this machine (on PATH, or pyenv's) that runs, to run the
    zip as Lambda would; None if there is none."""
    candidates = [
        shutil.which(f"python{version}"),
        *map(str, sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def runtime_or_this_python() -> tuple[str, str]:
    """Lambda's Python when this machine has one that runs, else the Python running this:
    its path and its "X.Y"."""
    runtime = runtime_interpreter()
    if runtime:
        return runtime, RUNTIME_PYTHON
    return sys.executable, minor_version(platform.python_version())


def set_writable(directory: Path, writable: bool) -> None:
    """Give or take the write bits of a directory tree (Lambda's /var/task has none)."""
    for path in [directory, *directory.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


def unpack_read_only(archive: Path, directory: Path) -> Path:
    """The zip unpacked as Lambda unpacks it: a directory no one may write (root still can:
    run the interpreter with -B too)."""
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(directory)
    set_writable(directory, False)
    return directory


def write_zip(source: Path, output: Path) -> int:
    """Zip a directory reproducibly; returns the number of files."""
    files = sorted(path for path in source.rglob("*") if path.is_file())
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & stat.S_IXUSR
            mode = 0o755 if executable else 0o644  # Lambda runs as another user: all can read
            entry.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(entry, path.read_bytes())
    partial.replace(output)  # never leave a half-written zip under the real name
    return len(files)


def copy_handler_and_data(staging: Path) -> None:
    """The handler as source, after the compiling: it is edited in the Lambda console. Any CA
    bundle put in data/ (RDS: global-bundle.pem) rides along, for MYSQL_SSL_CA=data/…"""
    shutil.copy2(REPO / HANDLER_FILE, staging / HANDLER_FILE)
    bundles = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "data").glob("*.pem"))
    for name in (*DATA_FILES, *bundles):
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, staging / name)


def build(
    output: Path,
    *,
    arch: str = "x86_64",
    python_version: str = RUNTIME_PYTHON,
    with_boto3: bool = False,
    bytecode: bool = True,
    staging: Path | None = None,
) -> dict[str, object]:
    """Build the deployment zip; returns what was built, for printing and tests."""
    if arch not in PLATFORMS:
        raise ValueError(f"arch must be one of {sorted(PLATFORMS)}, not {arch!r}")
    staging = staging or REPO / "build" / "lambda"
    compiler = bytecode_compiler(staging, python_version) if bytecode else None
    if bytecode and compiler is None:
        raise RuntimeError(
            f"no CPython {python_version} here to compile the dependencies: for 3.12 `npm ci` "
            "installs Pyodide's (make package does); else build with --no-bytecode"
        )
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    requirements = ["-r", str(REPO / "requirements.txt")]
    if with_boto3:
        requirements.append(pinned_boto3())
    pip_install_for_lambda(staging, requirements, arch, python_version)
    strip_for_lambda(staging)
    modules = compile_dependencies(staging, compiler) if compiler else 0
    copy_handler_and_data(staging)
    count = write_zip(staging, output)
    return {
        "zip": output,
        "bytes": output.stat().st_size,
        "files": count,
        "arch": arch,
        "python": python_version,
        "boto3": with_boto3,
        "compiled_by": compiler.label if compiler else None,
        "compiled_modules": modules,
    }


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--python", default=RUNTIME_PYTHON, help="the runtime's Python version")
    parser.add_argument("--with-boto3", action="store_true", help="ship boto3 too (~18 MB)")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="ship the dependencies as source (slow starts)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    built = build(
        args.output,
        arch=args.arch,
        python_version=args.python,
        with_boto3=args.with_boto3,
        bytecode=not args.no_bytecode,
    )
    boto3_note = "boto3 included" if built["boto3"] else "boto3 left out: the runtime provides it"
    compiled = (
        f"{built['compiled_modules']} dependency modules as byte-code by {built['compiled_by']}"
        if built["compiled_by"]
        else "dependencies as source (--no-bytecode): compiled on every cold start"
    )
    print(
        f"{display_path(built['zip'])}: {built['bytes'] / 1e6:.2f} MB, {built['files']} files, "
        f"python{built['python']} {built['arch']}, {boto3_note}; {compiled}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
