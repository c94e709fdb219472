"""Credentials from Secrets Manager or an SSM SecureString, read once per container, through
boto3's own network code against the loopback look-alike in devtools/aws_secrets_stub.py."""

from __future__ import annotations

import json
import time

import pytest

from devtools.aws_secrets_stub import AwsSecretsStub

from .conftest import CLIENT_ID, CLIENT_SECRET, ask, card_artist, component, new_container, text_of

SECRET_NAME = "kakao-music/credentials"
PARAMETER_NAME = "/kakao-music/credentials"
CREDENTIALS = json.dumps({"SPOTIFY_CLIENT_ID": CLIENT_ID, "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET})


@pytest.fixture(scope="module")
def aws_secrets():
    with AwsSecretsStub() as stub:
        yield stub


@pytest.fixture
def secret_env(env, monkeypatch, aws_secrets):
    """Every layer on, but the Spotify credentials only in the secret."""
    aws_secrets.secrets = {SECRET_NAME: CREDENTIALS}
    aws_secrets.parameters = {PARAMETER_NAME: CREDENTIALS}
    aws_secrets.calls.clear()
    aws_secrets.hang_seconds = 0
    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws_secrets.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", aws_secrets.url)
    return aws_secrets


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def test_credentials_come_from_secrets_manager_once_per_container(secret_env, monkeypatch):
    monkeypatch.setenv("SECRET_ARN", secret_env.secret_arn(SECRET_NAME))
    container = new_container()
    for name in ("아이유", "뉴진스"):
        status, body = ask(container, name)
        assert status == 200 and component(body, "basicCard") is not None
    assert secret_env.calls == ["secretsmanager.GetSecretValue"]


def test_credentials_come_from_an_ssm_securestring(secret_env, monkeypatch):
    monkeypatch.setenv("SECRET_PARAMETER", PARAMETER_NAME)
    status, body = ask(new_container(), "아이유")
    assert card_artist(body) == "IU"
    assert secret_env.calls == ["AmazonSSM.GetParameter"]


def test_plain_variables_win_over_the_secret(secret_env, monkeypatch):
    secret_env.secrets[SECRET_NAME] = json.dumps(
        {"SPOTIFY_CLIENT_ID": "stale-id", "SPOTIFY_CLIENT_SECRET": "stale-secret"}
    )
    monkeypatch.setenv("SECRET_ARN", SECRET_NAME)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
    status, body = ask(new_container(), "아이유")
    assert card_artist(body) == "IU"


@pytest.mark.parametrize("content", ["not json", '["a list"]', None])
def test_an_unreadable_secret_gets_an_apology_and_a_precise_log_line(
    secret_env, monkeypatch, capsys, content
):
    if content is None:
        secret_env.secrets.clear()  # ResourceNotFoundException
    else:
        secret_env.secrets[SECRET_NAME] = content
    monkeypatch.setenv("SECRET_ARN", SECRET_NAME)
    status, body = ask(new_container(), "아이유")
    assert status == 200
    assert "잠시 뒤에" in text_of(body)
    lines = log_lines(capsys)
    failure = next(line for line in lines if "SECRET_ARN" in line["message"])
    assert failure["level"] == "ERROR" and failure["error"]
    assert any(line["message"] == "answered with an apology" for line in lines)
    assert CLIENT_SECRET not in json.dumps(lines)


def test_a_slow_secret_still_answers_inside_kakaos_deadline_and_is_retried(secret_env, monkeypatch):
    monkeypatch.setenv("SECRET_ARN", SECRET_NAME)
    secret_env.hang_seconds = 10
    container = new_container()
    started = time.monotonic()
    status, body = ask(container, "아이유")
    elapsed = time.monotonic() - started
    assert status == 200 and "잠시 뒤에" in text_of(body)
    assert elapsed < 4.0, "the secret's timeouts leave time inside Kakao's 5 s"

    secret_env.hang_seconds = 0
    status, body = ask(container, "아이유")
    assert card_artist(body) == "IU"
    assert secret_env.calls.count("secretsmanager.GetSecretValue") == 2


def test_the_cold_start_secret_read_comes_out_of_the_answer_budget(
    secret_env, monkeypatch, spotify
):
    monkeypatch.setenv("SECRET_ARN", SECRET_NAME)
    monkeypatch.setenv("ANSWER_BUDGET_MS", "1500")
    secret_env.hang_seconds = 0.8  # slow but successful
    spotify.add_fault("hang", path_prefix="/v1/search", seconds=5)  # the look-up uses it all
    container = new_container()  # the import is not the handler's: Lambda's init precedes it
    started = time.monotonic()
    status, body = ask(container, "아이유")
    elapsed = time.monotonic() - started
    assert status == 200
    # 0.8 s + a fresh 1.5 s budget would be 2.3 s.
    assert elapsed < 1.5 + 0.4


def test_a_rotated_spotify_secret_is_read_again_when_spotify_rejects_the_old_one(
    secret_env, monkeypatch, spotify, capsys
):
    monkeypatch.setenv("SECRET_ARN", secret_env.secret_arn(SECRET_NAME))
    container = new_container()
    assert card_artist(ask(container, "아이유")[1]) == "IU"
    rotated = {"SPOTIFY_CLIENT_ID": CLIENT_ID, "SPOTIFY_CLIENT_SECRET": "rotated-secret"}
    secret_env.secrets = {SECRET_NAME: json.dumps(rotated)}
    monkeypatch.setattr(spotify, "client_secret", "rotated-secret")
    spotify.add_fault("expired_token", count=1)  # the warm container's token runs out
    status, body = ask(container, "뉴진스")
    assert card_artist(body) == "NewJeans"  # answered with the new secret, in the same request
    assert secret_env.calls == ["secretsmanager.GetSecretValue"] * 2
    logged = log_lines(capsys)
    assert any(line["message"].startswith("spotify credentials rejected") for line in logged)
    assert "rotated-secret" not in json.dumps(logged)


def test_a_rejected_secret_is_not_read_again_on_every_request(secret_env, monkeypatch, spotify):
    monkeypatch.setenv("SECRET_ARN", secret_env.secret_arn(SECRET_NAME))
    monkeypatch.setattr(spotify, "client_secret", "not-what-the-secret-says")
    container = new_container()
    for name in ("아이유", "뉴진스", "BTS"):
        assert "잠시 뒤에" in text_of(ask(container, name)[1])
    assert secret_env.calls == ["secretsmanager.GetSecretValue"] * 2  # first use, one re-read
