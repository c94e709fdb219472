"""Related artists from several sources combined into one ranked list (pure functions)."""

from lambda_function import (
    RELATION_WEIGHTS,
    ArtistAnswer,
    Knowledge,
    combine_related,
    rank_related,
    reason_label,
    related_text,
)

IU = {"id": "iu-id", "name": "IU"}


def entry(name, reason, score=1.0, artist_id=None):
    return {"id": artist_id, "name": name, "reason": reason, "score": score}


def test_evidence_from_several_sources_adds_up_and_is_explained():
    ranked = combine_related(
        IU,
        [
            entry("Crush", "similar_genre", 1.0),
            entry("ZICO", "similar_genre", 1.0),
            entry("ZICO", "cocredit", 2, "zico-id"),
            entry("Heize", "coask", 4.0),
        ],
    )
    assert [found["name"] for found in ranked] == ["ZICO", "Heize", "Crush"]
    zico = ranked[0]
    assert zico["id"] == "zico-id"  # the id from whichever source knew it
    assert zico["sources"] == {
        "cocredit": RELATION_WEIGHTS["cocredit"],
        "similar_genre": RELATION_WEIGHTS["similar_genre"],
    }
    assert zico["reasons"] == ["cocredit", "similar_genre"]
    assert zico["score"] == RELATION_WEIGHTS["cocredit"] + RELATION_WEIGHTS["similar_genre"]


def test_within_a_source_strength_is_a_share_of_the_strongest():
    ranked = combine_related(IU, [entry("A", "coask", 8.0), entry("B", "coask", 2.0)])
    assert [found["score"] for found in ranked] == [
        RELATION_WEIGHTS["coask"],
        RELATION_WEIGHTS["coask"] / 4,
    ]


def test_the_artist_itself_and_nameless_entries_are_left_out():
    ranked = combine_related(
        IU,
        [entry("I.U.", "similar_genre"), entry("x", "cocredit", 1, "iu-id"), entry("!!", "coask")],
    )
    assert ranked == []


def test_an_artist_without_a_spotify_id_keeps_others_without_one():
    ranked = combine_related({"id": None, "name": "IU"}, [entry("Crush", "similar_genre")])
    assert [found["name"] for found in ranked] == ["Crush"]


def test_spotifys_own_order_and_the_tracks_at_hand_count_too():
    bundle = {
        "spotify_related": [
            {"id": "a", "name": "First", "reason": "spotify"},
            {"id": "b", "name": "Second", "reason": "spotify"},
            {"id": "d", "name": "Third", "reason": "spotify"},
        ],
        "tracks": [{"name": "Song", "artists": [IU, {"id": "c", "name": "Guest"}]}],
    }
    knowledge = Knowledge(tags=[], related=[entry("Second", "same_agency", 1.0, "b")])
    ranked = rank_related(IU, bundle, knowledge)
    # Second: 2/3 of Spotify's weight plus an agency; First: all of Spotify's weight alone.
    assert [found["name"] for found in ranked] == ["Second", "First", "Guest", "Third"]
    assert ranked[0]["reasons"] == ["spotify", "same_agency"]


def test_the_answer_says_the_two_strongest_reasons_in_korean():
    found = combine_related(
        IU, [entry("ZICO", "cocredit"), entry("ZICO", "coask"), entry("ZICO", "similar_genre")]
    )[0]
    assert reason_label(found) == "함께 작업, 이 아티스트를 찾은 사람들이 함께 찾음"
    answer = ArtistAnswer(artist=IU, tracks=[], tracks_are_top=False, related=[found], tags=[])
    assert "• ZICO · 함께 작업, 이 아티스트를 찾은 사람들이 함께 찾음" in related_text(answer)
    assert reason_label({"name": "X", "reason": "unheard-of"}) == "관련 아티스트"
