"""Every file in events/ answered through lambda_handler, as `sam local invoke -e` would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devtools.containers import sealed_extra
from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import LambdaContext

from .conftest import (
    REPO,
    artist_search_calls,
    card_artist,
    component,
    new_container,
    spotify_name,
    text_of,
)

EVENTS = REPO / "events"

# What each event must answer: the card's title, or None for the "not found" answer.
EXPECTED_TITLES = {
    "solo": "IU",
    "group": "NewJeans",
    "korean-alias": "LE SSERAFIM",
    "quick-reply": "OH MY GIRL",
    "unknown": None,
    "bot-test": "TWICE",
    "entities": "IU",  # a date and a number beside a custom entity whose value is 아이유
}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def kakao_body(event: dict) -> dict:
    return json.loads(event["body"])


def test_every_event_file_has_an_expected_answer():
    events = {path.stem for path in EVENTS.glob("*.json")} - {"env.example"}  # --env-vars
    assert events == set(EXPECTED_TITLES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TITLES))
def test_event_is_answered_through_lambda_handler(name, env, spotify):
    event = load_event(name)
    response = new_container().lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert validate_skill_response(body) == []
    card = component(body, "basicCard")
    expected = EXPECTED_TITLES[name]
    if expected is None:
        assert card is None
        assert "찾지 못했어요" in text_of(body)
    else:
        assert spotify_name(card["title"]) == expected
        assert component(body, "listCard")["items"], "tracks are listed"


def test_the_quick_reply_event_signed_as_the_bot_signs_skips_search(env, spotify):
    event = load_event("quick-reply")
    body = kakao_body(event)
    extra = body["action"]["clientExtra"]
    assert extra["artist_id"] == spotify.artist_id(extra["artist_name"])
    new_container().lambda_handler(event, LambdaContext())
    assert artist_search_calls(spotify) == 1  # as saved, unsigned: read as the name typed

    spotify.reset_calls()
    user = body["userRequest"]["user"]["id"]
    body["action"]["clientExtra"] = sealed_extra(extra, user_id=user)
    event["body"] = json.dumps(body, ensure_ascii=False)
    new_container().lambda_handler(event, LambdaContext())
    assert artist_search_calls(spotify) == 0


def test_the_bot_test_event_comes_from_openbuilders_test_panel():
    surfaces = {
        name: kakao_body(load_event(name))["userRequest"]["params"]["surface"]
        for name in EXPECTED_TITLES
    }
    assert surfaces.pop("bot-test") == "BuilderBotTest"
    assert set(surfaces.values()) == {"Kakaotalk.plusfriend"}


def test_make_invoke_prints_the_kakao_answer_without_docker(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SPOTIFY_", "MYSQL_", "DYNAMODB_", "AWS_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", "--memory-only", str(EVENTS / "solo.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert validate_skill_response(body) == []
    assert card_artist(body) == "IU"
    assert "HTTP 200" in result.stderr
