"""Kakao's callback (approved bots): a first answer that would be cut short says the answer
follows, and the full answer is POSTed to `userRequest.callbackUrl`; on Lambda through an
asynchronous invocation of the function itself, which boto3 sends to a look-alike here."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools.containers import new_container
from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import LambdaContext, kakao_request, proxy_event

from .conftest import ask, card_artist

ARN = "arn:aws:lambda:ap-northeast-2:123456789012:function:kakao-music-skill-SkillFunction-AbC"


class Recorder(ThreadingHTTPServer):
    """A loopback server that keeps what is POSTed to it and answers `status`."""

    def __init__(self, status: int = 200):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.posts: list[tuple[str, dict, dict]] = []  # (path, headers, JSON body)
        self.status = status
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for_posts(self, count: int, seconds: float) -> list:
        ends = time.monotonic() + seconds
        while len(self.posts) < count and time.monotonic() < ends:
            time.sleep(0.05)
        return self.posts


class _RecordingHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append((self.path, dict(self.headers), json.loads(body or b"{}")))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Recorder()
    yield server
    server.shutdown()


@pytest.fixture
def callback_env(env, monkeypatch, spotify):
    monkeypatch.setenv("CALLBACK_HOSTS", "127.0.0.1")  # Kakao's hosts, for a loopback test
    return env


def with_callback(utterance: str, url: str) -> dict:
    body = kakao_request(utterance)
    body["userRequest"]["callbackUrl"] = url
    return body


def test_a_slow_first_answer_follows_through_the_callback(callback_env, spotify, receiver):
    spotify.add_fault("latency", ms=1200)  # every Spotify call: more than the first try allows
    container = new_container()
    started = time.monotonic()
    status, first = ask(container, body=with_callback("아이유", f"{receiver.url}/cb/1"))
    assert time.monotonic() - started < 2.5
    assert first["useCallback"] is True and "찾아보는 중" in first["data"]["text"]
    ((path, _, answer),) = receiver.wait_for_posts(1, 20)
    assert path == "/cb/1" and validate_skill_response(answer) == []
    assert card_artist(answer) == "IU"


def test_an_answer_in_time_needs_no_callback(callback_env, receiver):
    status, body = ask(new_container(), body=with_callback("아이유", f"{receiver.url}/cb/2"))
    assert card_artist(body) == "IU" and "useCallback" not in body
    time.sleep(0.5)
    assert receiver.posts == []


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data", "https://evil.example/cb", "{receiver}/cb"],
    ids=["instance metadata", "another host", "loopback not allowed"],
)
def test_a_callback_url_elsewhere_is_never_posted_to(env, spotify, receiver, url):
    spotify.add_fault("latency", ms=1200)
    status, body = ask(
        new_container(), body=with_callback("아이유", url.format(receiver=receiver.url))
    )
    assert "useCallback" not in body  # answered within the budget as well as it could
    time.sleep(0.5)
    assert receiver.posts == []


class LambdaLikeContext(LambdaContext):
    invoked_function_arn = ARN


def test_on_lambda_the_function_invokes_itself_to_finish(
    callback_env, spotify, receiver, monkeypatch
):
    lambda_service = Recorder(status=202)  # Invoke, InvocationType Event
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_service.url)
    try:
        spotify.add_fault("latency", ms=1200)
        container = new_container()
        body = with_callback("아이유", f"{receiver.url}/cb/3")
        status, first = ask(container, body=body, context=LambdaLikeContext())
        assert first["useCallback"] is True
        ((path, headers, payload),) = lambda_service.wait_for_posts(1, 5)
    finally:
        lambda_service.shutdown()
    assert path.endswith("/invocations") and "SkillFunction" in path
    assert headers.get("X-Amz-Invocation-Type") == "Event"
    assert payload == {"kakao_callback": body}
    assert receiver.posts == []  # nothing delivered by the first invocation
    result = container.lambda_handler(payload, LambdaLikeContext())  # as Lambda runs it
    assert result == {"delivered": True}
    ((_, _, answer),) = receiver.posts
    assert card_artist(answer) == "IU"


def test_the_callback_event_is_refused_over_http(callback_env, receiver):
    event = proxy_event(json.dumps({"kakao_callback": with_callback("아이유", receiver.url)}), {})
    response = new_container().lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 400
    assert receiver.posts == []
