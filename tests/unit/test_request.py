"""Reading API Gateway events and Kakao skill requests."""

import base64
import hashlib
import json
import time

import pytest

from lambda_function import (
    BadRequest,
    Keys,
    Seal,
    Settings,
    _retry_after_seconds,
    check_api_key,
    param_text,
    read_http_event,
    skill_request_from,
)

KAKAO = {"userRequest": {"utterance": "아이유\n", "user": {"id": "user-1"}}, "action": {}}
IU_ID = "3HqSLMAZ3g3d5poNaI7GOU"
KEYS = Keys.from_settings(Settings(spotify_client_secret="client-secret"))


def parse(body, keys=KEYS):
    return skill_request_from(body, keys)


def sealed_for(user_id, values, keys=KEYS, now=None):
    """An extra as the bot would have signed it in a quick reply to this user."""
    user = parse({"userRequest": {"user": {"id": user_id}}}, keys).user_hash
    return Seal(keys.extras, user, time.time() if now is None else now).close(values)


def rest_event(body, **extra):
    return {"httpMethod": "POST", "path": "/skill", "headers": {}, "body": body, **extra}


def test_rest_http_api_function_url_and_bare_events_read_the_same_body():
    text = json.dumps(KAKAO)
    events = [
        rest_event(text),
        {"version": "2.0", "routeKey": "POST /skill", "headers": {}, "body": text},
        {
            "version": "2.0",
            "routeKey": "$default",
            "requestContext": {"http": {"method": "POST"}},
            "body": base64.b64encode(text.encode()).decode(),
            "isBase64Encoded": True,
        },
        KAKAO,
    ]
    bodies = [read_http_event(event).body for event in events]
    assert all(body == KAKAO for body in bodies)
    assert [read_http_event(event).direct for event in events] == [False, False, False, True]


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        {"unknown": "shape"},
        rest_event(None),
        rest_event(""),
        rest_event("not json"),
        rest_event("%%%", isBase64Encoded=True),
        rest_event(base64.b64encode(b"\xff\xfe").decode(), isBase64Encoded=True),
        rest_event("{" * 100000 + "}" * 100000),
        rest_event(" " * (3 * 1024 * 1024)),
    ],
)
def test_events_that_are_not_requests_are_refused_with_400(event):
    with pytest.raises(BadRequest) as refused:
        read_http_event(event)
    assert refused.value.status == 400


def test_header_names_are_matched_in_any_case():
    request = read_http_event(rest_event("{}", headers={"X-Api-Key": "s3cret"}))
    check_api_key(request, "s3cret")
    with pytest.raises(BadRequest) as refused:
        check_api_key(read_http_event(rest_event("{}", headers={"x-api-key": "wrong"})), "s3cret")
    assert refused.value.status == 401


def test_no_configured_key_means_no_check():
    check_api_key(read_http_event(rest_event("{}")), "")


def tap(extra, user_id="user-1"):
    return {
        "userRequest": {"utterance": "IU", "user": {"id": user_id}},
        "action": {"clientExtra": extra, "params": {"solo": "무시"}},
    }


def test_the_artist_comes_from_our_signed_button_extra_first():
    extra = sealed_for("user-1", {"artist_id": IU_ID, "artist_name": "IU"})
    request = parse(tap(extra))
    assert (request.artist_id, request.query) == (IU_ID, "IU")


def test_an_unsigned_tampered_foreign_or_expired_extra_is_plain_text():
    values = {"artist_id": IU_ID, "artist_name": "IU"}
    signed = sealed_for("user-1", values)
    other_key = Keys.from_settings(Settings(signing_key="another bot"))
    for extra in (
        values,  # unsigned: what a forger sends
        {**signed, "artist_id": "0" * 22},  # tampered value
        {**signed, "confirms": "아이유"},  # a value added
        {**signed, "exp": str(int(signed["exp"]) + 1)},  # a later expiry
        {**signed, "sig": signed["sig"][:-1] + ("1" if signed["sig"].endswith("0") else "0")},
        {**signed, "sig": "가" * 32},  # not ASCII: compared without an error
        {**signed, "exp": "9" * 5000},  # too long to read as a number
        {**signed, "exp": "²"},  # a digit to str.isdigit, not to int()
        {**signed, "exp": "١٢٣"},  # Arabic-Indic digits: never what the bot signs
        sealed_for("user-1", values, keys=other_key),  # another bot's key
        sealed_for("user-1", values, now=time.time() - 31 * 86400),  # expired
    ):
        request = parse(tap(extra))
        assert (request.artist_id, request.artist_name, request.confirms_alias) == (None, "", "")
        assert request.query == "무시"  # read as plain text: the parameters, then the utterance
    assert parse(tap(signed, user_id="user-2")).artist_id is None  # another user's button


def test_artist_parameters_come_in_a_fixed_order_each_value_before_the_text_typed():
    body = {
        "userRequest": {"utterance": "발화"},
        "action": {
            "params": {"group": " 오마이걸 ", "solo": "원문"},
            "detailParams": {"solo": {"origin": "원문", "value": "아이유"}},
        },
    }
    assert parse(body).entities == ("아이유", "오마이걸")
    assert parse(body).query == "아이유"
    del body["action"]["params"]
    assert parse(body).query == "아이유"
    del body["action"]["detailParams"]
    assert parse(body).query == "발화"


def test_a_malformed_extra_id_is_ignored_even_when_signed():
    extra = sealed_for("user-1", {"artist_id": "'; DROP TABLE artists; --"})
    assert parse(tap(extra)).artist_id is None


def test_nulls_and_wrong_types_everywhere_give_an_empty_request():
    body = {"userRequest": None, "action": {"params": [], "detailParams": "x", "clientExtra": 5}}
    request = parse(body)
    assert (request.query, request.artist_id, request.user_hash) == ("", None, "")


def test_user_keys_are_hashed_with_a_secret_pepper():
    request = parse(KAKAO)
    assert len(request.user_hash) == 16 and "user-1" not in request.user_hash
    assert request.user_hash != hashlib.sha256(b"user-1").hexdigest()[:16]  # not guessable
    other = Keys.from_settings(Settings(spotify_client_secret="another secret"))
    assert parse(KAKAO, other).user_hash != request.user_hash
    assert parse(KAKAO).user_hash == request.user_hash  # stable: users can be counted


def test_stringified_system_entities_are_unwrapped():
    assert param_text('{"value": "아이유", "resolvedValue": "아이유"}') == "아이유"
    assert param_text("{not json") == "{not json"


def test_settings_read_the_environment_and_hide_secrets():
    settings = Settings.from_env(
        {
            "SPOTIFY_CLIENT_ID": "id",
            "SPOTIFY_CLIENT_SECRET": "very-secret",
            "MYSQL_PASSWORD": "db-secret",
            "SKILL_API_KEY": "key-secret",
            "MYSQL_PORT": "not a number",
            "MEMORY_CACHE_ENTRIES": "²",  # a digit to str.isdigit, not to int()
            "SPOTIFY_API_URL": "http://127.0.0.1:1/v1",
        }
    )
    assert settings.spotify_configured
    assert settings.mysql_port == 3306
    assert settings.memory_cache_entries == 4096
    assert Settings.from_env({"MEMORY_CACHE_ENTRIES": "0"}).memory_cache_entries == 0  # off
    assert settings.spotify_api_url == "http://127.0.0.1:1/v1/"
    assert not settings.mysql_host and not settings.dynamodb_table
    for secret in ("very-secret", "db-secret", "key-secret"):
        assert secret not in repr(settings)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("0", 1.0), ("99999999", 900.0), ("nan", 30.0), ("inf", 900.0), (None, 30.0)],
)
def test_a_retry_after_is_honoured_up_to_15_minutes(header, seconds):
    assert _retry_after_seconds(header) == seconds
