"""Spotify as it really behaves (issue 16): each test switches on the stub's realistic
behaviours it needs (devtools/spotify_stub.py cites the source of each) and shows the bot
survives them."""

from __future__ import annotations

import json

import pymysql

from devtools import admin
from devtools.containers import sealed_extra

from .conftest import (
    TABLE,
    artist_search_calls,
    ask,
    card_artist,
    clear_table,
    component,
    dynamodb,
    mysql_kwargs,
    new_container,
    text_of,
)


def titles(body) -> list[str]:
    listed = component(body, "listCard")
    return [item["title"] for item in listed["items"]] if listed else []


def cached(env, key: str):
    item = dynamodb(env["AWS_ENDPOINT_URL_DYNAMODB"]).get_item(
        TableName=TABLE, Key={"pk": {"S": key}}
    )
    return json.loads(item["Item"]["body"]["S"]) if "Item" in item else None


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def test_an_artist_taken_down_is_not_found_and_soon_costs_nothing(env, spotify, mysql_config):
    spotify.behaviours = {"taken_down", "not_found"}
    iu = spotify.artist_id("IU")
    assert card_artist(ask(new_container(), "아이유")[1]) == "IU"  # learned: store and cache
    spotify.take_down("IU")
    clear_table(env["AWS_ENDPOINT_URL_DYNAMODB"], "artist#")  # the cached parts expired
    spotify.reset_calls()
    for most_calls in (3, 1, 0):
        body = ask(new_container(), "아이유")[1]
        assert "찾지 못했어요" in text_of(body)  # not "지금은 … 어려워요" again and again
        assert spotify.api_calls() <= most_calls
        spotify.reset_calls()
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM artists WHERE spotify_id = %s", (iu,))
        assert cursor.fetchone() == (0,)  # the id is forgotten; the curated names stay
        cursor.execute("SELECT COUNT(*) FROM aliases WHERE alias = '아이유'")
        assert cursor.fetchone() == (1,)


def test_a_stale_id_does_not_make_an_endpoint_look_lost(env, spotify):
    spotify.mode = "extended"
    spotify.behaviours = {"not_found"}
    stale = sealed_extra({"artist_id": "1" * 22, "artist_name": "아이유"})
    assert card_artist(ask(new_container(), "아이유", extra=stale)[1]) == "IU"  # by its name
    assert cached(env, "endpoint#top-tracks") == {"status": 200}  # the 404 did not count
    assert card_artist(ask(new_container(), "아이유", extra=stale)[1]) == "IU"
    assert cached(env, "endpoint#top-tracks") == {"status": 200}  # nor overwrote "works"
    assert "인기곡" in component(ask(new_container(), "BTS")[1], "listCard")["header"]["title"]


def test_a_lost_endpoint_answering_429_runs_the_fallback_and_blocks_nothing_else(env, spotify):
    spotify.mode = "extended"
    bts = spotify.artist_id("BTS")
    # Development mode answers some endpoints it took away with 429 (Spotty-Plugin#213).
    spotify.add_fault(
        "status", path_prefix=f"/v1/artists/{bts}/top-tracks", status=429, retry_after=11
    )
    container = new_container()
    body = ask(container, "BTS")[1]
    assert card_artist(body) == "BTS" and titles(body)  # tracks from the search instead
    assert card_artist(ask(container, "아이유")[1]) == "IU"  # no breaker opened


def test_a_namesake_without_a_picture_does_not_take_the_artists_place(env, spotify):
    spotify.behaviours = {"namesakes"}
    spotify.add_namesake("IU", ["Not IU's Song"], popularity=99)  # listed first
    body = ask(new_container(), "아이유")[1]
    assert body["data"]["artist_id"] == spotify.artist_id("IU")
    assert "Not IU's Song" not in titles(body)


def test_tracks_that_cannot_play_in_the_market_are_not_listed(env, spotify):
    spotify.mode = "extended"  # top tracks mark them is_playable: false
    spotify.behaviours = {"unplayable"}
    spotify.restrict("Celebrity", "KR")
    body = ask(new_container(), "아이유")[1]
    assert titles(body) and "Celebrity" not in titles(body)


def test_the_same_song_is_kept_once_whatever_its_versions(env, spotify):
    spotify.mode = "extended"
    spotify.behaviours = {"versions"}
    assert titles(ask(new_container(), "콜드플레이")[1])
    kept = [
        track["name"] for track in cached(env, f"artist#{spotify.artist_id('Coldplay')}")["tracks"]
    ]
    bases = [title.split(" - ")[0].split(" (")[0].casefold() for title in kept]
    assert len(bases) == len(set(bases)) and "viva la vida" in bases, kept


def test_long_names_stay_within_spotifys_query_length(env, spotify):
    spotify.behaviours = {"query_length"}
    skill = new_container()
    gateway = skill.SpotifyGateway(skill.Settings.from_env())
    artist = {"id": spotify.artist_id("IU"), "name": "IU " + "x" * 120}
    assert gateway.search_tracks(artist, skill.Deadline(3000), skill.Trace()) == []
    assert all(len(call["params"]["q"]) <= 100 for call in spotify.calls if "q" in call["params"])


def test_the_token_endpoint_down_is_an_outage_that_waits_not_bad_credentials(env, spotify, capsys):
    spotify.add_fault("html", path_prefix="/api/token", status=503)
    container = new_container()
    assert "잠시 뒤에" in text_of(ask(container, "에미넴")[1])
    logged = log_lines(capsys)
    assert not [line for line in logged if "client id/secret" in line["message"]]
    assert max(len(json.dumps(line, ensure_ascii=False)) for line in logged) < 2000
    spotify.clear_faults()
    calls = spotify.token_calls()
    assert "잠시 뒤에" in text_of(ask(container, "에미넴")[1])
    assert spotify.token_calls() == calls  # it waits before asking again


def test_a_name_spotify_uses_that_is_one_of_the_curated_names_joins_that_row(
    env, spotify, mysql_config, tmp_path
):
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM artists WHERE name_key = 'iu'")
    curated = tmp_path / "renamed.csv"
    curated.write_text("name,aliases,tags\n아이유,IU|이지은,type:solo\n", encoding="utf-8")
    assert admin.main(["load-artists", str(curated)], new_container()) == 0
    assert card_artist(ask(new_container(), "아이유")[1]) == "IU"  # Spotify's name for her
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT name FROM artists WHERE spotify_id = %s", (spotify.artist_id("IU"),))
        assert cursor.fetchall() == (("아이유",),)  # one artist, one row: the curated one
    spotify.reset_calls()
    ask(new_container(), "아이유")
    assert artist_search_calls(spotify) == 0
