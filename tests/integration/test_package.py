"""The deployment zip, as the Lambda console would run it: unpacked into a read-only directory
and imported by a fresh interpreter that writes no byte-code and sees nothing but that directory,
boto3 and the stdlib."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import loads as load_template

from devtools import package
from devtools.kakao_limits import validate_skill_response

from .conftest import REPO, card_artist

# Runs inside the fresh interpreter: `-I -S` leaves only the stdlib on sys.path. It counts every
# module compiled from source on the way: with the dependencies shipped as byte-code, only the
# handler should be.
SMOKE_SCRIPT = """
import json, sys
sys.path[:0] = sys.argv[1:3]
import importlib._bootstrap_external as bootstrap

compiled = []
to_code = bootstrap.SourceLoader.source_to_code
def counting_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return to_code(self, data, path, *args, **kwargs)
bootstrap.SourceLoader.source_to_code = counting_to_code

class Context:
    aws_request_id = "zip-smoke-test"
    def get_remaining_time_in_millis(self):
        return 6000

import lambda_function, spotipy.client, pymysql, boto3
event = json.load(open(sys.argv[3], encoding="utf-8"))
response = lambda_function.lambda_handler(event, Context())
print(json.dumps({
    "response": response,
    "origins": {m.__name__: m.__file__ for m in (lambda_function, spotipy, pymysql, boto3)},
    "compiled": compiled,
    "dont_write_bytecode": sys.dont_write_bytecode,
    "code_file": spotipy.client.Spotify.__init__.__code__.co_filename,
}))
"""


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    """Built for Lambda's Python when this machine has one to run it, else for this Python."""
    workdir = tmp_path_factory.mktemp("package")
    python, version = package.runtime_or_this_python()
    built = package.build(
        workdir / "lambda.zip", python_version=version, staging=workdir / "staging"
    )
    return built, python


def zip_names(built) -> list[str]:
    with zipfile.ZipFile(built["zip"]) as archive:
        return archive.namelist()


def test_the_zip_holds_the_handler_as_source_and_its_dependencies_as_byte_code(built_zip):
    built, _ = built_zip
    names = zip_names(built)
    top_level = {name.split("/")[0] for name in names}

    assert "lambda_function.py" in names
    assert "data/artists.csv" in names  # the curated names, known without MySQL too
    assert {"spotipy", "pymysql", "redis", "requests", "urllib3"} <= top_level
    assert not {"boto3", "botocore", "bin"} & top_level
    compiled = [name for name in names if name.endswith(".pyc")]
    sources = [name for name in names if name.endswith(".py")]
    assert sources == ["lambda_function.py"], "each dependency module ships as x.pyc alone"
    assert len(compiled) == built["compiled_modules"] > 100
    assert not [name for name in names if "__pycache__" in name or "lambda_function.pyc" in name]
    assert built["bytes"] < 3_000_000, "the console's code editor opens a zip under 3 MB only"


def test_the_handler_ships_as_plain_source(built_zip):
    built, _ = built_zip
    with zipfile.ZipFile(built["zip"]) as archive:
        handler = archive.read("lambda_function.py").decode("utf-8")
    assert "\ndef lambda_handler(" in handler


def test_the_byte_code_is_the_runtimes_and_checks_no_time_stamp(built_zip):
    built, python = built_zip
    with zipfile.ZipFile(built["zip"]) as archive:
        headers = {archive.read(n)[:8] for n in archive.namelist() if n.endswith(".pyc")}
    magic = subprocess.run(
        [python, "-c", "import importlib.util as u, sys; sys.stdout.write(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # PEP 552 flags 0b01: hash-based and unchecked, so no time stamp is written or compared.
    assert headers == {bytes.fromhex(magic) + (0b01).to_bytes(4, "little")}


def test_the_project_installs_a_cpython_of_the_runtimes_version_to_compile_with(tmp_path):
    compiler = package.bytecode_compiler(tmp_path, package.RUNTIME_PYTHON)
    assert compiler is not None, "npm ci installs Pyodide's CPython (package.json)"
    probe = "import platform, sys; print(sys.implementation.cache_tag, platform.python_version())"
    run = subprocess.run(
        compiler.command, input=probe, capture_output=True, text=True, check=True, timeout=120
    )
    tag, version = run.stdout.split()
    assert tag == "cpython-" + package.RUNTIME_PYTHON.replace(".", "")
    assert package.minor_version(version) == package.RUNTIME_PYTHON
    assert version == compiler.version


def test_the_zip_is_reproducible(built_zip, tmp_path):
    """Built again from scratch elsewhere: pip, the compiler and the zip give the same bytes."""
    built, _ = built_zip
    again = package.build(
        tmp_path / "again.zip", python_version=built["python"], staging=tmp_path / "elsewhere"
    )
    assert again["files"] == built["files"]
    assert (tmp_path / "again.zip").read_bytes() == built["zip"].read_bytes()


def run_smoke_test(python: str, function_dir: Path, runtime_dir: Path, env: dict, cwd: Path):
    return subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-B",  # Lambda's code directory is read-only: nothing compiled is ever kept
            "-c",
            SMOKE_SCRIPT,
            str(function_dir),
            str(runtime_dir),
            str(REPO / "events" / "solo.json"),
        ],
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_unpacked_zip_answers_from_a_read_only_directory_without_compiling(
    built_zip, env, tmp_path
):
    built, python = built_zip
    function_dir = package.unpack_read_only(built["zip"], tmp_path / "function")
    files_before = sorted(function_dir.rglob("*"))
    # What the Lambda runtime adds to the zip: boto3, for the same platform and Python.
    runtime_dir = tmp_path / "runtime"
    package.pip_install_for_lambda(
        runtime_dir, [package.pinned_boto3()], built["arch"], built["python"]
    )
    try:
        result = run_smoke_test(python, function_dir, runtime_dir, env, tmp_path)
    finally:
        package.set_writable(function_dir, True)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    for module in ("lambda_function", "spotipy", "pymysql"):
        assert Path(output["origins"][module]).is_relative_to(function_dir), output["origins"]
    assert Path(output["origins"]["boto3"]).is_relative_to(runtime_dir)
    assert output["dont_write_bytecode"]
    compiled_here = [p for p in output["compiled"] if Path(p).is_relative_to(function_dir)]
    assert compiled_here == [str(function_dir / "lambda_function.py")]
    assert output["code_file"] == "/var/task/spotipy/client.py"  # where Lambda will have it
    assert sorted(function_dir.rglob("*")) == files_before
    response = output["response"]
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert validate_skill_response(body) == []
    assert card_artist(body) == "IU"


def test_the_zip_targets_the_templates_runtime():
    template = load_template((REPO / "template.yaml").read_text(encoding="utf-8"))
    function = template["Resources"]["SkillFunction"]["Properties"]
    assert function["Runtime"] == f"python{package.RUNTIME_PYTHON}"
    assert function["CodeUri"] == "dist/lambda.zip"
    assert function["Handler"] == "lambda_function.lambda_handler"


def test_an_arm64_zip_carries_only_arm64_binaries(tmp_path):
    built = package.build(tmp_path / "arm64.zip", arch="arm64", staging=tmp_path / "staging")
    binaries = [n for n in zipfile.ZipFile(built["zip"]).namelist() if n.endswith(".so")]
    assert binaries, "charset_normalizer ships compiled modules for Linux"
    assert all("aarch64" in name for name in binaries), binaries
