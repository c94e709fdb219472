"""Separate containers, in separate processes, asking for the same new artist at the same
moment: one artist row, no duplicate aliases or relations, no deadlock, every answer valid."""

from __future__ import annotations

import json
import multiprocessing

import boto3
import pymysql
import pytest

from devtools.containers import answer_in_new_process, sealed_extra
from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import kakao_request, proxy_event

from .conftest import TABLE, ask, card_artist, mysql_kwargs, new_container

CONTAINERS = 10


def race(env: dict, event: dict | list[dict]) -> list[tuple]:
    """Each container answers its event (the same one, or one each) at the same instant."""
    events = event if isinstance(event, list) else [event] * CONTAINERS
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(events))
    results = context.Queue()
    processes = [
        context.Process(target=answer_in_new_process, args=(env, each, start, results))
        for each in events
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return answers


def rows(mysql_config, sql: str, *args) -> list[tuple]:
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


@pytest.mark.parametrize(
    ("typed", "tap"),
    [("뉴진스", False), ("BTS", True)],
    ids=["curated alias, first time", "quick-reply tap with an id"],
)
def test_containers_racing_for_one_new_artist(env, spotify, mysql_config, typed, tap):
    tapped = {"artist_id": spotify.artist_id(typed), "artist_name": typed} if tap else None
    extra = sealed_extra(tapped) if tapped else None
    event = proxy_event(
        json.dumps(kakao_request(typed, extra), ensure_ascii=False),
        {"Content-Type": "application/json"},
    )
    spotify.reset_calls()
    answers = race(env, event)

    titles = set()
    for status, body, _, log in answers:
        assert status == 200 and validate_skill_response(body) == []
        titles.add(card_artist(body))
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert any(line["message"] == "skill answered" for line in lines)
        # Ten fresh interpreters on a two-CPU machine: some run out of budget (a valid,
        # partial answer, MySQL skipped as too slow). No error, and no race lost for good: a
        # deadlock retried and won is fine (the same user's note from ten containers at once).
        lost = "mysql lock conflict on every try"
        problems = [line for line in lines if line["level"] == "ERROR" or line["message"] == lost]
        assert problems == [], json.dumps(problems, ensure_ascii=False)
    assert len(titles) == 1
    title = titles.pop()

    by_name = "SELECT id, spotify_id FROM artists WHERE name = %s"
    artists = rows(mysql_config, by_name, title)
    if tap:  # a tap never gives the curated row an id (issue 15): the tapped artist has a
        # row of its own until a search of the curated name finds it, and the rows join
        assert sorted(spotify_id is None for _, spotify_id in artists) == [False, True]
        ask(new_container(), typed)
        artists = rows(mysql_config, by_name, title)
    assert len(artists) == 1, artists
    assert artists[0][1] == spotify.artist_id(title)  # a name search claims the curated row
    assert (
        rows(
            mysql_config,
            "SELECT alias_key FROM aliases GROUP BY alias_key HAVING COUNT(*) > 1",
        )
        == []
    )
    assert (
        rows(
            mysql_config,
            "SELECT artist_id, related_id, source FROM related_artists"
            " GROUP BY artist_id, related_id, source HAVING COUNT(*) > 1",
        )
        == []
    )
    assert (
        rows(
            mysql_config,
            "SELECT spotify_id FROM artists WHERE spotify_id IS NOT NULL"
            " GROUP BY spotify_id HAVING COUNT(*) > 1",
        )
        == []
    )
    # A curated row has no id until a search of its name: co-credited artists found meanwhile
    # have rows of their own (issue 15), but no name has two curated rows.
    names = rows(
        mysql_config,
        "SELECT name_key FROM artists WHERE spotify_id IS NULL"
        " GROUP BY name_key HAVING COUNT(*) > 1",
    )
    assert names == [], "a second curated row for one name"


def test_containers_starting_together_each_answer_and_agree_on_the_lost_endpoints(
    env, spotify, dynamodb_endpoint
):
    names = ["아이유", "뉴진스", "트와이스", "에스파", "아이브", "세븐틴"]
    events = [
        proxy_event(json.dumps(kakao_request(name), ensure_ascii=False), {}) for name in names
    ]
    answers = race(env, events)
    for status, body, _, log in answers:
        assert status == 200 and validate_skill_response(body) == []
        assert component_titles(body)  # a card, and tracks unless the two CPUs ran late
        assert '"level": "ERROR"' not in log
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    for endpoint in ("top-tracks", "related-artists"):
        item = client.get_item(TableName=TABLE, Key={"pk": {"S": f"endpoint#{endpoint}"}})
        assert json.loads(item["Item"]["body"]["S"]) == {"status": 403}


def component_titles(body: dict) -> list[str]:
    outputs = body["template"]["outputs"]
    cards = [o["basicCard"]["title"] for o in outputs if "basicCard" in o]
    lists = [o["listCard"]["header"]["title"] for o in outputs if "listCard" in o]
    return cards + lists if cards else []
