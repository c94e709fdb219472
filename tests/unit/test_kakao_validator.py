"""The validator itself: valid bodies pass, each broken rule is caught."""

import copy

import pytest

from devtools.kakao_limits import validate_skill_response

VALID = {
    "version": "2.0",
    "template": {
        "outputs": [
            {
                "basicCard": {
                    "title": "IU",
                    "thumbnail": {"imageUrl": "https://x/i.jpg", "fixedRatio": True},
                    "buttons": [{"label": "듣기", "action": "webLink", "webLinkUrl": "https://x"}],
                }
            },
            {
                "listCard": {
                    "header": {"title": "대표곡"},
                    "items": [{"title": "Good Day", "link": {"web": "https://x"}}],
                }
            },
            {"simpleText": {"text": "안녕"}},
        ],
        "quickReplies": [{"label": "BTS", "action": "message", "messageText": "BTS"}] * 10,
    },
    "data": {"artist": "IU"},
}


def broken(path, value):
    body = copy.deepcopy(VALID)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def test_a_full_valid_body_passes():
    assert validate_skill_response(VALID) == []


def test_emoji_count_two_units():
    ok = broken(["template", "outputs", 2, "simpleText", "text"], "🎵" * 500)
    assert validate_skill_response(ok) == []
    too_long = broken(["template", "outputs", 2, "simpleText", "text"], "🎵" * 501)
    assert validate_skill_response(too_long)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["version"], "1.0", "version"),
        (["template", "outputs"], [], "template.outputs"),
        (["template", "outputs"], [{"simpleText": {"text": "a"}}] * 4, "template.outputs"),
        (["template", "outputs", 2], {"carouselX": {}}, "outputs[2]"),
        (["template", "outputs", 2, "simpleText", "text"], "a" * 1001, "simpleText.text"),
        (["template", "outputs", 0, "basicCard", "thumbnail"], None, "thumbnail"),
        (["template", "outputs", 0, "basicCard", "title"], "a" * 51, "basicCard.title"),
        (
            ["template", "quickReplies"],
            [{"label": "a", "action": "message", "messageText": "a"}] * 11,
            "quickReplies",
        ),
        (
            ["template", "quickReplies", 0],
            {"label": "a" * 15, "action": "message", "messageText": "a"},
            "label",
        ),
        (["template", "quickReplies", 0], {"label": "a", "action": "message"}, "messageText"),
        (
            ["template", "outputs", 0, "basicCard", "buttons"],
            [{"label": "a", "action": "webLink", "webLinkUrl": "javascript:alert(1)"}],
            "webLinkUrl",
        ),
        (
            ["template", "outputs", 0, "basicCard", "buttons"],
            [{"label": "a", "action": "message", "messageText": "a"}] * 3,
            "buttons",
        ),
        (
            ["template", "outputs", 0, "basicCard", "buttons"],
            [{"label": "아홉글자짜리라벨이", "action": "message", "messageText": "a"}] * 2,
            "label",
        ),
        (["template", "outputs", 1, "listCard", "items"], [{"title": "a"}] * 6, "items"),
        (["data"], {"nested": {"a": 1}}, "data.nested"),
        (["data"], {"n": float("nan")}, "body"),
        (["template", "outputs", 2, "simpleText", "text"], "\ud800", "body"),
    ],
)
def test_each_broken_rule_is_named(path, value, where):
    problems = validate_skill_response(broken(path, value))
    assert any(where in problem for problem in problems), problems


@pytest.mark.parametrize("body", [None, [], "text", 3, {"version": "2.0", "template": []}])
def test_garbage_returns_problems_and_never_raises(body):
    assert validate_skill_response(body)
