"""Real parts: MariaDB (or MySQL), AWS's DynamoDB Local and the Spotify-compatible stub.

Each test gets clean tables; `new_container()` imports lambda_function afresh, as a new
Lambda container would, with the environment the test set.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import boto3
import pymysql
import pytest

from devtools.admin import create_cache_table
from devtools.containers import close_containers, new_container, reset_store
from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import LambdaContext, kakao_request, proxy_event
from devtools.services import dynamodb_local, mysql_server
from devtools.spotify_stub import SpotifyStub

REPO = Path(__file__).resolve().parents[2]
TABLE = "kakao-music-test"
CLIENT_ID, CLIENT_SECRET = "test-client-id", "test-client-secret-value"
_containers = itertools.count()


@pytest.fixture(scope="session")
def mysql_config():
    with mysql_server() as config:
        yield config


@pytest.fixture(scope="session")
def dynamodb_endpoint():
    with dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def spotify():
    with SpotifyStub(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as stub:
        yield stub


@pytest.fixture(autouse=True)
def _close_containers():
    yield
    close_containers()


@pytest.fixture(params=["development-2026", "extended"])
def mode(request, env, spotify):
    """Run the test in both of Spotify's app modes."""
    spotify.mode = request.param
    return request.param


@pytest.fixture
def env(monkeypatch, mysql_config, dynamodb_endpoint, spotify):
    """Every layer on, pointing at the real local servers."""
    spotify.mode = "development-2026"
    spotify.clear_faults()
    spotify.reset_realism()
    spotify.realistic = True  # Spotify's unkind parts (devtools/spotify_stub.py cites each)
    spotify.latency_ms = 0
    values = {
        "SPOTIFY_CLIENT_ID": CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
        "SPOTIFY_API_URL": spotify.api_url,
        "SPOTIFY_TOKEN_URL": spotify.token_url,
        "DYNAMODB_TABLE": TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "LOG_LEVEL": "INFO",
        # Every request here comes from one user id: the per-minute budgets are not
        # what is measured (tests/integration/test_trust.py tests them).
        "USER_REQUESTS_PER_MINUTE": "1000000",
        "SPOTIFY_REQUESTS_PER_MINUTE": "1000000",
        **mysql_config.env(),
    }
    for name in ("SKILL_API_KEY", "ANSWER_BUDGET_MS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    prepare_layers(mysql_config, dynamodb_endpoint)
    spotify.reset_calls()
    return values


def prepare_layers(mysql_config, dynamodb_endpoint) -> None:
    """Schema, starter artists and an empty cache table for each test."""
    skill = new_container()
    settings = skill.Settings.from_env()
    skill.ArtistStore(settings).create_schema()
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn:
        rejected = reset_store(skill, settings, conn)
    assert not rejected, rejected
    create_cache_table(TABLE)
    clear_table(dynamodb_endpoint)


def dynamodb(endpoint):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def clear_table(endpoint, prefix: str = "") -> None:
    """Delete the cache table's items (those whose key starts with `prefix`)."""
    client = dynamodb(endpoint)
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            if item["pk"]["S"].startswith(prefix):
                client.delete_item(TableName=TABLE, Key={"pk": item["pk"]})


def mysql_kwargs(config) -> dict:
    return {
        "host": config.host,
        "port": config.port,
        "user": config.user,
        "password": config.password,
        "database": config.database,
        "charset": "utf8mb4",
        "autocommit": True,
    }


def ask(container, utterance="", *, extra=None, body=None, headers=None, context=None):
    """POST a Kakao request through an API Gateway event; returns (status, parsed body)."""
    payload = body if body is not None else kakao_request(utterance, extra)
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    event = proxy_event(text, headers or {"Content-Type": "application/json"})
    response = container.lambda_handler(event, context or LambdaContext())
    assert response["headers"]["Content-Type"].startswith("application/json")
    parsed = json.loads(response["body"])
    if response["statusCode"] == 200:
        assert validate_skill_response(parsed) == [], parsed
    return response["statusCode"], parsed


def component(body, kind):
    """The first output of that kind, or None."""
    for output in body["template"]["outputs"]:
        if kind in output:
            return output[kind]
    return None


def spotify_name(title: str) -> str:
    """The Spotify name in a card title: "아이유 (IU)" shows IU by the name users know."""
    match = re.fullmatch(r".+ \((.+)\)", title)
    return match[1] if match else title


def card_artist(body) -> str:
    """The Spotify name of the artist on the answer's card."""
    card = component(body, "basicCard") or component(body, "textCard")
    return spotify_name(card["title"])


def text_of(body) -> str:
    return "\n".join(
        o["simpleText"]["text"] for o in body["template"]["outputs"] if "simpleText" in o
    )


def artist_search_calls(stub) -> int:
    return sum(
        1
        for call in stub.calls
        if call["path"] == "/v1/search" and call["params"].get("type") == "artist"
    )
