"""Rendering Kakao 2.0 bodies: pure functions, checked by the independent validator."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.kakao_limits import validate_skill_response
from lambda_function import (
    CHAT,
    HELP,
    SIMILAR,
    SONG,
    SONGS,
    ArtistAnswer,
    NotFound,
    ReplyTo,
    Seal,
    clip,
    render_artist,
    render_help,
    render_not_found,
    render_text,
    utf16_len,
)

ARTIST = {
    "id": "3HqSLMAZ3g3d5poNaI7GOU",
    "name": "IU",
    "image": "https://i.scdn.co/image/iu",
    "url": "https://open.spotify.com/artist/3HqSLMAZ3g3d5poNaI7GOU",
    "genres": [],
    "followers": None,
}


SEAL = Seal(b"k" * 32, "user-hash", 1_800_000_000.0)
TO_USER = ReplyTo("", SEAL)


def track(n, **fields):
    return {
        "id": f"track{n}",
        "name": f"노래 {n}",
        "album": "앨범",
        "image": "https://i.scdn.co/image/album",
        "url": f"https://open.spotify.com/track/track{n}",
        "artists": [{"id": ARTIST["id"], "name": "IU"}],
        **fields,
    }


def answer(**fields):
    values = {
        "artist": ARTIST,
        "tracks": [track(n) for n in range(8)],
        "tracks_are_top": False,
        "related": [
            {"id": f"{n:022d}", "name": f"Artist {n}", "reason": "cocredit"} for n in range(12)
        ],
        "tags": ["genre:k-pop", "type:solo", "gender:female", "agency:edam"],
    }
    values.update(fields)
    return ArtistAnswer(**values)


def outputs(body):
    return [next(iter(component)) for component in body["template"]["outputs"]]


def test_a_full_answer_is_a_card_a_track_list_and_related_artists():
    body = render_artist(answer())
    assert validate_skill_response(body) == []
    assert outputs(body) == ["basicCard", "listCard", "simpleText"]
    card = body["template"]["outputs"][0]["basicCard"]
    assert card["title"] == "IU"
    assert "#K-POP" in card["description"] and "Spotify" in card["description"]
    assert card["buttons"][0]["webLinkUrl"] == ARTIST["url"]
    items = body["template"]["outputs"][1]["listCard"]["items"]
    assert len(items) == 5
    assert items[0]["link"]["web"].startswith("https://open.spotify.com/track/")


def test_related_artists_are_one_tap_away_with_a_signed_extra():
    body = render_artist(answer(), TO_USER)
    replies = body["template"]["quickReplies"]
    assert len(replies) <= 10
    assert replies[0]["messageText"] == "Artist 0"
    assert SEAL.open(replies[0]["extra"]) == {"artist_id": "0" * 22, "artist_name": "Artist 0"}
    assert validate_skill_response(body) == []
    assert "함께 작업" in body["template"]["outputs"][2]["simpleText"]["text"]


def test_without_a_seal_a_tap_is_plain_text():
    reply = render_artist(answer())["template"]["quickReplies"][0]
    assert reply == {"label": "Artist 0", "action": "message", "messageText": "Artist 0"}


def test_a_related_artist_without_a_spotify_id_is_asked_for_by_name():
    body = render_artist(answer(related=[{"id": None, "name": "잔나비", "reason": "same_agency"}]))
    assert body["template"]["quickReplies"][0] == {
        "label": "잔나비",
        "action": "message",
        "messageText": "잔나비",
    }


def test_no_image_falls_back_to_a_text_card_and_no_tracks_to_no_list():
    body = render_artist(answer(artist={**ARTIST, "image": ""}, tracks=[], related=[]))
    assert validate_skill_response(body) == []
    assert outputs(body) == ["textCard"]


def test_without_related_artists_the_quick_replies_still_lead_on():
    body = render_artist(answer(related=[], korean_name="아이유"))
    labels = [reply["label"] for reply in body["template"]["quickReplies"]]
    assert labels == ["아이유 노래", "인기 아티스트", "도움말"]


def test_taps_that_carry_data_go_back_to_the_calling_block():
    body = render_artist(answer(), ReplyTo("block-1", SEAL))
    tap = body["template"]["quickReplies"][0]
    assert tap["action"] == "block" and tap["blockId"] == "block-1"
    assert tap["extra"]["artist_id"] == "0" * 22 and tap["messageText"] == "Artist 0"
    assert validate_skill_response(body) == []


def test_the_question_decides_what_comes_first():
    assert outputs(render_artist(answer(kind=SONGS))) == ["listCard", "basicCard", "simpleText"]
    similar = render_artist(answer(kind=SIMILAR, korean_name="아이유"))
    assert outputs(similar) == ["simpleText", "basicCard", "listCard"]
    assert (
        "아이유 (IU)와(과) 비슷한 아티스트"
        in similar["template"]["outputs"][0]["simpleText"]["text"]
    )
    song = track(9, name="Hype Boy")
    body = render_artist(answer(kind=SONG, song=song))
    assert outputs(body) == ["simpleText", "basicCard", "listCard"]
    assert "'Hype Boy'" in body["template"]["outputs"][0]["simpleText"]["text"]
    items = body["template"]["outputs"][2]["listCard"]["items"]
    assert items[0]["title"] == "Hype Boy"  # the song asked about, first


def test_the_korean_name_users_know_stands_beside_spotifys():
    body = render_artist(
        answer(
            korean_name="아이유",
            related=[
                {"id": "1" * 22, "name": "Sung Si Kyung", "reason": "coask", "korean": "성시경"}
            ],
        )
    )
    card = body["template"]["outputs"][0]["basicCard"]
    assert card["title"] == "아이유 (IU)"
    header = body["template"]["outputs"][1]["listCard"]["header"]["title"]
    assert header == "아이유 (IU)의 대표곡"
    assert "성시경 (Sung Si Kyung)" in body["template"]["outputs"][2]["simpleText"]["text"]
    assert body["template"]["quickReplies"][0]["label"] == "성시경"


def test_a_singles_album_line_does_not_repeat_its_title_and_hashtags_keep_words_apart():
    body = render_artist(
        answer(
            artist={**ARTIST, "genres": ["dance pop"]},
            tracks=[track(1, name="Love wins all", album="Love wins all")],
        )
    )
    card = body["template"]["outputs"][0]["basicCard"]
    assert "#dance_pop" in card["description"]
    assert body["template"]["outputs"][1]["listCard"]["items"][0]["description"] == "싱글"


def test_top_tracks_are_called_popular_and_search_tracks_representative():
    top = render_artist(answer(tracks_are_top=True))["template"]["outputs"][1]
    searched = render_artist(answer())["template"]["outputs"][1]
    assert top["listCard"]["header"]["title"] == "IU의 인기곡"
    assert searched["listCard"]["header"]["title"] == "IU의 대표곡"


def test_long_names_and_emoji_are_clipped_within_every_limit():
    long_name = "🎵" * 80 + "아주 긴 이름" * 20
    body = render_artist(
        answer(
            artist={**ARTIST, "name": long_name, "genres": ["x" * 300] * 5, "followers": 10**9},
            tracks=[track(n, name=long_name, album=long_name) for n in range(5)],
            related=[{"id": None, "name": long_name, "reason": "spotify"}] * 10,
            notes=["안내" * 600],
        )
    )
    assert validate_skill_response(body) == []


def test_clip_counts_utf16_units_and_never_splits_a_character():
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…"
    clipped = clip("🎵" * 10, 5)
    assert utf16_len(clipped) <= 5 and clipped == "🎵🎵…"
    assert clip("a\ud800b", 10) == "ab"


def test_not_found_offers_spotifys_guess_and_examples():
    suggestion = {"id": ARTIST["id"], "name": "IU"}
    body = render_not_found(NotFound("아이유우", suggestion), TO_USER)
    assert validate_skill_response(body) == []
    first = body["template"]["quickReplies"][0]
    assert SEAL.open(first["extra"]) == {
        "artist_id": ARTIST["id"],
        "artist_name": "IU",
        "confirms": "아이유우",
    }
    assert "찾지 못했어요" in body["template"]["outputs"][0]["simpleText"]["text"]


def test_plain_texts_help_and_redirects_are_valid_and_json_serialisable():
    for body in (render_text("안내"), render_help(HELP), render_help(CHAT)):
        assert validate_skill_response(body) == []
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert render_help(HELP)["template"]["quickReplies"][0]["messageText"] == "아이유"


names = st.text(min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(
    name=names,
    titles=st.lists(names, max_size=12),
    related=st.lists(names, max_size=15),
    tags=st.lists(st.from_regex(r"[a-z]{1,8}:[a-z0-9\-]{1,20}", fullmatch=True), max_size=8),
)
def test_any_text_renders_a_valid_body(name, titles, related, tags):
    body = render_artist(
        answer(
            artist={**ARTIST, "name": name},
            tracks=[track(n, name=title, album=title) for n, title in enumerate(titles)],
            related=[{"id": None, "name": r, "reason": "tag"} for r in related],
            tags=tags,
        ),
        TO_USER,
    )
    assert validate_skill_response(body) == []
    body = render_not_found(NotFound(name, {"id": ARTIST["id"], "name": name}), TO_USER)
    assert validate_skill_response(body) == []
