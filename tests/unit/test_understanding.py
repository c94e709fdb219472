"""Understanding a message (pure): which artist, and what about it, from what users type."""

import pytest

from lambda_function import (
    ARTIST,
    CHAT,
    HELP,
    SIMILAR,
    SONG,
    SONGS,
    Ask,
    NameIndex,
    Seal,
    SkillRequest,
    entity_values,
    is_filler,
    read_curated_file,
    understand,
)


@pytest.fixture(scope="module")
def names() -> NameIndex:
    index = NameIndex()
    index.add_curated(read_curated_file())
    index.add("비", "Rain", "비")  # a one-syllable name: it must not match inside 비슷한
    return index


def message(utterance: str, entities=(), others=()) -> SkillRequest:
    return SkillRequest(
        utterance, tuple(entities), tuple(others), None, "", "", "", "", "", Seal(b"k", "", 0.0)
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("뉴진스 알려줘", Ask(ARTIST, "NewJeans", known=True)),
        ("방탄소년단이 누구야", Ask(ARTIST, "BTS", known=True)),
        ("아이유 노래 추천해줘", Ask(SONGS, "IU", known=True)),
        ("뉴진스노래", Ask(SONGS, "NewJeans", known=True)),  # no space before the request word
        ("아이유랑 비슷한 가수", Ask(SIMILAR, "IU", known=True)),
        ("레드 벨벳 최신곡", Ask(SONGS, "Red Velvet", known=True)),
        ("레드벨벳이랑 트와이스", Ask(ARTIST, "Red Velvet", known=True)),
        ("비슷한 가수 추천", Ask(HELP)),  # 비 is a name, but not inside 비슷한
        ("비 노래", Ask(SONGS, "Rain", known=True)),
        ("Hype Boy 누구 노래야", Ask(SONG, "Hype Boy")),
        ("잔나비랑 비슷한 가수", Ask(SIMILAR, "JANNABI", known=True)),
        ("쏜애플 노래", Ask(SONGS, "쏜애플")),  # unknown: what is left is searched
        ("쏜애플이랑 비슷한 밴드", Ask(SIMILAR, "쏜애플")),
        ("안녕하세요!", Ask(HELP)),
        ("뭐 할 수 있어?", Ask(HELP)),
        ("노래 추천해줘", Ask(HELP)),
        ("생각 다 끝났나요?", Ask(CHAT)),
        ("https://example.com/photo.jpg", Ask(CHAT)),
        ("ㅋㅋㅋㅋ", Ask(CHAT)),
        ("aaa", Ask(CHAT)),
    ],
)
def test_what_a_message_asks(names, typed, expected):
    assert understand(message(typed), names) == expected


def test_an_artist_entity_wins_and_its_value_is_preferred_to_the_text_typed(names):
    entities, others = entity_values(
        {
            "params": {"sys_date": "금요일", "singer": "아이유", "sys_number": '{"amount": 1}'},
            "detailParams": {
                "sys_date": {"origin": "금요일", "value": '{"date": "2026-12-04"}'},
                "singer": {"origin": "이지은", "value": "아이유", "groupName": ""},
            },
        }
    )
    assert (entities, others) == (("아이유",), ())
    asked = understand(message("1 금요일 이지은 노래", entities, others), names)
    assert asked == Ask(SONGS, "IU", known=True)


def test_a_custom_entity_counts_only_when_its_value_is_a_known_artist(names):
    _, others = entity_values({"params": {"favourite": "뉴진스", "place": "강남"}})
    assert understand(message("최애", others=others), names) == Ask(ARTIST, "NewJeans", known=True)
    assert understand(message("이번 주 강남에서 만날까요", others=("강남",)), names) == Ask(CHAT)


def test_long_input_is_chat_and_is_never_parsed(names):
    assert understand(message("가" * 300_000), names) == Ask(CHAT)
    assert understand(message("아이유 " * 5_000), names) == Ask(CHAT)
    assert not is_filler("노래" * 10_000)  # no recursion into a megabyte


def test_an_overlong_entity_is_not_searched(names):
    asked = understand(message("아이유", entities=("x" * 5_000,)), names)
    assert asked == Ask(ARTIST, "IU", known=True)
