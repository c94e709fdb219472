"""Name matching: keys, romanisation, plausibility, picking Spotify's answer."""

import pytest

from lambda_function import (
    clean_query,
    distinct_titles,
    is_plausible_match,
    name_key,
    pick_artist,
    romanize,
    sound_skeleton,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("레드벨벳", "레드 벨벳"),
        ("iu", "IU"),
        ("(여자)아이들", "여자아이들"),
        ("ＢＴＳ", "BTS"),  # full-width
        ("Beyoncé", "beyonce"),
        ("OH MY GIRL", "oh-my-girl"),
        ("\u1100\u1161", "가"),  # conjoining jamo compose to the syllable
    ],
)
def test_names_that_users_consider_equal_share_a_key(a, b):
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), [("아이유", "아이들"), ("BTS", "BTOB"), ("IU", "I")])
def test_different_names_keep_different_keys(a, b):
    assert name_key(a) != name_key(b)


def test_punctuation_only_has_an_empty_key():
    assert name_key("!!! ~~~") == ""


def test_romanize_follows_revised_romanization_closely_enough():
    assert romanize("뉴진스") == "nyujinseu"
    assert romanize("방탄소년단") == "bangtansonyeondan"
    assert romanize("IU 아이유") == "IU aiyu"


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("뉴진스", "NewJeans"),
        ("트와이스", "TWICE"),
        ("에미넴", "Eminem"),
        ("레이디가가", "Lady Gaga"),
        ("아이유", "IU"),
        ("blakpink", "BLACKPINK"),
        ("자전거", "자전거 탄 풍경"),
    ],
)
def test_plausible_matches(typed, found):
    assert is_plausible_match(typed, found)


@pytest.mark.parametrize(
    ("typed", "found"),
    [("자전거", "Cold Bicycle"), ("사랑", "Lana Del Rey"), ("asdfgh", "Adele"), ("", "IU")],
)
def test_implausible_matches(typed, found):
    assert not is_plausible_match(typed, found)


def test_sound_skeleton_folds_the_sounds_hangul_merges():
    assert sound_skeleton(name_key("르세라핌")) == sound_skeleton(name_key("LE SSERAFIM"))


def test_pick_artist_prefers_an_exact_name_over_spotifys_order():
    candidates = [{"id": "1", "name": "IU Fan Club"}, {"id": "2", "name": "IU"}]
    assert pick_artist("iu", candidates)["id"] == "2"


def test_pick_artist_refuses_an_implausible_top_hit():
    assert pick_artist("자전거", [{"id": "1", "name": "Cold Bicycle"}]) is None
    assert pick_artist("anything", []) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("아이유\n", "아이유"),
        ("  레드   벨벳 \t", "레드 벨벳"),
        ("a\x00b\x1fc", "a b c"),
        ("\ud800IU", "IU"),  # a lone surrogate from a JSON escape
        (None, ""),
        (42, ""),
    ],
)
def test_clean_query(raw, clean):
    assert clean_query(raw) == clean


def test_distinct_titles_keeps_one_track_per_song():
    tracks = [
        {"name": "Love wins all"},
        {"name": "Love wins all (Live)"},
        {"name": "Shopper - Remastered"},
        {"name": "Shopper"},
        {"name": "Blueming"},
    ]
    assert [t["name"] for t in distinct_titles(tracks)] == [
        "Love wins all",
        "Shopper - Remastered",
        "Blueming",
    ]
