"""The deployment zip, as the Lambda console would run it: unpacked into a clean directory and
imported by a fresh interpreter that sees nothing but that directory, boto3 and the stdlib."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import loads as load_template

from devtools import package
from devtools.kakao_limits import validate_skill_response

from .conftest import REPO, card_artist

# Runs inside the fresh interpreter: `-I -S` leaves only the stdlib on sys.path.
SMOKE_SCRIPT = """
import json, sys
sys.path[:0] = sys.argv[1:3]

class Context:
    aws_request_id = "zip-smoke-test"
    def get_remaining_time_in_millis(self):
        return 6000

import lambda_function, spotipy, pymysql, boto3
event = json.load(open(sys.argv[3], encoding="utf-8"))
response = lambda_function.lambda_handler(event, Context())
origins = {m.__name__: m.__file__ for m in (lambda_function, spotipy, pymysql, boto3)}
print(json.dumps({"response": response, "origins": origins}))
"""


def runtime_python() -> tuple[str, str]:
    """Lambda's Python when this machine has one that runs, else the one running the tests."""
    wanted = package.RUNTIME_PYTHON
    candidates = [
        shutil.which(f"python{wanted}"),
        *map(str, sorted(Path.home().glob(f".pyenv/versions/{wanted}*/bin/python{wanted}"))),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return candidate, wanted
    return sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("package")
    python, version = runtime_python()
    built = package.build(
        workdir / "lambda.zip", python_version=version, staging=workdir / "staging"
    )
    return built, python


def test_the_zip_holds_the_handler_and_its_dependencies_only(built_zip):
    built, _ = built_zip
    names = zipfile.ZipFile(built["zip"]).namelist()
    top_level = {name.split("/")[0] for name in names}

    assert "lambda_function.py" in names
    assert "data/artists.csv" in names  # the curated names, known without MySQL too
    assert {"spotipy", "pymysql", "requests", "urllib3"} <= top_level
    assert not {"boto3", "botocore", "bin"} & top_level
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert built["bytes"] < 5_000_000, "a console upload stays well under 50 MB"


def test_the_zip_is_reproducible(built_zip, tmp_path):
    built, _ = built_zip
    again = package.write_zip(built["zip"].parent / "staging", tmp_path / "again.zip")
    assert again == built["files"]
    assert (tmp_path / "again.zip").read_bytes() == built["zip"].read_bytes()


def test_the_unpacked_zip_answers_an_event_in_a_fresh_interpreter(built_zip, env, tmp_path):
    built, python = built_zip
    function_dir, runtime_dir = tmp_path / "function", tmp_path / "runtime"
    zipfile.ZipFile(built["zip"]).extractall(function_dir)
    # What the Lambda runtime adds to the zip: boto3, for the same platform and Python.
    package.pip_install_for_lambda(
        runtime_dir, [package.pinned_boto3()], built["arch"], built["python"]
    )
    result = subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-c",
            SMOKE_SCRIPT,
            str(function_dir),
            str(runtime_dir),
            str(REPO / "events" / "solo.json"),
        ],
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    for module in ("lambda_function", "spotipy", "pymysql"):
        assert Path(output["origins"][module]).is_relative_to(function_dir), output["origins"]
    assert Path(output["origins"]["boto3"]).is_relative_to(runtime_dir)
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
