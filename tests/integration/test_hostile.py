"""Hostile and broken input (tests/corpus/hostile.py, plus generated Kakao-ish requests): no
exception ever, Kakao-shaped gets 200 and a valid body, the rest 400/401, the store unchanged,
the logs free of secrets and raw user keys."""

from __future__ import annotations

import copy
import json

import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import LambdaContext, proxy_event
from tests.corpus import hostile
from tests.corpus.hostile import corpus

from .conftest import CLIENT_SECRET, mysql_kwargs, new_container

TABLES = {
    "artists": "SELECT id, spotify_id, name, name_key FROM artists ORDER BY id",
    "aliases": "SELECT alias_key, alias, artist_id, source FROM aliases ORDER BY alias_key",
    "tags": "SELECT artist_id, tag FROM tags ORDER BY artist_id, tag",
    "related_artists": "SELECT artist_id, related_id, source, score FROM related_artists"
    " ORDER BY artist_id, related_id, source",
}


def store_snapshot(mysql_config) -> dict[str, tuple]:
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        snapshot = {}
        for table, sql in TABLES.items():
            cursor.execute(sql)
            snapshot[table] = tuple(cursor.fetchall())
        return snapshot


def answer(container, event) -> tuple[int, dict]:
    response = container.lambda_handler(copy.deepcopy(event), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_the_hostile_corpus(env, mysql_config, capsys):
    container = new_container()
    # One injection names 아이유 inside its SQL: the bot answers IU, as it should. Asked once
    # first, IU is learned before the snapshot, so the corpus itself may change nothing.
    answer(container, hostile.event(hostile.kakao("아이유")))
    container.skill_app().store.settled()
    before = store_snapshot(mysql_config)
    wrong = []
    for name, event, expected in corpus():
        status, body = answer(container, event)
        if status != expected:
            wrong.append(f"{name}: {status}, expected {expected}: {body}")
        elif status == 200 and (problems := validate_skill_response(body)):
            wrong.append(f"{name}: invalid Kakao body: {problems}")
        elif status != 200 and not body.get("error"):
            wrong.append(f"{name}: refusal without a reason")
    assert wrong == []
    assert store_snapshot(mysql_config) == before
    logs = capsys.readouterr().out
    assert CLIENT_SECRET not in logs and "local-user" not in logs
    assert "Traceback" not in logs and "unexpected failure" not in logs


def test_the_corpus_without_the_api_key_is_refused_before_any_look_up(
    env, monkeypatch, spotify, capsys
):
    monkeypatch.setenv("SKILL_API_KEY", "corpus-key-value")
    container = new_container()
    spotify.reset_calls()
    for name, event, _ in corpus():
        status, body = answer(container, event)
        assert status in (400, 401), name
    assert spotify.calls == []
    assert "corpus-key-value" not in capsys.readouterr().out


# -- generated Kakao-ish requests

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8"), max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
typed = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(categories=["Lo", "So", "Cc", "Cf", "Zs", "Mn"]), max_size=30),
    st.sampled_from(["아이유", "뉴진스", "IU", "(여자)아이들", "'; DROP TABLE aliases; --", ""]),
)
kakaoish = st.fixed_dictionaries(
    {
        "userRequest": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "utterance": typed | json_value,
                    "user": st.one_of(
                        json_value, st.fixed_dictionaries({"id": typed | json_value})
                    ),
                    "params": st.one_of(
                        json_value, st.fixed_dictionaries({"surface": typed | json_value})
                    ),
                }
            ),
        ),
        "action": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "params": st.dictionaries(
                        st.sampled_from(["solo", "group", "artist", "other"]),
                        typed | json_value,
                        max_size=3,
                    ),
                    "detailParams": st.dictionaries(
                        st.sampled_from(["solo", "group"]),
                        st.fixed_dictionaries({"origin": typed | json_value}) | json_value,
                        max_size=2,
                    ),
                    "clientExtra": json_value
                    | st.fixed_dictionaries(
                        {
                            "artist_id": typed | json_value,
                            "artist_name": typed | json_value,
                            "confirms": typed | json_value,
                        }
                    ),
                }
            ),
        ),
    },
    optional={"intent": json_value, "bot": json_value, "contexts": json_value},
)


@pytest.fixture(scope="module")
def container():
    """One container for all examples; it reads its settings on the first, under `env`."""
    return new_container()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=kakaoish, as_proxy=st.booleans())
def test_any_kakao_shaped_request_gets_a_valid_answer(env, container, capsys, body, as_proxy):
    capsys.readouterr()
    event = proxy_event(json.dumps(body, ensure_ascii=False), {}) if as_proxy else body
    status, answered = answer(container, event)
    assert status == 200
    assert validate_skill_response(answered) == []
    logged = capsys.readouterr()
    # The handler's catch-all keeps Kakao answered; it must still never be needed.
    assert "unexpected failure" not in logged.out and "Traceback" not in logged.err
