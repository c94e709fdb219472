"""`make package`: dist/lambda.zip, the one artifact for the Lambda console and `sam deploy`.

lambda_function.py at the zip's root plus requirements.txt installed for Lambda's platform
(manylinux wheels for the runtime's Python, whatever Python runs this), without boto3, which
the runtime provides, unless `--with-boto3`. No bin/, no caches, no .pyc files. Entries are
sorted and dated 1980-01-01, so the same sources give the same bytes (and `sam deploy` sees
no change to upload).
"""

from __future__ import annotations

import argparse
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME_PYTHON = "3.12"  # template.yaml's Runtime; a test keeps the two equal
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
HANDLER_FILE = "lambda_function.py"
# The curated artists: the skill's index of names reads them beside the handler.
DATA_FILES = ("data/artists.csv",)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


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


def build(
    output: Path,
    *,
    arch: str = "x86_64",
    python_version: str = RUNTIME_PYTHON,
    with_boto3: bool = False,
    staging: Path | None = None,
) -> dict[str, object]:
    """Build the deployment zip; returns what was built, for printing and tests."""
    if arch not in PLATFORMS:
        raise ValueError(f"arch must be one of {sorted(PLATFORMS)}, not {arch!r}")
    staging = staging or REPO / "build" / "lambda"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    requirements = ["-r", str(REPO / "requirements.txt")]
    if with_boto3:
        requirements.append(pinned_boto3())
    pip_install_for_lambda(staging, requirements, arch, python_version)
    strip_for_lambda(staging)
    shutil.copy2(REPO / HANDLER_FILE, staging / HANDLER_FILE)
    for name in DATA_FILES:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, staging / name)
    count = write_zip(staging, output)
    return {
        "zip": output,
        "bytes": output.stat().st_size,
        "files": count,
        "arch": arch,
        "python": python_version,
        "boto3": with_boto3,
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
    parser.add_argument("--output", type=Path, default=REPO / "dist" / "lambda.zip")
    args = parser.parse_args(argv)
    built = build(
        args.output, arch=args.arch, python_version=args.python, with_boto3=args.with_boto3
    )
    boto3_note = "boto3 included" if built["boto3"] else "boto3 left out: the runtime provides it"
    print(
        f"{display_path(built['zip'])}: {built['bytes'] / 1e6:.2f} MB, {built['files']} files, "
        f"python{built['python']} {built['arch']}, {boto3_note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
