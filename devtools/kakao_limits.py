"""A strict, independent validator for Kakao i OpenBuilder skill 2.0 response bodies.

Every limit comes from /work/shared/reference/kakao-skill-v2.md, read as strictly as it
allows. Lengths are counted in UTF-16 code units, as a JavaScript client counts them (an
emoji counts 2). Problems read "<path>: <what is wrong>", with "$" for the body itself.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

# Every number below is from kakao-skill-v2.md, "The response" and "Components and limits".
OUTPUTS_MIN, OUTPUTS_MAX = 1, 3  # template.outputs: "1 to 3 components"
QUICK_REPLIES_MAX = 10  # template.quickReplies: "at most 10"
SIMPLE_TEXT_MAX = 1000  # simpleText.text
ALT_TEXT_MAX = 50  # simpleImage.altText and Thumbnail.altText
TITLE_MAX = 50  # textCard, basicCard, listCard header and listCard item titles
TEXT_CARD_DESCRIPTION_MAX = 400  # textCard.description
TEXT_CARD_DESCRIPTION_IN_CAROUSEL_MAX = 128  # textCard.description inside a carousel
BASIC_CARD_DESCRIPTION_MAX = 230  # basicCard.description
COMMERCE_TITLE_MAX = 30  # commerceCard.title
COMMERCE_DESCRIPTION_MAX = 40  # commerceCard.description
COMMERCE_THUMBNAILS = 1  # commerceCard: "exactly 1 thumbnail"
LIST_ITEMS_MAX = 5  # listCard.items
LIST_ITEMS_IN_CAROUSEL_MAX = 4  # listCard.items inside a carousel
LIST_ITEM_DESCRIPTION_MAX = 50  # not in the reference: assumed equal to the item title limit
ITEM_LIST_MAX = 10  # itemCard.itemList
ITEM_LIST_IN_CAROUSEL_MAX = 5  # itemCard.itemList inside a carousel
ITEM_TITLE_MAX = 6  # itemCard.itemList[].title
CAROUSEL_ITEMS_MAX = 10  # carousel.items
CAROUSEL_LIST_CARDS_MAX = 5  # carousel.items when its type is listCard
BUTTONS_VERTICAL_MAX = 3  # Button: "at most 3 buttons (vertical)"
BUTTONS_HORIZONTAL_MAX = 2  # Button: "or 2 (horizontal)", i.e. Thumbnail.fixedRatio true
LABEL_MAX = 14  # Button.label; Quick reply: "keep it ≤ 14"
LABEL_SIDE_BY_SIDE_MAX = 8  # Button.label "when two sit side by side"
LIFESPAN_MIN = 1  # context.values[].lifeSpan: the reference names no bounds

TOP_LEVEL_KEYS = ("version", "template", "context", "data", "useCallback")
CAROUSEL_TYPES_WITHOUT_HEADER = ("listCard", "textCard")
# action -> the field it needs (None: nothing more)
BUTTON_ACTIONS = {
    "webLink": "webLinkUrl",
    "message": "messageText",
    "phone": "phoneNumber",
    "block": "blockId",
    "share": None,
    "operator": None,
}
QUICK_REPLY_ACTIONS = {"message": "messageText", "block": "blockId"}
LIST_ITEM_ACTIONS = QUICK_REPLY_ACTIONS
URL_FIELDS = ("webLinkUrl",)
LINK_FIELDS = ("web", "pc", "mobile")
DATA_SCALARS = (str, int, float, bool, type(None))  # {{#webhook.key}} can only show scalars
JSON_KEYS = (str, int, float, bool, type(None))  # what json.dumps accepts as an object key
JSON_KINDS = {type(None): "null", bool: "boolean", int: "number", float: "number"}
JSON_KINDS |= {str: "string", list: "list", dict: "object"}

Problems = Iterator[str]
Check = Callable[[dict, str], Problems]


def validate_skill_response(body: Any) -> list[str]:
    """Every problem in `body`, as "<path>: <problem>"; an empty list means valid."""
    try:
        return list(_body(body))
    except Exception as error:  # garbage (say, a key whose repr raises) must not crash a test
        return [_problem("", f"could not be inspected ({type(error).__name__})")]


def assert_valid_skill_response(body: Any) -> None:
    problems = validate_skill_response(body)
    if problems:
        raise AssertionError("invalid Kakao skill response:\n" + "\n".join(problems))


# ---- Paths, messages and field checks -------------------------------------------------------


def _key(path: str, key: Any) -> str:
    if not isinstance(key, str):
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if path else key


def _index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _problem(path: str, message: str) -> str:
    return f"{path or '$'}: {message}"


def _kind(value: Any) -> str:
    return JSON_KINDS.get(type(value), type(value).__name__)


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate counts 1, as in JavaScript (it is reported elsewhere)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_web_url(url: str) -> bool:
    # urlsplit forgives blanks and control characters; a client may not
    if not url.isprintable() or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _missing(key: str, path: str, required: bool) -> Problems:
    if required:
        yield _problem(_key(path, key), "required")


def _string(
    obj: dict, key: str, path: str, *, limit: int | None = None, required: bool = False
) -> Problems:
    """A string field of at most `limit` UTF-16 units; a required one must not be blank."""
    if key not in obj:
        yield from _missing(key, path, required)
        return
    value, at = obj[key], _key(path, key)
    if not isinstance(value, str):
        yield _problem(at, f"must be a string, got {_kind(value)}")
    elif required and not value.strip():
        yield _problem(at, "must not be empty")
    elif limit is not None and _utf16_units(value) > limit:
        yield _problem(at, f"{_utf16_units(value)} characters, limit {limit}")


def _url(obj: dict, key: str, path: str, *, required: bool = False) -> Problems:
    problems = list(_string(obj, key, path, required=required))
    yield from problems
    if not problems and key in obj and not _is_web_url(obj[key]):
        yield _problem(_key(path, key), f"not an http(s) URL: {reprlib.repr(obj[key])}")


def _exact(obj: dict, key: str, path: str, expected: str) -> Problems:
    """A required field with exactly one allowed value."""
    if key not in obj:
        yield from _missing(key, path, required=True)
    elif not (isinstance(obj[key], str) and obj[key] == expected):
        yield _problem(_key(path, key), f"must be {expected!r}, got {reprlib.repr(obj[key])}")


def _integer(obj: dict, key: str, path: str, *, least: int, required: bool = False) -> Problems:
    if key not in obj:
        yield from _missing(key, path, required)
        return
    value, at = obj[key], _key(path, key)
    if isinstance(value, bool) or not isinstance(value, int):
        yield _problem(at, f"must be an integer, got {_kind(value)}")
    elif value < least:
        yield _problem(at, f"{value}, must be at least {least}")


def _boolean(obj: dict, key: str, path: str) -> Problems:
    if key in obj and not isinstance(obj[key], bool):
        yield _problem(_key(path, key), f"must be true or false, got {_kind(obj[key])}")


def _object(
    obj: dict, key: str, path: str, check: Check | None = None, *, required: bool = False
) -> Problems:
    if key not in obj:
        yield from _missing(key, path, required)
        return
    value, at = obj[key], _key(path, key)
    if not isinstance(value, dict):
        yield _problem(at, f"must be an object, got {_kind(value)}")
    elif check:
        yield from check(value, at)


def _list(
    obj: dict,
    key: str,
    path: str,
    check: Check,
    *,
    least: int = 0,
    most: float = math.inf,
    required: bool = False,
) -> Problems:
    """A list of objects, each passed to `check`."""
    if key not in obj:
        yield from _missing(key, path, required)
        return
    items, at = obj[key], _key(path, key)
    if not isinstance(items, list):
        yield _problem(at, f"must be a list, got {_kind(items)}")
        return
    if len(items) < least:
        yield _problem(at, f"{len(items)} entries, at least {least}")
    if len(items) > most:
        yield _problem(at, f"{len(items)} entries, limit {most}")
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield from check(item, _index(at, index))
        else:
            yield _problem(_index(at, index), f"must be an object, got {_kind(item)}")


def _action(obj: dict, path: str, actions: dict[str, str | None], *, required: bool) -> Problems:
    if "action" not in obj:
        yield from _missing("action", path, required)
        return
    action = obj["action"]
    if not (isinstance(action, str) and action in actions):
        allowed = ", ".join(actions)
        yield _problem(
            _key(path, "action"), f"must be one of {allowed}, got {reprlib.repr(action)}"
        )
        return
    needed = actions[action]
    if needed in URL_FIELDS:
        yield from _url(obj, needed, path, required=True)
    elif needed:
        yield from _string(obj, needed, path, required=True)


# ---- Common objects --------------------------------------------------------------------------


def _extra(obj: dict, path: str) -> Problems:
    yield from _object(obj, "extra", path)  # it comes back as action.clientExtra, a map


def _link(link: dict, path: str) -> Problems:
    for key in LINK_FIELDS:
        yield from _url(link, key, path)


def _thumbnail(thumbnail: dict, path: str) -> Problems:
    yield from _url(thumbnail, "imageUrl", path, required=True)
    yield from _string(thumbnail, "altText", path, limit=ALT_TEXT_MAX)
    yield from _object(thumbnail, "link", path, _link)
    yield from _boolean(thumbnail, "fixedRatio", path)


def _is_fixed_ratio(thumbnail: Any) -> bool:
    return isinstance(thumbnail, dict) and thumbnail.get("fixedRatio") is True


def _buttons(card: dict, path: str, *, horizontal: bool) -> Problems:
    """Up to 3 stacked buttons, or 2 side by side whose labels must then be shorter."""
    buttons = card.get("buttons")
    side_by_side = horizontal and isinstance(buttons, list) and len(buttons) >= 2
    label_max = LABEL_SIDE_BY_SIDE_MAX if side_by_side else LABEL_MAX

    def button(item: dict, at: str) -> Problems:
        yield from _string(item, "label", at, limit=label_max, required=True)
        yield from _action(item, at, BUTTON_ACTIONS, required=True)
        yield from _extra(item, at)

    most = BUTTONS_HORIZONTAL_MAX if horizontal else BUTTONS_VERTICAL_MAX
    yield from _list(card, "buttons", path, button, most=most)


def _quick_reply(reply: dict, path: str) -> Problems:
    yield from _string(reply, "label", path, limit=LABEL_MAX, required=True)
    yield from _action(reply, path, QUICK_REPLY_ACTIONS, required=True)
    yield from _extra(reply, path)


# ---- Components: each takes (card, path, in_carousel) ------------------------------------


def _simple_text(card: dict, path: str, in_carousel: bool = False) -> Problems:
    yield from _string(card, "text", path, limit=SIMPLE_TEXT_MAX, required=True)


def _simple_image(card: dict, path: str, in_carousel: bool = False) -> Problems:
    yield from _url(card, "imageUrl", path, required=True)
    yield from _string(card, "altText", path, limit=ALT_TEXT_MAX, required=True)


def _text_card(card: dict, path: str, in_carousel: bool = False) -> Problems:
    if not (_is_filled(card.get("title")) or _is_filled(card.get("description"))):
        yield _problem(path, "needs a non-empty title or description")
    limit = TEXT_CARD_DESCRIPTION_IN_CAROUSEL_MAX if in_carousel else TEXT_CARD_DESCRIPTION_MAX
    yield from _string(card, "title", path, limit=TITLE_MAX)
    yield from _string(card, "description", path, limit=limit)
    yield from _buttons(card, path, horizontal=False)


def _basic_card(card: dict, path: str, in_carousel: bool = False) -> Problems:
    yield from _object(card, "thumbnail", path, _thumbnail, required=True)
    yield from _string(card, "title", path, limit=TITLE_MAX)
    yield from _string(card, "description", path, limit=BASIC_CARD_DESCRIPTION_MAX)
    yield from _buttons(card, path, horizontal=_is_fixed_ratio(card.get("thumbnail")))


def _commerce_card(card: dict, path: str, in_carousel: bool = False) -> Problems:
    yield from _string(card, "title", path, limit=COMMERCE_TITLE_MAX)
    yield from _string(card, "description", path, limit=COMMERCE_DESCRIPTION_MAX)
    yield from _integer(card, "price", path, least=0, required=True)
    yield from _exact(card, "currency", path, "won")
    yield from _list(
        card,
        "thumbnails",
        path,
        _thumbnail,
        least=COMMERCE_THUMBNAILS,
        most=COMMERCE_THUMBNAILS,
        required=True,
    )
    thumbnails = card.get("thumbnails")
    first = thumbnails[0] if isinstance(thumbnails, list) and thumbnails else None
    yield from _buttons(card, path, horizontal=_is_fixed_ratio(first))


def _list_header(header: dict, path: str) -> Problems:
    yield from _string(header, "title", path, limit=TITLE_MAX, required=True)


def _list_item(item: dict, path: str) -> Problems:
    yield from _string(item, "title", path, limit=TITLE_MAX, required=True)
    yield from _string(item, "description", path, limit=LIST_ITEM_DESCRIPTION_MAX)
    yield from _url(item, "imageUrl", path)
    yield from _object(item, "link", path, _link)
    yield from _action(item, path, LIST_ITEM_ACTIONS, required=False)
    yield from _extra(item, path)


def _list_card(card: dict, path: str, in_carousel: bool = False) -> Problems:
    most = LIST_ITEMS_IN_CAROUSEL_MAX if in_carousel else LIST_ITEMS_MAX
    yield from _object(card, "header", path, _list_header, required=True)
    yield from _list(card, "items", path, _list_item, least=1, most=most, required=True)
    # strictest reading: a listCard's buttons sit side by side, so at most 2
    yield from _buttons(card, path, horizontal=True)


def _titled(obj: dict, path: str) -> Problems:
    yield from _string(obj, "title", path, required=True)


def _item_list_entry(item: dict, path: str) -> Problems:
    yield from _string(item, "title", path, limit=ITEM_TITLE_MAX, required=True)
    yield from _string(item, "description", path, required=True)


def _item_card(card: dict, path: str, in_carousel: bool = False) -> Problems:
    if "head" in card and "profile" in card:
        yield _problem(path, "head and profile cannot both be present")
    yield from _object(card, "head", path, _titled)
    yield from _object(card, "profile", path, _titled)
    yield from _object(card, "thumbnail", path, _thumbnail)
    most = ITEM_LIST_IN_CAROUSEL_MAX if in_carousel else ITEM_LIST_MAX
    yield from _list(card, "itemList", path, _item_list_entry, least=1, most=most, required=True)
    yield from _buttons(card, path, horizontal=_is_fixed_ratio(card.get("thumbnail")))


CAROUSEL_CHECKS = {
    "basicCard": _basic_card,
    "commerceCard": _commerce_card,
    "listCard": _list_card,
    "itemCard": _item_card,
    "textCard": _text_card,
}


def _carousel_header(header: dict, path: str) -> Problems:
    yield from _object(header, "thumbnail", path, _thumbnail)


def _carousel_thumbnails(carousel: dict) -> Iterator[Any]:
    header = carousel.get("header")
    if isinstance(header, dict):
        yield header.get("thumbnail")
    items = carousel.get("items")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            yield item.get("thumbnail")
            thumbnails = item.get("thumbnails")
            yield from thumbnails if isinstance(thumbnails, list) else []


def _carousel(carousel: dict, path: str, in_carousel: bool = False) -> Problems:
    kind = carousel.get("type")
    if not (isinstance(kind, str) and kind in CAROUSEL_CHECKS):
        allowed = ", ".join(CAROUSEL_CHECKS)
        yield _problem(_key(path, "type"), f"must be one of {allowed}, got {reprlib.repr(kind)}")
        return  # the items cannot be checked without knowing what they are

    def item(card: dict, at: str) -> Problems:
        yield from CAROUSEL_CHECKS[kind](card, at, in_carousel=True)

    most = CAROUSEL_LIST_CARDS_MAX if kind == "listCard" else CAROUSEL_ITEMS_MAX
    yield from _list(carousel, "items", path, item, least=1, most=most, required=True)
    if "header" in carousel and kind in CAROUSEL_TYPES_WITHOUT_HEADER:
        yield _problem(_key(path, "header"), f"not allowed in a {kind} carousel")
    else:
        yield from _object(carousel, "header", path, _carousel_header)
    # every image in one carousel shares one ratio; an absent fixedRatio is Kakao's false
    ratios = {_is_fixed_ratio(thumbnail) for thumbnail in _carousel_thumbnails(carousel)}
    if len(ratios) > 1:
        yield _problem(path, "thumbnails mix fixedRatio true and false")


COMPONENT_CHECKS = {
    "simpleText": _simple_text,
    "simpleImage": _simple_image,
    "carousel": _carousel,
    **CAROUSEL_CHECKS,
}


def _component(component: dict, path: str) -> Problems:
    names = list(component)
    if len(names) != 1:
        yield _problem(path, f"must hold exactly one component, got {len(names)} keys")
    elif names[0] not in COMPONENT_CHECKS:
        yield _problem(path, f"unknown component {reprlib.repr(names[0])}")
    else:
        yield from _object(component, names[0], path, COMPONENT_CHECKS[names[0]])


# ---- The body --------------------------------------------------------------------------------


def _template(template: dict, path: str) -> Problems:
    yield from _list(
        template, "outputs", path, _component, least=OUTPUTS_MIN, most=OUTPUTS_MAX, required=True
    )
    yield from _list(template, "quickReplies", path, _quick_reply, most=QUICK_REPLIES_MAX)


def _string_map(params: dict, path: str) -> Problems:
    for key, value in params.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            yield _problem(_key(path, key), f"must map string to string, got {_kind(value)}")


def _context_value(value: dict, path: str) -> Problems:
    yield from _string(value, "name", path, required=True)
    yield from _integer(value, "lifeSpan", path, least=LIFESPAN_MIN, required=True)
    yield from _object(value, "params", path, _string_map)


def _context(context: dict, path: str) -> Problems:
    yield from _list(context, "values", path, _context_value, required=True)


def _data(data: dict, path: str) -> Problems:
    for key, value in data.items():
        at = _key(path, key)
        if not isinstance(key, str):
            yield _problem(at, "keys must be strings")
        if not isinstance(value, DATA_SCALARS):
            yield _problem(at, f"must be a string, number, boolean or null, got {_kind(value)}")


def _has_lone_surrogate(text: str) -> bool:
    return not text.isascii() and any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def _json_key_problems(obj: dict, path: str) -> Problems:
    for key in obj:
        if not isinstance(key, JSON_KEYS):
            yield _problem(_key(path, key), f"a {type(key).__name__} key is not JSON")
        elif isinstance(key, str) and _has_lone_surrogate(key):
            yield _problem(_key(path, key), "key has a lone surrogate: not encodable as UTF-8")


def _json_problems(body: Any) -> Problems:
    """Where `body` stops being JSON (or UTF-8); iterative, so deep nesting cannot overflow."""
    stack, seen = [("", body)], set()
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                yield _problem(path, "lone surrogate: not encodable as UTF-8")
        elif isinstance(value, float):
            if not math.isfinite(value):
                yield _problem(path, f"{value} is not valid JSON")
        elif isinstance(value, dict | list | tuple):
            if id(value) in seen:  # shared or circular: looking once is enough
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                yield from _json_key_problems(value, path)
                children = [(_key(path, key), child) for key, child in value.items()]
            else:
                children = [(_index(path, i), child) for i, child in enumerate(value)]
            stack.extend(reversed(children))  # reversed: report in document order
        elif not isinstance(value, bool | int | type(None)):
            yield _problem(path, f"{type(value).__name__} is not a JSON value")


def _serialisable(body: dict) -> Problems:
    try:
        json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:  # UnicodeError is a ValueError
        # json's own message names no place: find it; a cycle is only json's to report
        yield from list(_json_problems(body)) or [_problem("", f"not JSON: {error}")]


def _body(body: Any) -> Problems:
    if not isinstance(body, dict):
        yield _problem("", f"must be a JSON object, got {_kind(body)}")
        return
    for key in body:
        if key not in TOP_LEVEL_KEYS:
            yield _problem("", f"unknown top-level key {reprlib.repr(key)}")
    yield from _exact(body, "version", "", "2.0")
    yield from _boolean(body, "useCallback", "")
    # a callback acknowledgement may come without a template; every other answer needs one
    needs_template = body.get("useCallback") is not True
    yield from _object(body, "template", "", _template, required=needs_template)
    yield from _object(body, "context", "", _context)
    yield from _object(body, "data", "", _data)
    yield from _serialisable(body)
