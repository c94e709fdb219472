"""Reading API Gateway events and Kakao skill requests."""

import base64
import json

import pytest

from lambda_function import (
    BadRequest,
    Settings,
    check_api_key,
    param_text,
    read_http_event,
    skill_request_from,
)

KAKAO = {"userRequest": {"utterance": "아이유\n", "user": {"id": "user-1"}}, "action": {}}
IU_ID = "3HqSLMAZ3g3d5poNaI7GOU"


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


def test_the_artist_comes_from_our_button_extra_first():
    request = skill_request_from(
        {
            "userRequest": {"utterance": "IU"},
            "action": {
                "clientExtra": {"artist_id": IU_ID, "artist_name": "IU"},
                "params": {"solo": "무시"},
            },
        }
    )
    assert (request.artist_id, request.query) == (IU_ID, "IU")


def test_artist_parameters_come_in_a_fixed_order_each_value_before_the_text_typed():
    body = {
        "userRequest": {"utterance": "발화"},
        "action": {
            "params": {"group": " 오마이걸 ", "solo": "원문"},
            "detailParams": {"solo": {"origin": "원문", "value": "아이유"}},
        },
    }
    assert skill_request_from(body).entities == ("아이유", "오마이걸")
    assert skill_request_from(body).query == "아이유"
    del body["action"]["params"]
    assert skill_request_from(body).query == "아이유"
    del body["action"]["detailParams"]
    assert skill_request_from(body).query == "발화"


def test_a_forged_or_malformed_extra_id_is_ignored():
    body = {"action": {"clientExtra": {"artist_id": "'; DROP TABLE artists; --"}}}
    assert skill_request_from(body).artist_id is None


def test_nulls_and_wrong_types_everywhere_give_an_empty_request():
    body = {"userRequest": None, "action": {"params": [], "detailParams": "x", "clientExtra": 5}}
    request = skill_request_from(body)
    assert (request.query, request.artist_id, request.user_hash) == ("", None, "")


def test_user_keys_are_hashed():
    request = skill_request_from(KAKAO)
    assert request.user_hash and "user-1" not in request.user_hash


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
            "SPOTIFY_API_URL": "http://127.0.0.1:1/v1",
        }
    )
    assert settings.spotify_configured
    assert settings.mysql_port == 3306
    assert settings.spotify_api_url == "http://127.0.0.1:1/v1/"
    assert not settings.mysql_host and not settings.dynamodb_table
    for secret in ("very-secret", "db-secret", "key-secret"):
        assert secret not in repr(settings)
