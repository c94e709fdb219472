"""Name matching: keys, romanisation, plausibility, picking Spotify's answer."""

import pytest

from lambda_function import (
    clean_query,
    closest_alias,
    distinct_titles,
    edit_distance,
    is_misspelling,
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


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("에미넘", "에미넴"),  # one syllable, two of three letters kept
        ("뉴진즈", "뉴진스"),
        ("레드밸벳", "레드벨벳"),
        ("에스빠", "에스파"),
        ("블랙펑크", "블랙핑크"),
        ("edsheran", "edsheeran"),
        ("coldpaly", "coldplay"),  # a swap is one edit
        ("taylorswfit", "taylorswift"),
    ],
)
def test_near_misses_are_misspellings(typed, known):
    assert is_misspelling(name_key(typed), name_key(known))


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("자전거", "정국"),  # different length
        ("노래", "넬"),
        ("태현", "태연"),  # two syllables: too short to guess
        ("아이디", "아이유"),  # the odd syllable shares only its empty final
        ("블랙핑크", "블랙핑크"),  # the same key is a match, not a misspelling
        ("bts", "btz"),  # too short
        ("adelle", "abcdef"),
        ("에미넴", "eminem"),  # scripts are not compared letter by letter
    ],
)
def test_other_words_are_not_misspellings(typed, known):
    assert not is_misspelling(name_key(typed), name_key(known))


def test_edit_distance_counts_up_to_its_limit():
    assert edit_distance("kitten", "sitting", limit=5) == 3
    assert edit_distance("abcd", "abdc") == 1
    assert edit_distance("", "abc", limit=5) == 3
    assert edit_distance("kitten", "sitting", limit=1) == 2  # "more than 1"
    assert edit_distance("", "abc") == 3  # limit 2: "more than 2"


def test_edit_distance_stops_once_every_path_costs_more_than_the_limit():
    calls = []

    class Letter(str):  # counts the comparisons the distance makes
        def __ne__(self, other):
            calls.append(1)
            return str.__ne__(self, other)

    long_a = [Letter("a")] * 200
    assert edit_distance(long_a, "b" * 200) == 3
    assert len(calls) <= 4 * 200  # a few rows, not 200 × 200 comparisons


def test_the_closest_alias_must_be_the_only_one():
    aliases = [("에미넴", "Eminem"), ("eminem", "Eminem"), ("에미넝", "Someone")]
    assert closest_alias("에미넘", aliases[:2]) == "Eminem"
    assert closest_alias("에미넘", aliases) is None  # two artists equally near: no guess
    assert closest_alias("자전거", aliases) is None
