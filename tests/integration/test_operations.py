"""Running on a real AWS account: operator events from inside the function (doctor, init-db,
load-artists), and the first request's clock starting with the container's init."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pymysql

from devtools.local_gateway import LambdaContext, kakao_request, proxy_event

from .conftest import REPO, mysql_kwargs, new_container


def operator(event: dict, container=None) -> dict:
    return (container or new_container()).lambda_handler(event, LambdaContext())


def checks_of(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def test_the_doctor_finds_every_layer_answering(env):
    report = operator({"operator": "doctor"})
    assert report["operator"] == "doctor" and report["ok"] is True
    checks = checks_of(report)
    assert list(checks) == ["secret", "spotify", "dynamodb", "mysql"]
    assert all(check["ok"] for check in checks.values())
    assert checks["spotify"]["detail"].startswith("token and a search")
    assert checks["mysql"]["detail"].endswith("artists, no TLS")


def test_the_doctor_names_the_nat_gateway_when_spotify_is_unreachable_from_a_vpc(env, monkeypatch):
    closed = "http://127.0.0.1:9"  # the discard port: nothing answers
    monkeypatch.setenv("SPOTIFY_API_URL", f"{closed}/v1/")
    monkeypatch.setenv("SPOTIFY_TOKEN_URL", f"{closed}/api/token")
    monkeypatch.setenv("FUNCTION_IN_VPC", "true")
    monkeypatch.setenv("MYSQL_HOST", "db.internal.example")  # no CA, not loopback
    report = operator({"operator": "doctor"})
    checks = checks_of(report)
    assert report["ok"] is False
    assert not checks["spotify"]["ok"] and "NAT gateway" in checks["spotify"]["fix"]
    assert not checks["mysql"]["ok"] and "MYSQL_SSL_CA" in checks["mysql"]["fix"]
    assert checks["mysql"]["ms"] < 500  # refused before any connection
    assert checks["dynamodb"]["ok"]


def test_operator_events_are_refused_over_http(env, capsys):
    event = proxy_event(json.dumps({"operator": "doctor"}), {"Content-Type": "application/json"})
    response = operator(event)
    assert response["statusCode"] == 400
    assert "operator event" not in capsys.readouterr().out


def test_an_unknown_operator_event_says_which_there_are(env):
    report = operator({"operator": "drop-everything"})
    assert report["ok"] is False and "doctor" in report["detail"]


def test_init_db_and_load_artists_set_up_a_new_database_from_inside(env, monkeypatch, mysql_config):
    database = f"kakao_music_ops_{os.getpid()}"
    monkeypatch.setenv("MYSQL_DATABASE", database)
    try:
        before = checks_of(operator({"operator": "doctor"}))["mysql"]
        assert not before["ok"] and "init-db" in before["fix"]
        assert operator({"operator": "init-db"})["ok"] is True
        loaded = operator({"operator": "load-artists"})
        assert loaded["ok"] is True and "artists_added" in loaded["detail"]
        after = checks_of(operator({"operator": "doctor"}))["mysql"]
        assert after["ok"] and int(after["detail"].split()[0]) >= 50
    finally:
        with pymysql.connect(**{**mysql_kwargs(mysql_config), "database": None}) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")


FIRST_REQUEST = """
import json, sys, time
started = time.monotonic()
import lambda_function
from devtools.local_gateway import LambdaContext, proxy_event
imported_ms = (time.monotonic() - started) * 1000
event = proxy_event(sys.argv[1], {"Content-Type": "application/json"})
lambda_function.lambda_handler(event, LambdaContext())
print(json.dumps({"imported_ms": imported_ms}))
"""


def first_request(env_overrides: dict) -> tuple[float, float]:
    """A fresh interpreter's import and first answer: (import ms, the answer's logged ms)."""
    body = json.dumps(kakao_request("안녕"), ensure_ascii=False)
    result = subprocess.run(
        [sys.executable, "-B", "-c", FIRST_REQUEST, body],
        cwd=REPO,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env_overrides},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    answered = next(line for line in lines if line.get("message") == "skill answered")
    return lines[-1]["imported_ms"], answered["duration_ms"]


def test_after_an_on_demand_cold_start_the_first_answer_counts_the_init(env):
    imported_ms, counted_ms = first_request({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    assert counted_ms >= imported_ms  # the import came out of Kakao's 5 s too
    imported_ms, counted_ms = first_request({"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned"})
    assert counted_ms < imported_ms  # an init nobody waited for is not counted
