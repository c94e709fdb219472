"""What KakaoTalk users actually type, and the requests OpenBuilder actually sends, answered
end to end against MariaDB, DynamoDB Local and the Spotify stub in development-2026 mode."""

from __future__ import annotations

import csv
import json

import boto3
import pytest

from devtools import admin
from devtools.containers import sealed_extra
from devtools.local_gateway import kakao_request
from tests.corpus.utterances import CORPUS

from .conftest import TABLE, ask, component, new_container, text_of

SHARE_RIGHT = 0.9  # of each category


def spotify_calls(stub) -> int:
    return stub.api_calls() + stub.token_calls()


def first_output(body: dict) -> str:
    return next(iter(body["template"]["outputs"][0]))


def card_title(body: dict) -> str:
    card = component(body, "basicCard") or component(body, "textCard") or {}
    return card.get("title", "")


def is_right(body: dict, expected: tuple) -> bool:
    """Does the answer give what the entry expects (see tests/corpus/utterances.py)?"""
    kind, *what = expected
    text = text_of(body)
    if kind in ("help", "chat"):
        marker = "안녕하세요" if kind == "help" else "음악 이야기를 해 볼까요"
        return text.startswith(marker)
    if kind == "song":
        title, artist = what
        return (
            f"'{title}'" in text
            and artist in card_title(body)
            and first_output(body) == "simpleText"
        )
    artist = what[0]
    first = {
        "artist": ("basicCard", "textCard"),
        "songs": ("listCard",),
        "similar": ("simpleText",),
    }
    return artist in card_title(body) and first_output(body) in first[kind]


def test_everyday_utterances_get_the_answer_they_ask_for(env, spotify, capsys):
    container = new_container()
    report, wrong = [], []
    for category, entries in CORPUS.items():
        right = 0
        for utterance, expected in entries:
            spotify.reset_calls()
            status, body = ask(container, utterance)
            if expected[0] in ("help", "chat"):  # greetings and chat never cost a Spotify call
                assert spotify_calls(spotify) == 0, utterance
            if status == 200 and is_right(body, expected):
                right += 1
            else:
                wrong.append((category, utterance, card_title(body), text_of(body)[:60]))
        report.append((category, right, len(entries)))
    with capsys.disabled():
        print("\nUnderstanding corpus (right / asked):")
        for category, right, total in report:
            print(f"  {category:<24} {right:>3} / {total:<3} {100 * right / total:5.1f} %")
        for miss in wrong:
            print("  wrong:", miss)
    assert sum(total for *_, total in report) >= 150
    for category, right, total in report:
        assert right >= SHARE_RIGHT * total, (category, wrong)


def openbuilder_request(utterance: str, params: dict, detail: dict, **extra) -> dict:
    """A request as OpenBuilder sends it for a block with entities (Kakao's documented shape:
    `params` as strings, `detailParams` as {origin, value, groupName})."""
    body = kakao_request(utterance)
    body["action"]["params"] = params
    body["action"]["detailParams"] = detail
    body.update(extra)
    return body


def detail(origin: str, value: str | None = None) -> dict:
    return {"origin": origin, "value": value if value is not None else origin, "groupName": ""}


def test_a_date_and_a_number_beside_a_person_entity_never_become_the_query(env):
    date = '{"dateTag": null, "dateHeadword": null, "date": "2026-12-04"}'
    body = openbuilder_request(
        "1 금요일 아이유",
        {
            "sys_number": '{"amount": 1, "unit": null}',
            "sys_date": date,
            "sys_person_name": "아이유",
        },
        {
            "sys_number": detail("1", '{"amount": 1, "unit": null}'),
            "sys_date": detail("금요일", date),
            "sys_person_name": detail("아이유"),
        },
    )
    status, body = ask(new_container(), body=body)
    assert "IU" in card_title(body)


def test_an_ordinal_or_a_place_alone_leaves_the_utterance_to_be_understood(env):
    body = openbuilder_request(
        "아이유 3번째 앨범",
        {"sys_number_ordinal": '{"amount": 3}', "sys_location": "강남"},
        {"sys_number_ordinal": detail("3번째", '{"amount": 3}'), "sys_location": detail("강남")},
    )
    status, body = ask(new_container(), body=body)
    assert "IU" in card_title(body)


def test_a_custom_entity_is_read_by_its_resolved_value_not_the_text_typed(env):
    body = openbuilder_request(
        "이지은 노래", {"singer": "아이유"}, {"singer": detail("이지은", "아이유")}
    )
    status, body = ask(new_container(), body=body)
    assert "IU" in card_title(body) and first_output(body) == "listCard"


def test_a_custom_entity_of_any_name_counts_when_its_value_is_an_artist_the_bot_knows(env):
    body = openbuilder_request(
        "최애 노래", {"favourite": "뉴진스"}, {"favourite": detail("최애", "뉴진스")}
    )
    status, body = ask(new_container(), body=body)
    assert "NewJeans" in card_title(body)


@pytest.mark.parametrize("extra", [None, "null", {}], ids=["null", "the string null", "empty"])
def test_client_extra_as_kakao_sends_it_when_nothing_was_tapped(env, extra):
    body = kakao_request("뉴진스 알려줘")
    body["action"]["clientExtra"] = extra
    status, body = ask(new_container(), body=body)
    assert "NewJeans" in card_title(body)


def test_the_fallback_block_gets_a_redirect_for_chat_and_spends_nothing(env, spotify):
    body = kakao_request("생각 다 끝났나요?")
    body["intent"] = {"id": "fallback-intent", "name": "폴백 블록"}
    body["userRequest"]["block"] = {"id": "fallback-block", "name": "폴백 블록"}
    spotify.reset_calls()
    status, answer = ask(new_container(), body=body)
    assert status == 200 and "음악 이야기를 해 볼까요" in text_of(answer)
    assert spotify_calls(spotify) == 0
    body["userRequest"]["utterance"] = "트와이스 노래"  # the fallback block gets names too
    status, answer = ask(new_container(), body=body)
    assert "TWICE" in card_title(answer) and first_output(answer) == "listCard"


def test_quick_replies_that_carry_data_return_to_the_calling_block(env):
    status, body = ask(new_container(), "아이유")
    taps = [reply for reply in body["template"]["quickReplies"] if "extra" in reply]
    assert taps and all(t["action"] == "block" and t["blockId"] == "local-block" for t in taps)


def test_a_tapped_id_spotify_no_longer_knows_falls_back_to_the_name_it_carried(env):
    gone = sealed_extra({"artist_id": "0" * 22, "artist_name": "아이유"})
    status, body = ask(new_container(), "아이유", extra=gone)
    assert "IU" in card_title(body)


def test_without_mysql_the_curated_korean_names_are_known(env, monkeypatch, spotify):
    monkeypatch.delenv("MYSQL_HOST")
    status, body = ask(new_container(), "방탄소년단 노래 들려줘")
    assert "BTS" in card_title(body) and first_output(body) == "listCard"
    assert card_title(body) == "방탄소년단 (BTS)"


def test_not_found_is_remembered_for_exactly_what_was_searched(env, dynamodb_endpoint):
    status, body = ask(new_container(), "없는가수?")
    assert "찾지 못했어요" in text_of(body)
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    keys = {item["pk"]["S"] for item in client.scan(TableName=TABLE)["Items"]}
    assert "missing#없는가수" in keys  # the text searched, its "?" folded away
    assert not [key for key in keys if key.startswith("name#")]
    for look_alike in ("아이유?", "아이유\u200b", "아이유\u200b?"):
        status, body = ask(new_container(), look_alike)
        assert "IU" in card_title(body), look_alike
    status, body = ask(new_container(), "아이유")
    assert "IU" in card_title(body)


def test_export_entity_writes_every_known_name_for_openbuilder(env, tmp_path, capsys):
    path = tmp_path / "artists-entity.csv"
    assert admin.main(["export-entity", str(path)], new_container()) == 0
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["대표어", "동의어"]
    heads = {head: synonyms.split(", ") for head, synonyms in rows[1:]}
    assert "IU" in heads["아이유"] and "이지은" in heads["아이유"]
    assert len(heads) >= 150
    assert json.dumps(rows, ensure_ascii=False)  # plain text, no surprises
