"""Trust: what one caller sends never changes what other users see (issue 15).

Each test plays an attack through `lambda_handler` against real MariaDB, DynamoDB Local and
the Spotify stub, then asks as a victim in a fresh container, which shares nothing with the
attacker's but the store, the cache and Spotify. Honest flows are shown to still work.
"""

from __future__ import annotations

import json
import time

import pymysql
import pytest

from devtools import admin
from devtools.containers import close_containers, new_container, sealed_extra
from devtools.local_gateway import kakao_request

from .conftest import (
    TABLE,
    artist_search_calls,
    ask,
    card_artist,
    dynamodb,
    mysql_kwargs,
    text_of,
)


def ask_as(user: str, utterance: str, extra: dict | None = None, container=None) -> dict:
    """One user's message, in a fresh container unless one is given; the store's
    background notes are written before it returns."""
    container = container or new_container()
    status, body = ask(container, body=kakao_request(utterance, extra, user))
    assert status == 200
    store = container.skill_app().store
    if store is not None:
        store.settled()
    return body


def related_names(body) -> list[str]:
    """The Spotify names of the related artists listed ("• 에미넴 (Eminem) · …")."""
    lines = [line for line in text_of(body).splitlines() if line.startswith("• ")]
    names = [line[2:].split(" · ")[0] for line in lines]
    return [name.rsplit(" (", 1)[-1].rstrip(")") for name in names]


def query(mysql_config, sql: str, *args) -> list[tuple]:
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def cached_keys(endpoint) -> set[str]:
    items = dynamodb(endpoint).scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"] for item in items}


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def start_of_a_minute() -> None:
    """Budgets count per clock minute: start a counted burst early in one."""
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)


# -- forged quick replies ---------------------------------------------------------------------


@pytest.mark.parametrize("store", ["store off (the template's default)", "store on"])
def test_a_forged_extra_is_plain_text_and_teaches_nothing(env, spotify, monkeypatch, store):
    if store.startswith("store off"):
        monkeypatch.delenv("MYSQL_HOST")
    eminem = spotify.artist_id("Eminem")
    forged = {"confirms": "아이유", "artist_id": eminem, "artist_name": "Eminem"}
    for _ in range(3):
        assert card_artist(ask_as("attacker", "아이유", forged)) == "IU"  # read as the text typed
    assert card_artist(ask_as("victim", "아이유")) == "IU"
    assert not any(eminem in key for key in cached_keys(env["AWS_ENDPOINT_URL_DYNAMODB"]))
    assert spotify.calls_to(f"/v1/artists/{eminem}") == 0


def test_a_forged_name_on_a_tap_does_not_choose_the_tracks_everyone_sees(env, spotify):
    iu = spotify.artist_id("IU")
    ask_as("attacker", "아이유", {"artist_id": iu, "artist_name": "Eminem"})
    victim = ask_as("victim", "아이유")
    titles = [item["title"] for item in victim["template"]["outputs"][1]["listCard"]["items"]]
    iu_titles = {t["name"] for a in spotify.catalog["artists"] for album in a["albums"]
                 for t in album["tracks"] if "IU" in t["artists"]}  # fmt: skip
    assert titles and set(titles) <= iu_titles


def test_a_button_from_another_user_or_an_old_one_is_plain_text(env, spotify):
    eminem = spotify.artist_id("Eminem")
    theirs = sealed_extra({"artist_id": eminem, "artist_name": "Eminem"}, user_id="someone")
    assert card_artist(ask_as("attacker", "아이유", theirs)) == "IU"
    mine = sealed_extra({"artist_id": eminem, "artist_name": "Eminem"}, user_id="attacker")
    assert card_artist(ask_as("attacker", "아이유", mine)) == "Eminem"  # their own button works


# -- learning is earned ------------------------------------------------------------------------


def confirm(user: str, typed: str, artist_id: str, name: str) -> dict:
    """A tap on the bot's own "혹시 … 말씀이세요?" button, as that user received it."""
    values = {"artist_id": artist_id, "artist_name": name, "confirms": typed}
    return ask_as(user, name, sealed_extra(values, user_id=user))


def test_one_user_confirming_again_and_again_teaches_nothing(env, spotify, mysql_config):
    iu = spotify.artist_id("IU")
    for _ in range(5):
        assert card_artist(confirm("one-user", "이지금", iu, "IU")) == "IU"
    learned = query(mysql_config, "SELECT alias FROM aliases WHERE alias = '이지금'")
    assert learned == []
    victim = ask_as("victim", "이지금")
    assert "찾지 못했어요" in text_of(victim)
    assert "name#이지금" not in cached_keys(env["AWS_ENDPOINT_URL_DYNAMODB"])


def test_a_name_confirmed_by_three_users_is_learned_and_never_replaces_one_known(
    env, spotify, mysql_config
):
    iu, eminem = spotify.artist_id("IU"), spotify.artist_id("Eminem")
    for user in ("fan-1", "fan-2", "fan-3"):
        confirm(user, "이지금", iu, "IU")
        confirm(user, "아이유", eminem, "Eminem")  # three users, and still IU is IU
    assert card_artist(ask_as("victim", "이지금")) == "IU"
    assert card_artist(ask_as("victim", "아이유")) == "IU"
    owners = query(
        mysql_config,
        "SELECT al.alias, a.name FROM aliases al JOIN artists a ON a.id = al.artist_id"
        " WHERE al.alias IN ('이지금', '아이유') ORDER BY al.alias",
    )
    assert owners == [("아이유", "IU"), ("이지금", "IU")]


def test_the_store_decides_names_it_holds_whatever_the_cache_says(env, spotify):
    eminem = spotify.artist_id("Eminem")
    for key in ("name#아이유", "name#iu"):  # as an older release could write
        dynamodb(env["AWS_ENDPOINT_URL_DYNAMODB"]).put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": key},
                "body": {"S": json.dumps({"id": eminem})},
                "expires_at": {"N": str(int(time.time()) + 3600)},
            },
        )
    assert card_artist(ask_as("victim", "아이유")) == "IU"


def curated_row_of(mysql_config, alias: str) -> list[tuple]:
    return query(
        mysql_config,
        "SELECT a.name, a.spotify_id FROM aliases al JOIN artists a ON a.id = al.artist_id"
        " WHERE al.alias = %s AND al.source = 'curated'",
        alias,
    )


def test_a_namesake_tapped_never_takes_the_curated_row(env, spotify, mysql_config):
    lisa_jpop = spotify.artist_id("LiSA")
    tap = sealed_extra({"artist_id": lisa_jpop, "artist_name": "LiSA"}, user_id="fan")
    assert card_artist(ask_as("fan", "LiSA", tap)) == "LiSA"
    assert curated_row_of(mysql_config, "리사") == [("LISA", None)]
    assert card_artist(ask_as("victim", "리사")) == "LISA"  # BLACKPINK's
    assert curated_row_of(mysql_config, "리사") == [("LISA", spotify.artist_id("LISA"))]
    rows = query(mysql_config, "SELECT name FROM artists WHERE spotify_id = %s", lisa_jpop)
    assert rows == [("LiSA",)]  # a row of its own


def test_a_co_credited_artist_joins_its_curated_row_when_a_search_finds_it(
    env, spotify, mysql_config
):
    rose = spotify.artist_id("ROSÉ")
    ask_as("fan", "Bruno Mars")  # "APT." credits ROSÉ: she gets a row before the curated one
    assert query(mysql_config, "SELECT COUNT(*) FROM artists WHERE spotify_id = %s", rose) == [(1,)]
    assert curated_row_of(mysql_config, "로제") == [("ROSÉ", None)]
    assert card_artist(ask_as("fan", "로제")) == "ROSÉ"
    assert curated_row_of(mysql_config, "로제") == [("ROSÉ", rose)]  # the same one row
    assert query(mysql_config, "SELECT COUNT(*) FROM artists WHERE spotify_id = %s", rose) == [(1,)]
    relations = query(
        mysql_config,
        "SELECT b.name FROM related_artists r JOIN artists a ON a.id = r.artist_id"
        " JOIN artists b ON b.id = r.related_id WHERE a.spotify_id = %s",
        rose,
    )
    assert ("Bruno Mars",) in relations  # what the co-credit row knew moved with it


def test_a_pinned_id_settles_a_shared_name_without_a_search(env, spotify, tmp_path):
    skill = new_container()
    pinned = tmp_path / "pinned.csv"
    lisa = spotify.artist_id("LISA")
    pinned.write_text(f"name,aliases,tags,spotify_id\nLISA,리사|라리사,type:solo,{lisa}\n")
    assert admin.main(["load-artists", str(pinned)], skill) == 0
    spotify.add_fault("status", path_prefix="/v1/search", status=503)  # no search can help
    assert card_artist(ask_as("victim", "라리사")) == "LISA"
    assert artist_search_calls(spotify) == 0


# -- "users also asked" ------------------------------------------------------------------------


def co_ask(user: str, first: str, then: str, container=None) -> None:
    ask_as(user, first, container=container)
    ask_as(user, then, container=container)


def test_two_accounts_cannot_make_a_co_ask(env):
    for user in ("account-1", "account-2"):
        co_ask(user, "아이유", "에미넴")
    assert "Eminem" not in related_names(ask_as("victim", "아이유"))


def test_many_real_users_make_a_co_ask(env):
    for n in range(4):
        co_ask(f"user-{n}", "아이유", "에미넴")
    victim = ask_as("victim", "아이유")
    assert "Eminem" in related_names(victim)
    assert "Eminem) · 이 아티스트를 찾은 사람들이 함께 찾음" in text_of(victim)


def test_a_crowd_of_invented_users_does_not_drown_a_real_co_ask(env):
    for n in range(3):
        co_ask(f"real-{n}", "아이유", "에미넴")
    crowd = new_container()
    for n in range(40):
        co_ask(f"invented-{n}", "아이유", "리한나", container=crowd)
    close_containers()
    assert "Eminem" in related_names(ask_as("victim", "아이유"))


def test_one_user_counts_a_limited_number_of_co_asks_a_day(env, spotify, mysql_config):
    container = new_container()
    names = [a["name"] for a in spotify.catalog["artists"]][:30]
    for name in names:
        ask_as("busy-user", name, container=container)
    counted = query(mysql_config, "SELECT COUNT(*) FROM co_asks")[0][0]
    assert counted == container.CO_ASK_USER_DAILY_CAP < len(names) - 1


# -- what a caller can spend -------------------------------------------------------------------

UNKNOWN = ["쀍뛝", "퀣퉳", "뷁뚫", "쒧뛣", "퓛쀏", "뛣뷃"]


def test_one_user_cannot_spend_the_spotify_quota(env, spotify, monkeypatch):
    monkeypatch.setenv("USER_REQUESTS_PER_MINUTE", "3")
    start_of_a_minute()
    spotify.reset_calls()
    answers = [ask_as("greedy", name) for name in UNKNOWN]  # each in a new container
    assert spotify.api_calls() == 3 * 2  # three requests, an artist and a song search each
    assert all("1분쯤 뒤에" in text_of(body) for body in answers[3:])
    assert card_artist(ask_as("someone-else", "아이유")) == "IU"
    assert card_artist(ask_as("greedy", "아이유")) == "IU"  # known answers cost nothing


def test_the_bot_has_a_budget_for_all_users_together(env, spotify, monkeypatch):
    monkeypatch.setenv("SPOTIFY_REQUESTS_PER_MINUTE", "2")
    start_of_a_minute()
    spotify.reset_calls()
    answers = [ask_as(f"user-{n}", name) for n, name in enumerate(UNKNOWN[:4])]
    assert spotify.api_calls() == 2 * 2
    assert ["1분쯤 뒤에" in text_of(body) for body in answers] == [False, False, True, True]


def test_without_dynamodb_a_container_counts_its_own_budget(env, spotify, monkeypatch):
    monkeypatch.delenv("DYNAMODB_TABLE")
    monkeypatch.setenv("USER_REQUESTS_PER_MINUTE", "2")
    start_of_a_minute()
    container = new_container()
    answers = [ask_as("greedy", name, container=container) for name in UNKNOWN[:3]]
    assert "1분쯤 뒤에" in text_of(answers[2])


def test_a_forged_id_costs_no_call_and_a_gone_one_costs_one(env, spotify):
    made_up = "0" * 22
    for _ in range(20):
        ask_as("attacker", "아이유", {"artist_id": made_up, "artist_name": "아이유"})
    assert spotify.calls_to(f"/v1/artists/{made_up}") == 0
    for _ in range(20):  # an artist Spotify took down, on a button the bot once sent
        tap = sealed_extra({"artist_id": made_up, "artist_name": "아이유"}, user_id="fan")
        assert card_artist(ask_as("fan", "아이유", tap)) == "IU"
    assert spotify.calls_to(f"/v1/artists/{made_up}") == 1


def test_a_huge_retry_after_is_honoured_up_to_a_cap_then_one_probe_decides(env, spotify):
    spotify.add_fault("status", path_prefix="/v1/search", count=1, status=429, retry_after=99999999)
    container = new_container()
    busy = ask_as("user", "에미넴", container=container)
    assert "잠시 뒤에" in text_of(busy)
    gateway = container.skill_app().spotify
    waits = gateway.blocked_until - time.time()
    assert 15 * 60 - 5 < waits <= 15 * 60
    calls = spotify.api_calls()
    assert "잠시 뒤에" in text_of(ask_as("user", "에미넴", container=container))
    assert spotify.api_calls() == calls  # waiting: no call
    gateway.blocked_until = time.time() - 1  # as if the cap's 15 minutes had passed
    assert card_artist(ask_as("user", "에미넴", container=container)) == "Eminem"
    assert gateway.blocked_until == 0.0  # the probe got through: calls flow again


# -- bad input is a bad input ------------------------------------------------------------------


def test_a_name_that_grows_past_dynamodbs_key_limit_is_not_an_outage(env, spotify, capsys):
    container = new_container()
    grows = "\ufdfa" * 100  # one character, eighteen letters once normalised
    body = ask_as("user", grows, container=container)
    assert "찾지 못했어요" in text_of(body)
    assert spotify.api_calls() == 0
    ask_as("user", "아이유", container=container)
    logged = log_lines(capsys)
    assert not [
        line for line in logged if line["level"] != "INFO" and "SKILL" not in line["message"]
    ]
    answered = [line for line in logged if line["message"] == "skill answered"]
    assert answered[-1]["dynamodb_calls"] >= 1


def test_dynamodb_refusing_a_request_as_invalid_leaves_it_up(env, capsys):
    skill = new_container()
    skill.configure_logging("INFO")
    cache = skill.DynamoCache(TABLE)
    too_long = "name#" + "가" * 1000  # 3,005 bytes: over the 2,048 a key may have
    cache.put_many([(too_long, {}, time.time() + 60)], skill.Trace(), skill.Deadline(3000))
    assert not cache.health.down
    logged = log_lines(capsys)
    assert logged[-1]["message"] == "dynamodb refused the request as invalid"


def test_planted_long_aliases_cannot_keep_the_store_busy(env, mysql_config, capsys):
    """The misspelling search compares a name nobody knows with every alias of about its
    length: planted long ones must not hold the store's one thread for seconds."""
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO artists (name, name_key) VALUES ('planted', 'planted')")
        row = cursor.lastrowid
        planted = [f"{n:05d}" + "ab" * 47 for n in range(3000)]  # 99 letters
        planted += [f"{n:05d}" + "cd" * 12 for n in range(3000)]  # 29 letters
        cursor.executemany(
            "INSERT INTO aliases (alias_key, alias, artist_id, source) VALUES (%s, %s, %s, 'x')",
            [(key, key, row) for key in planted],
        )
    container = new_container()
    ask_as("user", "아이유", container=container)  # a cold start warns of the open endpoint
    capsys.readouterr()
    for unknown in ("qwzx" * 25, "qwzx" * 7 + "q"):  # 100 and 29 letters nobody knows
        assert "찾지 못했어요" in text_of(ask_as("user", unknown, container=container))
    assert not container.skill_app().store.health.down
    problems = [line for line in log_lines(capsys) if line["level"] != "INFO"]
    assert problems == [], problems


# -- privacy and logs --------------------------------------------------------------------------


def test_a_huge_surface_is_logged_in_part(env, capsys):
    body = kakao_request("아이유", None, "user")
    body["userRequest"]["params"]["surface"] = "x" * 1_500_000
    ask(new_container(), body=body)
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) < 10_000


def test_old_asks_and_votes_are_deleted(env, spotify, mysql_config):
    ask_as("old-user", "아이유")
    iu_row = query(mysql_config, "SELECT id FROM artists WHERE spotify_id = %s",
                   spotify.artist_id("IU"))[0][0]  # fmt: skip
    with pymysql.connect(**mysql_kwargs(mysql_config)) as conn, conn.cursor() as cursor:
        old = "CURRENT_TIMESTAMP - INTERVAL 100 DAY"
        cursor.execute(f"UPDATE recent_asks SET asked_at = {old}")
        cursor.execute(
            f"INSERT INTO co_asks VALUES ({iu_row}, {iu_row}, 'old-user-key-123', {old})"
        )
        cursor.execute(f"INSERT INTO alias_votes VALUES ('x', 'y', 'old-user-key-123', {old})")
    ask_as("new-user", "아이유")
    assert query(mysql_config, "SELECT COUNT(*) FROM co_asks") == [(0,)]
    assert query(mysql_config, "SELECT COUNT(*) FROM alias_votes") == [(0,)]
    assert query(mysql_config, "SELECT COUNT(*) FROM recent_asks") == [(1,)]  # the new one


def test_without_skill_api_key_every_cold_start_warns(env, monkeypatch, capsys):
    ask(new_container(), "아이유")
    warnings = [line for line in log_lines(capsys) if "SKILL_API_KEY" in line["message"]]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING"
    monkeypatch.setenv("SKILL_API_KEY", "s3cret")
    ask(new_container(), "아이유", headers={"x-api-key": "s3cret"})
    assert not [line for line in log_lines(capsys) if "SKILL_API_KEY" in line["message"]]
