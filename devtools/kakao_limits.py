"""An independent, strict validator of Kakao i OpenBuilder skill 2.0 response bodies.

Limits from ../shared/reference/kakao-skill-v2.md, strictest reading; lengths in UTF-16 units
(what KakaoTalk's JavaScript clients count). `validate_skill_response` never raises.
"""

from __future__ import annotations

import json
from typing import Any

OUTPUTS_MAX = 3
QUICK_REPLIES_MAX = 10
TEXT_MAX = 1000
TITLE_MAX = 50
BASIC_DESCRIPTION_MAX = 230
TEXT_CARD_DESCRIPTION_MAX = 400
LIST_ITEMS_MAX = 5
LIST_ITEM_TEXT_MAX = 50  # no documented number for item title/description: the card title's
LABEL_MAX = 14
LABEL_SIDE_BY_SIDE_MAX = 8
ALT_TEXT_MAX = 50
BUTTON_ACTIONS = {"webLink", "message", "phone", "block", "share", "operator"}
COMPONENTS = {"simpleText", "simpleImage", "textCard", "basicCard", "listCard"}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _text(problems, path, value, limit, required=True):
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{path}: must be a non-empty string")
    elif _units(value) > limit:
        problems.append(f"{path}: {_units(value)} characters, limit {limit}")


def _url(problems, path, value):
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        problems.append(f"{path}: must be an http(s) URL")


def _buttons(problems, path, buttons, horizontal):
    if buttons is None:
        return
    if not isinstance(buttons, list):
        problems.append(f"{path}: must be a list")
        return
    limit = 2 if horizontal else 3
    if len(buttons) > limit:
        problems.append(f"{path}: {len(buttons)} buttons, limit {limit}")
    label_max = LABEL_SIDE_BY_SIDE_MAX if horizontal and len(buttons) == 2 else LABEL_MAX
    for n, button in enumerate(buttons):
        where = f"{path}[{n}]"
        if not isinstance(button, dict):
            problems.append(f"{where}: must be an object")
            continue
        _text(problems, f"{where}.label", button.get("label"), label_max)
        action = button.get("action")
        if action not in BUTTON_ACTIONS:
            problems.append(f"{where}.action: unknown {action!r}")
        elif action == "webLink":
            _url(problems, f"{where}.webLinkUrl", button.get("webLinkUrl"))
        elif action == "message":
            _text(problems, f"{where}.messageText", button.get("messageText"), TEXT_MAX)
        elif action == "block" and not button.get("blockId"):
            problems.append(f"{where}.blockId: required")
        if "extra" in button and not isinstance(button["extra"], dict):
            problems.append(f"{where}.extra: must be an object")


def _thumbnail(problems, path, thumb):
    if not isinstance(thumb, dict):
        problems.append(f"{path}: required object")
        return
    _url(problems, f"{path}.imageUrl", thumb.get("imageUrl"))
    _text(problems, f"{path}.altText", thumb.get("altText"), ALT_TEXT_MAX, required=False)
    if "fixedRatio" in thumb and not isinstance(thumb["fixedRatio"], bool):
        problems.append(f"{path}.fixedRatio: must be a boolean")
    if "link" in thumb and not isinstance(thumb["link"], dict):
        problems.append(f"{path}.link: must be an object")


def _component(problems, path, comp):
    if not isinstance(comp, dict) or len(comp) != 1 or next(iter(comp)) not in COMPONENTS:
        problems.append(f"{path}: must hold exactly one known component")
        return
    kind, body = next(iter(comp.items()))
    where = f"{path}.{kind}"
    if not isinstance(body, dict):
        problems.append(f"{where}: must be an object")
        return
    if kind == "simpleText":
        _text(problems, f"{where}.text", body.get("text"), TEXT_MAX)
    elif kind == "simpleImage":
        _url(problems, f"{where}.imageUrl", body.get("imageUrl"))
        _text(problems, f"{where}.altText", body.get("altText"), ALT_TEXT_MAX)
    elif kind == "textCard":
        if not body.get("title") and not body.get("description"):
            problems.append(f"{where}: title or description required")
        _text(problems, f"{where}.title", body.get("title"), TITLE_MAX, required=False)
        _text(
            problems,
            f"{where}.description",
            body.get("description"),
            TEXT_CARD_DESCRIPTION_MAX,
            required=False,
        )
        _buttons(problems, f"{where}.buttons", body.get("buttons"), False)
    elif kind == "basicCard":
        _thumbnail(problems, f"{where}.thumbnail", body.get("thumbnail"))
        _text(problems, f"{where}.title", body.get("title"), TITLE_MAX, required=False)
        _text(
            problems,
            f"{where}.description",
            body.get("description"),
            BASIC_DESCRIPTION_MAX,
            required=False,
        )
        horizontal = bool(_as_dict(body.get("thumbnail")).get("fixedRatio"))
        _buttons(problems, f"{where}.buttons", body.get("buttons"), horizontal)
    elif kind == "listCard":
        _text(
            problems, f"{where}.header.title", _as_dict(body.get("header")).get("title"), TITLE_MAX
        )
        items = body.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= LIST_ITEMS_MAX:
            problems.append(f"{where}.items: 1 to {LIST_ITEMS_MAX} items required")
            items = items if isinstance(items, list) else []
        for n, item in enumerate(items):
            at = f"{where}.items[{n}]"
            item = _as_dict(item)
            _text(problems, f"{at}.title", item.get("title"), LIST_ITEM_TEXT_MAX)
            _text(
                problems,
                f"{at}.description",
                item.get("description"),
                LIST_ITEM_TEXT_MAX,
                required=False,
            )
            if "imageUrl" in item:
                _url(problems, f"{at}.imageUrl", item["imageUrl"])
            if "link" in item:
                _url(problems, f"{at}.link.web", _as_dict(item["link"]).get("web"))
        _buttons(problems, f"{where}.buttons", body.get("buttons"), True)


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _quick_replies(problems, replies):
    if not isinstance(replies, list):
        problems.append("template.quickReplies: must be a list")
        return
    if len(replies) > QUICK_REPLIES_MAX:
        problems.append(f"template.quickReplies: {len(replies)} replies, limit {QUICK_REPLIES_MAX}")
    for n, reply in enumerate(replies):
        where = f"template.quickReplies[{n}]"
        reply = _as_dict(reply)
        _text(problems, f"{where}.label", reply.get("label"), LABEL_MAX)
        action = reply.get("action")
        if action == "message":
            _text(problems, f"{where}.messageText", reply.get("messageText"), TEXT_MAX)
        elif action == "block":
            if not reply.get("blockId"):
                problems.append(f"{where}.blockId: required")
        else:
            problems.append(f"{where}.action: must be message or block")
        if "extra" in reply and not isinstance(reply["extra"], dict):
            problems.append(f"{where}.extra: must be an object")


def validate_skill_response(body: Any) -> list[str]:
    """Problems with a skill 2.0 response body; an empty list means valid."""
    problems: list[str] = []
    try:
        if not isinstance(body, dict):
            return ["body: must be a JSON object"]
        try:
            json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            problems.append(f"body: not serialisable as JSON/UTF-8 ({error})")
        if body.get("version") != "2.0":
            problems.append('version: must be "2.0"')
        for key in body:
            if key not in ("version", "template", "context", "data", "useCallback"):
                problems.append(f"{key}: unknown top-level key")
        template = body.get("template")
        if template is None and body.get("useCallback") is True:
            return problems
        if not isinstance(template, dict):
            return [*problems, "template: required object"]
        outputs = template.get("outputs")
        if not isinstance(outputs, list) or not 1 <= len(outputs) <= OUTPUTS_MAX:
            problems.append(f"template.outputs: 1 to {OUTPUTS_MAX} components required")
            outputs = outputs if isinstance(outputs, list) else []
        for n, component in enumerate(outputs):
            _component(problems, f"template.outputs[{n}]", component)
        if "quickReplies" in template:
            _quick_replies(problems, template["quickReplies"])
        data = body.get("data")
        if data is not None:
            if not isinstance(data, dict):
                problems.append("data: must be an object")
            else:
                for key, value in data.items():
                    if isinstance(value, (dict, list)):
                        problems.append(f"data.{key}: must be a scalar")
    except Exception as error:  # a validator must answer, whatever it is given
        problems.append(f"body: cannot be validated ({type(error).__name__})")
    return problems
