"""The skill 2.0 validator: valid bodies pass, each broken rule is named by its path."""

import re

import pytest

from devtools.kakao_limits import assert_valid_skill_response, validate_skill_response

IMAGE = "https://i.example.com/iu.jpg"
PAGE = "https://open.example.com/artist/iu"
DELETE = object()

MINIMAL = {
    "simpleText": {"text": "안녕"},
    "simpleImage": {"imageUrl": IMAGE, "altText": "IU 사진"},
    "textCard": {"title": "IU"},
    "basicCard": {"thumbnail": {"imageUrl": IMAGE}},
    "commerceCard": {"price": 0, "currency": "won", "thumbnails": [{"imageUrl": IMAGE}]},
    "listCard": {"header": {"title": "인기곡"}, "items": [{"title": "Good Day"}]},
    "itemCard": {"itemList": [{"title": "앨범", "description": "Palette"}]},
}


def answer(*outputs, **top):
    return {"version": "2.0", "template": {"outputs": list(outputs)}, **top}


def web_button(label):
    return {"label": label, "action": "webLink", "webLinkUrl": PAGE}


def message(label="보기", **fields):
    """A button or quick reply that sends its own label."""
    return {"label": label, "action": "message", "messageText": label, **fields}


def carousel(kind, items, **fields):
    return answer({"carousel": {"type": kind, "items": items, **fields}})


def full_answer():
    """What the skill answers for an artist: basicCard + listCard + simpleText + 10 replies."""
    card = {
        "title": "IU",
        "description": "#KPOP #솔로\nSpotify 팔로워 1,234명",
        "thumbnail": {
            "imageUrl": IMAGE,
            "altText": "IU 사진",
            "fixedRatio": True,
            "link": {"web": PAGE},
        },
        "buttons": [web_button("Spotify에서 듣기")],
    }
    tracks = {
        "header": {"title": "IU의 인기곡"},
        "items": [
            {"title": f"노래 {n}", "description": "앨범", "imageUrl": IMAGE, "link": {"web": PAGE}}
            for n in range(5)
        ],
        "buttons": [web_button("Spotify에서 더 보기")],
    }
    replies = [message(f"가수 {n}", extra={"artist_id": str(n)}) for n in range(10)]
    return {
        "version": "2.0",
        "template": {
            "outputs": [
                {"basicCard": card},
                {"listCard": tracks},
                {"simpleText": {"text": "🎧 이런 아티스트는 어때요?"}},
            ],
            "quickReplies": replies,
        },
        "context": {"values": [{"name": "artist", "lifeSpan": 3, "params": {"id": "iu"}}]},
        "data": {"artist_name": "IU", "followers": 1234, "verified": True, "genre": None},
    }


def changed(path, value):
    """The full answer with the field at `path` set to `value` (or removed: DELETE)."""
    body = full_answer()
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return body


BASIC = ("template", "outputs", 0, "basicCard")
LIST = ("template", "outputs", 1, "listCard")
TEXT = ("template", "outputs", 2, "simpleText")
REPLIES = ("template", "quickReplies")


def test_the_full_answer_is_valid():
    assert validate_skill_response(full_answer()) == []


@pytest.mark.parametrize("name", MINIMAL)
def test_a_minimal_component_is_valid(name):
    assert validate_skill_response(answer({name: MINIMAL[name]})) == []


@pytest.mark.parametrize("name", ["basicCard", "commerceCard", "listCard", "itemCard", "textCard"])
def test_a_minimal_carousel_is_valid(name):
    assert validate_skill_response(carousel(name, [MINIMAL[name]] * 2)) == []


def test_a_callback_acknowledgement_needs_no_template():
    body = {"version": "2.0", "useCallback": True, "data": {"text": "잠시만 기다려 주세요"}}
    assert validate_skill_response(body) == []


def test_500_emoji_are_1000_units_and_fit():
    assert validate_skill_response(changed((*TEXT, "text"), "🎵" * 500)) == []


def test_three_stacked_buttons_may_have_14_character_labels():
    card = {"thumbnail": {"imageUrl": IMAGE}, "buttons": [message("a" * 14)] * 3}
    assert validate_skill_response(answer({"basicCard": card})) == []


def test_assert_valid_lists_the_problems():
    assert_valid_skill_response(full_answer())
    body = {"template": {"outputs": [{"basicCard": {}}]}}
    with pytest.raises(AssertionError, match=r"version: required\n.*thumbnail: required"):
        assert_valid_skill_response(body)


INVALID = [
    # the body
    (changed(("version",), DELETE), "version: required"),
    (changed(("version",), "1.0"), "version: must be '2.0', got '1.0'"),
    (changed(("version",), 2.0), "version: must be '2.0', got 2.0"),
    (changed(("foo",), 1), "$: unknown top-level key 'foo'"),
    (changed(("template",), DELETE), "template: required"),
    (changed(("useCallback",), "yes"), "useCallback: must be true or false"),
    (changed(("template", "outputs"), []), "template.outputs: 0 entries, at least 1"),
    (changed(("template", "outputs"), [{"simpleText": {"text": "a"}}] * 4), "template.outputs: 4 "),
    (changed(("template", "outputs", 2), {"video": {}}), "template.outputs[2]: unknown component"),
    (changed(("template", "outputs", 2), MINIMAL), "template.outputs[2]: must hold exactly one"),
    (changed(("template", "outputs", 2), "text"), "template.outputs[2]: must be an object"),
    # simpleText, simpleImage
    (changed((*TEXT, "text"), "a" * 1001), "template.outputs[2].simpleText.text: 1001 characters"),
    (changed((*TEXT, "text"), "🎵" * 501), "template.outputs[2].simpleText.text: 1002 characters"),
    (changed((*TEXT, "text"), " \n"), "template.outputs[2].simpleText.text: must not be empty"),
    (changed((*TEXT, "text"), None), "template.outputs[2].simpleText.text: must be a string"),
    (answer({"simpleImage": {"imageUrl": IMAGE}}), "template.outputs[0].simpleImage.altText: req"),
    (
        answer({"simpleImage": {"imageUrl": "//i.example.com/a.jpg", "altText": "사진"}}),
        "template.outputs[0].simpleImage.imageUrl: not an http(s) URL",
    ),
    # textCard
    (answer({"textCard": {"title": " "}}), "template.outputs[0].textCard: needs a non-empty"),
    (
        answer({"textCard": {"description": "a" * 401}}),
        "template.outputs[0].textCard.description: 401 characters, limit 400",
    ),
    # basicCard and its thumbnail
    (changed((*BASIC, "thumbnail"), DELETE), "template.outputs[0].basicCard.thumbnail: required"),
    (changed((*BASIC, "title"), "a" * 51), "template.outputs[0].basicCard.title: 51 characters"),
    (changed((*BASIC, "description"), "a" * 231), "template.outputs[0].basicCard.description: 231"),
    (
        changed((*BASIC, "thumbnail", "imageUrl"), "ftp://i.example.com/a.jpg"),
        "template.outputs[0].basicCard.thumbnail.imageUrl: not an http(s) URL",
    ),
    (
        changed((*BASIC, "thumbnail", "fixedRatio"), "true"),
        "template.outputs[0].basicCard.thumbnail.fixedRatio: must be true or false",
    ),
    (
        changed((*BASIC, "thumbnail", "altText"), "a" * 51),
        "template.outputs[0].basicCard.thumbnail.altText: 51 characters, limit 50",
    ),
    (
        changed((*BASIC, "thumbnail", "link"), {"web": "javascript:alert(1)"}),
        "template.outputs[0].basicCard.thumbnail.link.web: not an http(s) URL",
    ),
    # buttons
    (
        changed((*BASIC, "buttons"), [message()] * 3),
        "template.outputs[0].basicCard.buttons: 3 entries, limit 2",
    ),
    (
        answer({"basicCard": {**MINIMAL["basicCard"], "buttons": [message()] * 4}}),
        "template.outputs[0].basicCard.buttons: 4 entries, limit 3",
    ),
    (
        changed((*BASIC, "buttons"), [message("아홉글자짜리라벨이"), message()]),
        "template.outputs[0].basicCard.buttons[0].label: 9 characters, limit 8",
    ),
    (
        changed((*BASIC, "buttons"), [message("a" * 15)]),
        "template.outputs[0].basicCard.buttons[0].label: 15 characters, limit 14",
    ),
    (
        changed((*BASIC, "buttons"), [{"label": "보기", "action": "message"}]),
        "template.outputs[0].basicCard.buttons[0].messageText: required",
    ),
    (
        changed((*BASIC, "buttons"), [{"label": "보기", "action": "message", "messageText": ""}]),
        "template.outputs[0].basicCard.buttons[0].messageText: must not be empty",
    ),
    (
        changed((*BASIC, "buttons", 0, "webLinkUrl"), "javascript:alert(1)"),
        "template.outputs[0].basicCard.buttons[0].webLinkUrl: not an http(s) URL",
    ),
    (
        changed((*BASIC, "buttons", 0, "webLinkUrl"), "ftp://files.example.com/a"),
        "template.outputs[0].basicCard.buttons[0].webLinkUrl: not an http(s) URL",
    ),
    (
        changed((*BASIC, "buttons", 0, "webLinkUrl"), " https://open.example.com"),
        "template.outputs[0].basicCard.buttons[0].webLinkUrl: not an http(s) URL",
    ),
    (
        changed((*BASIC, "buttons", 0, "webLinkUrl"), DELETE),
        "template.outputs[0].basicCard.buttons[0].webLinkUrl: required",
    ),
    (
        changed((*BASIC, "buttons"), [{"label": "전화", "action": "phone"}]),
        "template.outputs[0].basicCard.buttons[0].phoneNumber: required",
    ),
    (
        changed((*BASIC, "buttons"), [{"label": "블록", "action": "block"}]),
        "template.outputs[0].basicCard.buttons[0].blockId: required",
    ),
    (
        changed((*BASIC, "buttons", 0, "action"), "osLink"),
        "template.outputs[0].basicCard.buttons[0].action: must be one of webLink, message",
    ),
    (
        changed((*BASIC, "buttons"), [message(extra="x")]),
        "template.outputs[0].basicCard.buttons[0].extra: must be an object",
    ),
    (changed((*BASIC, "buttons"), {}), "template.outputs[0].basicCard.buttons: must be a list"),
    # commerceCard
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "title": "a" * 31}}),
        "template.outputs[0].commerceCard.title: 31 characters, limit 30",
    ),
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "description": "a" * 41}}),
        "template.outputs[0].commerceCard.description: 41 characters, limit 40",
    ),
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "price": -1}}),
        "template.outputs[0].commerceCard.price: -1, must be at least 0",
    ),
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "price": 9.9}}),
        "template.outputs[0].commerceCard.price: must be an integer",
    ),
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "price": True}}),
        "template.outputs[0].commerceCard.price: must be an integer",
    ),
    (
        answer({"commerceCard": {**MINIMAL["commerceCard"], "currency": "usd"}}),
        "template.outputs[0].commerceCard.currency: must be 'won'",
    ),
    (
        answer(
            {"commerceCard": {**MINIMAL["commerceCard"], "thumbnails": [{"imageUrl": IMAGE}] * 2}}
        ),
        "template.outputs[0].commerceCard.thumbnails: 2 entries, limit 1",
    ),
    # listCard
    (
        changed((*LIST, "items"), [{"title": "a"}] * 6),
        "template.outputs[1].listCard.items: 6 entries",
    ),
    (changed((*LIST, "items"), []), "template.outputs[1].listCard.items: 0 entries, at least 1"),
    (changed((*LIST, "header"), DELETE), "template.outputs[1].listCard.header: required"),
    (changed((*LIST, "header"), {}), "template.outputs[1].listCard.header.title: required"),
    (changed((*LIST, "items", 0, "title"), DELETE), "template.outputs[1].listCard.items[0].title"),
    (
        changed((*LIST, "items", 0, "description"), "a" * 51),
        "template.outputs[1].listCard.items[0].description: 51 characters, limit 50",
    ),
    (
        changed((*LIST, "items", 0, "link"), {"web": "ftp://x.example.com"}),
        "template.outputs[1].listCard.items[0].link.web: not an http(s) URL",
    ),
    (
        changed((*LIST, "items", 0, "action"), "message"),
        "template.outputs[1].listCard.items[0].messageText: required",
    ),
    (
        changed((*LIST, "items", 0, "action"), "webLink"),
        "template.outputs[1].listCard.items[0].action: must be one of message, block",
    ),
    (
        changed((*LIST, "buttons"), [message()] * 3),
        "template.outputs[1].listCard.buttons: 3 entries, limit 2",
    ),
    # itemCard
    (
        answer({"itemCard": {"itemList": [MINIMAL["itemCard"]["itemList"][0]] * 11}}),
        "template.outputs[0].itemCard.itemList: 11 entries, limit 10",
    ),
    (
        answer({"itemCard": {"itemList": [{"title": "일곱글자제목임", "description": "a"}]}}),
        "template.outputs[0].itemCard.itemList[0].title: 7 characters, limit 6",
    ),
    (
        answer({"itemCard": {"itemList": [{"title": "가격"}]}}),
        "template.outputs[0].itemCard.itemList[0].description: required",
    ),
    (
        answer(
            {"itemCard": {**MINIMAL["itemCard"], "head": {"title": "a"}, "profile": {"title": "b"}}}
        ),
        "template.outputs[0].itemCard: head and profile cannot both be present",
    ),
    # carousel
    (carousel("textCard", [MINIMAL["textCard"]] * 11), "template.outputs[0].carousel.items: 11"),
    (carousel("textCard", []), "template.outputs[0].carousel.items: 0 entries, at least 1"),
    (carousel("listCard", [MINIMAL["listCard"]] * 6), "template.outputs[0].carousel.items: 6"),
    (
        carousel("listCard", [{**MINIMAL["listCard"], "items": [{"title": "a"}] * 5}]),
        "template.outputs[0].carousel.items[0].items: 5 entries, limit 4",
    ),
    (
        carousel("itemCard", [{"itemList": [{"title": "a", "description": "b"}] * 6}]),
        "template.outputs[0].carousel.items[0].itemList: 6 entries, limit 5",
    ),
    (
        carousel("textCard", [{"description": "a" * 129}]),
        "template.outputs[0].carousel.items[0].description: 129 characters, limit 128",
    ),
    (carousel("simpleText", [MINIMAL["simpleText"]]), "template.outputs[0].carousel.type: must be"),
    (
        carousel("listCard", [MINIMAL["listCard"]], header={"title": "목록"}),
        "template.outputs[0].carousel.header: not allowed in a listCard carousel",
    ),
    (
        carousel("textCard", [MINIMAL["textCard"]], header={"title": "카드"}),
        "template.outputs[0].carousel.header: not allowed in a textCard carousel",
    ),
    (
        carousel(
            "basicCard",
            [
                {"thumbnail": {"imageUrl": IMAGE, "fixedRatio": True}},
                {"thumbnail": {"imageUrl": IMAGE}},
            ],
        ),
        "template.outputs[0].carousel: thumbnails mix fixedRatio true and false",
    ),
    # quick replies
    (changed(REPLIES, [message("a")] * 11), "template.quickReplies: 11 entries, limit 10"),
    (changed((*REPLIES, 0, "label"), "a" * 15), "template.quickReplies[0].label: 15 characters"),
    (changed((*REPLIES, 0, "label"), ""), "template.quickReplies[0].label: must not be empty"),
    (
        changed((*REPLIES, 0, "messageText"), DELETE),
        "template.quickReplies[0].messageText: required",
    ),
    (
        changed((*REPLIES, 0), {"label": "블록", "action": "block"}),
        "template.quickReplies[0].blockId: required",
    ),
    (
        changed((*REPLIES, 0, "action"), "webLink"),
        "template.quickReplies[0].action: must be one of message, block",
    ),
    (changed((*REPLIES, 0, "extra"), ["x"]), "template.quickReplies[0].extra: must be an object"),
    # context and data
    (changed(("context",), {}), "context.values: required"),
    (changed(("context", "values", 0, "name"), ""), "context.values[0].name: must not be empty"),
    (changed(("context", "values", 0, "lifeSpan"), 0), "context.values[0].lifeSpan: 0, must be"),
    (
        changed(("context", "values", 0, "params"), {"id": 1}),
        "context.values[0].params.id: must map string to string, got number",
    ),
    (changed(("data", "artist_name"), {"ko": "아이유"}), "data.artist_name: must be a string, num"),
    (changed(("data", "genres"), ["k-pop"]), "data.genres: must be a string, number"),
    (changed(("data",), "IU"), "data: must be an object"),
    # JSON and UTF-8
    (changed(("data", "followers"), float("nan")), "data.followers: nan is not valid JSON"),
    (
        changed((*REPLIES, 0, "extra", "score"), float("inf")),
        "template.quickReplies[0].extra.score: inf is not valid JSON",
    ),
    (
        changed((*TEXT, "text"), "노래 \ud83c"),
        "template.outputs[2].simpleText.text: lone surrogate",
    ),
    (
        changed((*REPLIES, 0, "extra"), {"\udc00": "x"}),
        "template.quickReplies[0].extra.\udc00: key",
    ),
    (changed((*REPLIES, 0, "extra", "ids"), {1, 2}), "template.quickReplies[0].extra.ids: set is"),
]


@pytest.mark.parametrize(("body", "expected"), INVALID, ids=[expected for _, expected in INVALID])
def test_a_broken_rule_is_named_by_its_path(body, expected):
    problems = validate_skill_response(body)
    assert len(problems) == 1, problems  # one broken rule, one problem: no false alarms
    assert problems[0].startswith(expected), problems


class Hostile:
    """Compares and prints by raising."""

    __hash__ = object.__hash__

    def __eq__(self, other):
        raise RuntimeError("no")

    def __repr__(self):
        raise RuntimeError("no")


def deeply_nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def circular():
    body = full_answer()
    body["data"]["self"] = body
    return body


GARBAGE = [
    None,
    [],
    "text",
    3,
    float("nan"),
    b"{}",
    object(),
    {},
    {Hostile(): 1},
    {("tuple", "key"): 1},
    {"version": "2.0", "template": []},
    {"version": "2.0", "template": {"outputs": "x", "quickReplies": [None, {"action": []}]}},
    answer(None, 1, "x", [], {"simpleText": None}, {"carousel": None}),
    carousel("listCard", [None, {"header": 3, "items": "x", "buttons": {}}], header=[]),
    carousel(["basicCard"], {}),
    answer({"basicCard": {"thumbnail": {"imageUrl": "http://[::1/a.jpg"}}}),
    changed(("data", "deep"), deeply_nested(100_000)),
    circular(),
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_gets_problems_and_never_an_exception(body):
    problems = validate_skill_response(body)
    assert problems
    assert all(isinstance(problem, str) and re.match(r"\S.*?: ", problem) for problem in problems)
