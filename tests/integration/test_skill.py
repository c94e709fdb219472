"""The skill end to end: API Gateway events through lambda_handler, with real MariaDB,
DynamoDB Local and the Spotify-compatible stub, in both Spotify app modes."""

from __future__ import annotations

import json
import time

import pymysql
import pytest

from devtools import admin
from devtools.containers import sealed_extra
from devtools.local_gateway import LambdaContext, kakao_request, proxy_event

from .conftest import (
    TABLE,
    artist_search_calls,
    ask,
    card_artist,
    component,
    dynamodb,
    mysql_kwargs,
    new_container,
    text_of,
)


def spotify_calls(stub) -> int:
    return stub.api_calls() + stub.token_calls()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("아이유", "IU"), ("BTS", "BTS"), ("블랙핑크", "BLACKPINK"), ("Lady Gaga", "Lady Gaga")],
)
def test_catalog_artists_get_a_card_tracks_and_related_artists(mode, typed, expected):
    status, body = ask(new_container(), typed)
    assert status == 200
    card = component(body, "basicCard")
    assert card_artist(body) == expected
    assert card["buttons"][0]["webLinkUrl"].startswith("https://open.spotify.com/artist/")
    assert "Spotify" in card["description"]
    tracks = component(body, "listCard")["items"]
    assert len(tracks) >= 3
    assert all(item["link"]["web"].startswith("https://open.spotify.com/track/") for item in tracks)
    related = body["template"]["quickReplies"]
    assert len(related) >= 1
    for reply in related:  # a tap sends the name; a known Spotify id rides along as `extra`
        if "extra" in reply:
            assert reply["messageText"] == reply["extra"]["artist_name"]
            assert reply["action"] == "block" and reply["blockId"] == "local-block"
        assert reply["label"].rstrip("…") in reply["messageText"]


def test_group_parameter_from_openbuilder_is_used(env):
    request = kakao_request("오마이걸 알려줘")
    request["action"]["params"] = {"group": "오마이걸"}
    status, body = ask(new_container(), body=request)
    assert (status, card_artist(body)) == (200, "OH MY GIRL")


def test_tracks_fall_back_to_search_in_development_mode(env, spotify):
    spotify.mode = "extended"
    status, body = ask(new_container(), "BTS")
    assert component(body, "listCard")["header"]["title"] == "방탄소년단 (BTS)의 인기곡"
    spotify.mode = "development-2026"
    status, body = ask(new_container(), "IU")
    header = component(body, "listCard")["header"]["title"]
    assert header == "아이유 (IU)의 대표곡"  # searched, not Spotify's popularity ranking


def test_an_alias_costs_spotify_calls_only_the_first_time(mode, spotify):
    container = new_container()
    ask(container, "에미넴")  # curated alias: Spotify does not know the Hangul spelling
    first = spotify_calls(spotify)
    assert first >= 1
    status, body = ask(container, "에미넴")
    assert card_artist(body) == "Eminem"
    assert spotify_calls(spotify) == first
    status, body = ask(new_container(), "에 미 넴")  # another container, spacing folded
    assert card_artist(body) == "Eminem"
    assert spotify_calls(spotify) == first


def test_a_name_learned_from_spotify_is_stored_as_an_alias(env, spotify, mysql_config):
    ask(new_container(), "뉴진스")
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT a.name, a.spotify_id FROM aliases al JOIN artists a ON a.id = al.artist_id"
            " WHERE al.alias_key = %s",
            ("뉴진스",),
        )
        name, spotify_id = cursor.fetchone()
    assert (name, spotify_id) == ("NewJeans", spotify.artist_id("NewJeans"))


def test_a_new_container_answers_a_known_artist_with_zero_spotify_calls(mode, spotify):
    status, first = ask(new_container(), "아이유")
    before = spotify_calls(spotify)
    status, second = ask(new_container(), "아이유")
    assert spotify_calls(spotify) == before
    assert component(second, "basicCard") == component(first, "basicCard")
    assert component(second, "listCard") == component(first, "listCard")


def test_mysql_alone_resolves_names_for_a_new_container(env, spotify, monkeypatch):
    ask(new_container(), "아이유")
    monkeypatch.delenv("DYNAMODB_TABLE")
    spotify.reset_calls()
    status, body = ask(new_container(), "아이유")
    assert card_artist(body) == "IU"
    assert artist_search_calls(spotify) == 0  # the alias row carries the Spotify id


def test_a_quick_reply_tap_needs_no_search(mode, spotify):
    container = new_container()
    status, body = ask(container, "BTS")
    tap = next(reply for reply in body["template"]["quickReplies"] if "extra" in reply)
    spotify.reset_calls()
    status, body = ask(new_container(), tap["messageText"], extra=tap["extra"])
    assert tap["extra"]["artist_name"] in component(body, "basicCard")["title"]
    assert artist_search_calls(spotify) == 0


def test_an_unknown_name_gets_a_friendly_answer_and_is_remembered(mode, spotify):
    status, body = ask(new_container(), "qqzzxxvv")
    assert status == 200
    assert "찾지 못했어요" in text_of(body)
    assert body["template"]["quickReplies"]  # examples to tap
    calls = spotify_calls(spotify)
    ask(new_container(), "qqzzxxvv")  # remembered as searched: no artist, no song
    assert spotify_calls(spotify) == calls


def test_development_mode_asks_a_removed_endpoint_only_once(env, spotify):
    def top_tracks_calls():
        return sum(1 for call in spotify.calls if call["path"].endswith("/top-tracks"))

    ask(new_container(), "IU")
    assert top_tracks_calls() == 1
    ask(new_container(), "BTS")  # another artist, another container: DynamoDB remembers
    assert top_tracks_calls() == 1
    assert not any(call["path"].endswith("/related-artists") for call in spotify.calls[-3:])


def test_related_artists_come_from_the_bots_own_data_in_development_mode(env, spotify):
    status, body = ask(new_container(), "BLACKPINK")
    names = [reply["extra"]["artist_id"] for reply in body["template"]["quickReplies"]
             if "extra" in reply]  # fmt: skip
    credited = [spotify.artist_id(name) for name in ("Lady Gaga", "Selena Gomez", "Dua Lipa")]
    assert set(credited) & set(names)
    text = text_of(body)
    assert "함께 작업" in text
    # Co-credits were stored, so the collaborator now knows BLACKPINK too.
    status, body = ask(new_container(), "Lady Gaga")
    taps = [r["extra"]["artist_id"] for r in body["template"]["quickReplies"] if "extra" in r]
    assert spotify.artist_id("BLACKPINK") in taps


def test_tags_from_the_starter_file_appear_on_the_card(env):
    status, body = ask(new_container(), "아이유")
    assert "#솔로" in component(body, "basicCard")["description"]


def test_answers_survive_mysql_and_dynamodb_being_unreachable(env, monkeypatch, spotify):
    from devtools.services import free_port

    monkeypatch.setenv("MYSQL_HOST", "127.0.0.1")
    monkeypatch.setenv("MYSQL_PORT", str(free_port()))
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    container = new_container()
    started = time.monotonic()
    status, body = ask(container, "IU")
    assert time.monotonic() - started < 3.5
    assert card_artist(body) == "IU"
    assert len(component(body, "listCard")["items"]) >= 3
    assert body["template"]["quickReplies"]  # co-credits on the tracks at hand


def test_without_mysql_and_dynamodb_configured_the_bot_still_answers(env, monkeypatch):
    monkeypatch.delenv("MYSQL_HOST")
    monkeypatch.delenv("DYNAMODB_TABLE")
    status, body = ask(new_container(), "아이유")
    assert card_artist(body) == "IU"


def test_missing_spotify_credentials_give_a_polite_not_configured_answer(env, monkeypatch, capsys):
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    status, body = ask(new_container(), "아이유")
    assert status == 200
    assert "설정되지 않았어요" in text_of(body)
    assert "SPOTIFY_CLIENT_SECRET are not set" in capsys.readouterr().out


def test_the_api_key_is_required_when_configured(env, monkeypatch):
    monkeypatch.setenv("SKILL_API_KEY", "k3y-value")
    container = new_container()
    status, body = ask(container, "IU")
    assert status == 401 and "x-api-key" in body["error"]
    status, body = ask(container, "IU", headers={"X-API-KEY": "k3y-value"})
    assert status == 200


@pytest.mark.parametrize("body", ["[]", '{"hello": "world"}', "not json", '"text"'])
def test_requests_that_are_not_kakao_get_400(env, body):
    event = proxy_event(body, {})
    response = new_container().lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 400
    assert "error" in json.loads(response["body"])


def test_every_event_shape_gets_the_same_answer(env):
    container = new_container()
    text = json.dumps(kakao_request("IU"))
    shapes = [
        proxy_event(text, {}),
        {"version": "2.0", "routeKey": "POST /skill", "headers": {}, "body": text},
        {"version": "2.0", "routeKey": "$default", "body": text, "isBase64Encoded": False},
        kakao_request("IU"),
    ]
    titles = {
        json.loads(container.lambda_handler(event, None)["body"])["template"]["outputs"][0][
            "basicCard"
        ]["title"]
        for event in shapes
    }
    assert titles == {"아이유 (IU)"}


def test_a_spotify_rate_limit_answers_politely_and_stops_calling(env, spotify):
    spotify.add_fault("status", status=429, retry_after=3600, reason="QUOTA_EXCEEDED")
    container = new_container()
    status, body = ask(container, "아이유")
    assert status == 200 and "잠시 뒤에" in text_of(body)
    calls = spotify_calls(spotify)
    status, body = ask(container, "태연")
    assert status == 200 and spotify_calls(spotify) == calls


def test_a_container_that_met_a_rate_limit_answers_from_the_caches_until_its_end(env, spotify):
    status, body = ask(new_container(), "아이유")  # cached before the limit
    assert card_artist(body) == "IU"
    spotify.add_fault("status", status=429, retry_after=3600, reason="QUOTA_EXCEEDED")
    limited = new_container()
    status, body = ask(limited, "Coldplay")
    assert status == 200 and "잠시 뒤에" in text_of(body)
    spotify.clear_faults()  # Spotify would answer now; this container waits as it was told
    spotify.reset_calls()
    status, body = ask(limited, "Dua Lipa")
    assert status == 200 and "잠시 뒤에" in text_of(body)
    status, body = ask(limited, "아이유")
    assert card_artist(body) == "IU"
    assert spotify_calls(spotify) == 0


def test_premium_required_is_logged_for_the_operator_as_exactly_that(env, spotify, capsys):
    spotify.add_fault("status", status=403, premium=True)
    status, body = ask(new_container(), "아이유")
    assert status == 200 and "잠시 뒤에" in text_of(body)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    premium = [line for line in lines if "Premium" in line["message"]]
    assert premium and premium[0]["level"] == "ERROR" and premium[0]["status"] == 403


def test_an_expired_token_is_refreshed_once_and_the_answer_is_whole(env, spotify):
    container = new_container()
    ask(container, "아이유")
    spotify.add_fault("expired_token", count=1)
    spotify.reset_calls()
    status, body = ask(container, "뉴진스")
    assert card_artist(body) == "NewJeans"
    assert spotify.token_calls() == 1


def test_when_tracks_run_late_the_card_comes_alone_with_a_polite_note(env, spotify, monkeypatch):
    monkeypatch.setenv("ANSWER_BUDGET_MS", "1200")
    spotify.mode = "extended"
    bts = spotify.artist_id("BTS")
    spotify.add_fault("hang", path_prefix=f"/v1/artists/{bts}/top-tracks", seconds=5)
    container = new_container()  # the import is not the request's: Lambda's INIT is apart
    started = time.monotonic()
    status, body = ask(
        container, "BTS", extra=sealed_extra({"artist_id": bts, "artist_name": "BTS"})
    )
    assert time.monotonic() - started < 1.2 + 0.3
    assert card_artist(body) == "BTS"
    assert component(body, "listCard") is None
    assert "곡 정보를 불러오지 못했어요" in text_of(body)


def test_a_slow_spotify_still_gets_an_answer_inside_the_budget(env, spotify, monkeypatch):
    monkeypatch.setenv("ANSWER_BUDGET_MS", "1500")
    container = new_container()
    ask(container, "IU")  # the artist is known now; its tracks will be asked again below
    clear = dynamodb(env["AWS_ENDPOINT_URL_DYNAMODB"])
    clear.delete_item(TableName=TABLE, Key={"pk": {"S": f"artist#{spotify.artist_id('IU')}"}})
    spotify.add_fault("hang", path_prefix="/v1/search", seconds=5)
    container = new_container()  # the import is not the request's: Lambda's INIT is apart
    started = time.monotonic()
    status, body = ask(container, "IU")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.3
    assert status == 200
    assert component(body, "basicCard") is not None or "잠시 뒤에" in text_of(body)


def test_one_structured_log_line_per_request_without_secrets(env, capsys):
    container = new_container()
    ask(container, "아이유")
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    answered = [line for line in lines if line["message"] == "skill answered"]
    assert len(answered) == 1
    line = answered[0]
    assert line["query"] == "아이유" and line["outcome"] == "artist"
    assert line["request_id"] and line["spotify_calls"] and "resolve" in line["stages_ms"]
    assert line["layers"]["name"] in ("mysql", "spotify")
    assert "SpotifyCalls" in line and "_aws" in line  # CloudWatch embedded metrics
    everything = json.dumps(lines)
    for secret in (env["SPOTIFY_CLIENT_SECRET"], "Bearer", "local-user"):
        assert secret not in everything


def test_init_db_and_loading_artists_are_idempotent(env, mysql_config, capsys):
    container = new_container()
    assert admin.main(["init-db"], container) == 0
    assert admin.main(["init-db"], container) == 0
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM artists")
        artists = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM aliases")
        aliases = cursor.fetchone()[0]
        assert admin.main(["load-artists", "data/artists.csv"], container) == 0
        cursor.execute("SELECT COUNT(*) FROM artists")
        assert cursor.fetchone()[0] == artists
        cursor.execute("SELECT COUNT(*) FROM aliases")
        assert cursor.fetchone()[0] == aliases
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
            " AND table_collation = 'utf8mb4_bin'"
        )
        assert cursor.fetchone()[0] == len(container.schema_statements())
    ttl = dynamodb(env["AWS_ENDPOINT_URL_DYNAMODB"]).describe_time_to_live(TableName=TABLE)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_load_artists_reports_rejected_rows_and_keeps_the_good_ones(env, tmp_path, capsys):
    csv_file = tmp_path / "artists.csv"
    csv_file.write_text(
        "name,aliases,tags\n"
        "새 가수,새가수별명,genre:k-pop|type:solo\n"
        ",빈이름,genre:k-pop\n"
        "나쁜 태그,,Genre K-POP\n"
        "다른 가수,새가수별명,\n",
        encoding="utf-8",
    )
    assert admin.main(["load-artists", str(csv_file)], new_container()) == 1
    out = capsys.readouterr().out
    assert "loaded 1 rows" in out
    assert "line 3: name is empty" in out
    assert "line 4: malformed tag" in out
    assert "line 5: alias '새가수별명' already belongs to '새 가수'" in out


def test_injection_strings_are_matched_literally(env, mysql_config):
    hostile = "'; DROP TABLE artists; --"
    status, body = ask(new_container(), hostile)
    assert status == 200 and "찾지 못했어요" in text_of(body)
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM artists")
        assert cursor.fetchone()[0] > 100


def test_an_extended_app_remembers_its_endpoints_work_and_keeps_top_tracks(env, spotify):
    spotify.mode = "extended"
    status, body = ask(new_container(), "BTS")
    assert component(body, "listCard")["header"]["title"].endswith("인기곡")
    stored = dynamodb(env["AWS_ENDPOINT_URL_DYNAMODB"]).get_item(
        TableName=TABLE, Key={"pk": {"S": "endpoint#top-tracks"}}
    )["Item"]
    assert json.loads(stored["body"]["S"]) == {"status": 200}
    spotify.reset_calls()
    status, body = ask(new_container(), "아이유")
    assert component(body, "listCard")["header"]["title"].endswith("인기곡")
    assert [c for c in spotify.calls if "top-tracks" in c["path"]]
