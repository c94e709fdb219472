"""The chat preview `make run` serves on GET /: a KakaoTalk-like chat in a real headless
Chromium (Debian's, driven by Playwright), against the skill on the real local servers.

Where no Chromium is installed the browser tests are skipped and say so; the page's HTTP
side (files, /limits, the API key) is tested without a browser.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import CHAT_DIR, PREVIEW_HEADER, kakao_request, make_handler_class

from .conftest import REPO, component, new_container

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PREVIEW_USER = "preview-user"
PREVIEW_TOKEN = re.compile(r'<meta name="chat-preview-token" content="([^"]*)">')
SKILL_KEY = "local-secret"
SCREENSHOT = REPO / "build" / "chat-preview.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ---- the gateway, as `make run` serves it --------------------------------------------------


class Recorder:
    """Wraps a lambda handler; keeps every event it was given."""

    def __init__(self, handler):
        self.handler = handler
        self.events: list[dict] = []

    def __call__(self, event, context):
        self.events.append(event)
        return self.handler(event, context)

    def bodies(self) -> list[dict]:
        return [json.loads(event["body"]) for event in self.events]


@contextlib.contextmanager
def gateway(handler) -> Iterator[str]:
    """devtools/local_gateway.py's server on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler_class(handler))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def fixed_answer(answers: dict[str, dict], status: int = 200):
    """A stand-in lambda handler: the answer for each utterance, as API Gateway returns it."""

    def handler(event, context):
        utterance = json.loads(event["body"])["userRequest"]["utterance"]
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/json; charset=utf-8"},
            "body": json.dumps(answers[utterance], ensure_ascii=False),
        }

    return handler


def http_request(base: str, method: str, path: str, body: bytes | None = None, headers=None):
    """(status, headers, body) for a raw path: http.client sends it exactly as given."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# ---- the page over HTTP (no browser) -------------------------------------------------------


def test_page_is_served_as_utf8_with_its_own_files_only():
    with gateway(fixed_answer({})) as base:
        status, headers, body = http_request(base, "GET", "/")
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<meta charset="utf-8">' in body.decode("utf-8")
        assert "음악 챗봇" in body.decode("utf-8")
        # the page may load nothing but itself (images are the answers' content)
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        for path, kind in [("/chat.css", "text/css"), ("/chat.js", "text/javascript")]:
            status, headers, _ = http_request(base, "GET", path)
            assert (status, headers["Content-Type"]) == (200, f"{kind}; charset=utf-8")


@pytest.mark.parametrize(
    "path",
    [
        "/../lambda_function.py",
        "/%2e%2e/lambda_function.py",
        "/..%2flambda_function.py",
        "/chat/../../lambda_function.py",
        "/../devtools/local_gateway.py",
        "/index.html/../../README.md",
        "//etc/passwd",
        "/local_gateway.py",
        "/kakao_limits.py",
        "/chat",
        "/missing.js",
    ],
)
def test_nothing_outside_the_page_is_served(path):
    with gateway(fixed_answer({})) as base:
        status, _, body = http_request(base, "GET", path)
    assert status == 404
    assert b"lambda_handler" not in body and b"root:" not in body


def test_skill_endpoint_is_unchanged():
    answer = {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "안녕"}}]}}
    recorder = Recorder(fixed_answer({"hi": answer}))
    with gateway(recorder) as base:
        assert http_request(base, "GET", "/skill")[0] == 405
        assert http_request(base, "POST", "/elsewhere", b"{}")[0] == 404
        request = json.dumps(kakao_request("hi")).encode()
        status, _, body = http_request(base, "POST", "/skill", request)
    assert (status, json.loads(body)) == (200, answer)
    assert recorder.bodies() == [kakao_request("hi")]


def test_limits_endpoint_is_the_validator():
    valid = {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "안녕"}}]}}
    broken = {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "가" * 1001}}]}}
    with gateway(fixed_answer({})) as base:
        results = [
            json.loads(http_request(base, "POST", "/limits", payload)[2])["problems"]
            for payload in (
                json.dumps(valid).encode(),
                json.dumps(broken, ensure_ascii=False).encode(),
                b"{not json",
            )
        ]
    assert results[0] == []
    assert results[1] == validate_skill_response(broken) != []
    assert results[2][0].startswith("$: not JSON")


def page_token(base: str, host: str | None = None) -> str:
    """The token GET / hands the page, read from the meta tag as chat.js reads it."""
    _, _, body = http_request(base, "GET", "/", headers={"Host": host} if host else None)
    match = PREVIEW_TOKEN.search(body.decode("utf-8"))
    assert match, "index.html has no chat-preview-token meta tag"
    return match[1]


def header(event: dict, name: str) -> str | None:
    return {k.lower(): v for k, v in event["headers"].items()}.get(name.lower())


def post_skill(base: str, recorder: Recorder, headers: dict) -> tuple[int, bool, str | None]:
    """POST /skill: (status, whether the gateway says it added the key, the key forwarded)."""
    request = json.dumps(kakao_request("아이유")).encode()
    status, answer_headers, _ = http_request(base, "POST", "/skill", request, headers)
    added = answer_headers.get("X-Chat-Preview-Api-Key") == "added"
    return status, added, header(recorder.events[-1], "x-api-key")


def test_the_page_gets_the_api_key_that_openbuilder_would_send(env, monkeypatch):
    monkeypatch.setenv("SKILL_API_KEY", SKILL_KEY)
    recorder = Recorder(new_container().lambda_handler)
    with gateway(recorder) as base:
        localhost = f"localhost:{urlsplit(base).port}"
        token = page_token(base)
        assert len(token) >= 32 and page_token(base, localhost) == token
        page = {PREVIEW_HEADER: token, "Origin": base}
        by_name = {PREVIEW_HEADER: token, "Origin": f"http://{localhost}", "Host": localhost}
        results = [
            post_skill(base, recorder, {}),  # curl stays unauthenticated
            post_skill(base, recorder, page),
            post_skill(base, recorder, by_name),
            post_skill(base, recorder, {PREVIEW_HEADER: token}),  # no Origin: not a browser
            post_skill(base, recorder, {**page, "x-api-key": "typed"}),  # forwarded as typed
            post_skill(base, recorder, {**page, "x-api-key": SKILL_KEY}),
        ]
    assert results == [
        (401, False, None),
        (200, True, SKILL_KEY),
        (200, True, SKILL_KEY),
        (200, True, SKILL_KEY),
        (401, False, "typed"),
        (200, False, SKILL_KEY),
    ]


def test_no_other_caller_gets_the_api_key(env, monkeypatch):
    """Any web page can send X-Chat-Preview, and a DNS-rebound name reaches 127.0.0.1 too:
    without this run's token, from this gateway's origin and Host, no key is added."""
    monkeypatch.setenv("SKILL_API_KEY", SKILL_KEY)
    recorder = Recorder(new_container().lambda_handler)
    with gateway(recorder) as base:
        port = urlsplit(base).port
        token = page_token(base)
        evil = f"evil.example:{port}"
        assert page_token(base, evil) == ""  # a rebound page is not handed the token
        own = {PREVIEW_HEADER: token, "Origin": base}
        refused = {
            "the old fixed value": {**own, PREVIEW_HEADER: "1"},
            "a wrong token": {**own, PREVIEW_HEADER: secrets.token_urlsafe(24)},
            "an empty token": {**own, PREVIEW_HEADER: ""},
            "the token and more": {**own, PREVIEW_HEADER: token + "x"},
            "a foreign page": {**own, "Origin": "http://evil.example"},
            "another local port": {**own, "Origin": f"http://127.0.0.1:{port + 1}"},
            "an https origin": {**own, "Origin": f"https://127.0.0.1:{port}"},
            "an opaque origin": {**own, "Origin": "null"},
            "a foreign Host": {**own, "Host": evil},
            "a rebound page": {**own, "Origin": f"http://{evil}", "Host": evil},
            "a Host on another port": {**own, "Host": f"127.0.0.1:{port + 1}"},
            "no Host": {PREVIEW_HEADER: token, "Host": ""},
        }
        results = {name: post_skill(base, recorder, sent) for name, sent in refused.items()}
    assert results == dict.fromkeys(refused, (401, False, None))


def test_make_run_prints_the_page_and_serves_it():
    """`make run` as a developer starts it: demo Spotify, memory only, on a free port."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SPOTIFY_", "MYSQL_", "DYNAMODB_", "SKILL_API_KEY", "SECRET_"))
    }
    command = [sys.executable, "-m", "devtools.local_gateway", "--port", "0"]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Ctrl-C stops it." not in lines:
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line.strip())
        page = next(line for line in lines if line.startswith("Chat preview"))
        url = re.fullmatch(
            r"Chat preview \(open it in a browser\): (http://127\.0\.0\.1:\d+/)", page
        )
        assert url, page
        status, headers, body = http_request(url[1].rstrip("/"), "GET", "/")
        assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
        assert "chat.js" in body.decode("utf-8")
        assert PREVIEW_TOKEN.search(body.decode("utf-8"))[1]  # the run's token for its page
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_the_page_names_no_outside_resource():
    """No external fonts, scripts, styles or fetches: the page works offline."""
    for path in CHAT_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name
        assert "@import" not in text and "@font-face" not in text, path.name
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
            assert url.startswith("data:"), (path.name, url)
        assert not re.search(r"""(src|href)=["'](//|[a-z]+:(?!,))""", text), path.name


# ---- the page in a real browser --------------------------------------------------------------


def chromium_executable() -> str | None:
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            "no Chromium to run the chat preview in: devtools/ensure-tools.sh installs "
            "Debian's chromium as root (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pinned in requirements-dev.txt; only a hand-made venv lacks it
        pytest.skip("the playwright package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Traffic:
    """Every request the page makes; anything not on loopback is refused and noted."""

    def __init__(self):
        self.urls: list[str] = []
        self.refused: list[str] = []

    def route(self, route):
        url = route.request.url
        self.urls.append(url)
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("blockedbyclient")


def script_errors(message) -> list[str]:
    """A console error, unless it is the browser noting a refused image or an HTTP error."""
    if message.type != "error" or message.text.startswith("Failed to load resource"):
        return []
    return [message.text]


@pytest.fixture
def browser_page(browser):
    """A fresh page (its own profile) whose traffic is recorded; yields (page, traffic)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    traffic = Traffic()
    context.route("**/*", traffic.route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(script_errors(message)))
    yield page, traffic
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


def say(page, text: str, exchange: int) -> dict:
    """Type and press Enter as a person would; returns the exchange once its limits are in."""
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")
    return wait_for_exchange(page, exchange)


def wait_for_exchange(page, exchange: int) -> dict:
    selector = f'#panel[data-exchange="{exchange}"][data-state="checked"]'
    page.wait_for_selector(selector, state="attached")
    return page.evaluate(
        """n => { const e = kakaoPreview.exchanges[n - 1];
                  return {request: e.request, status: e.status, body: e.responseBody ?? null,
                          problems: e.problems ?? null}; }""",
        exchange,
    )


def panel_json(page, element: str):
    return json.loads(page.locator(element).inner_text())


def last_bot_turn(page):
    return page.locator(".turn.bot:not(.pending)").last


def test_chat_preview_in_chromium(env, browser_page, monkeypatch):
    page, traffic = browser_page
    monkeypatch.setenv("SKILL_API_KEY", "preview-test-key")  # the page works with the key on
    recorder = Recorder(new_container().lambda_handler)
    started = time.monotonic()
    with gateway(recorder) as base:
        page.goto(base + "/")
        assert page.title() == "음악 챗봇 · KakaoTalk 미리보기"

        first = say(page, "아이유", 1)
        body = first["body"]
        assert first["status"] == 200
        # the user's bubble, in Korean
        user_bubbles = page.locator(".turn.user .bubble.user")
        assert user_bubbles.all_inner_texts() == ["아이유"]
        turn = last_bot_turn(page)
        # the artist's card: title, a loaded thumbnail, the Spotify button opening a new tab
        card = turn.locator(".basic-card")
        assert card.locator(".card-title").inner_text() == "아이유 (IU)"
        assert card.locator("img.card-thumb").evaluate("img => img.naturalWidth") > 0
        spotify = component(body, "basicCard")["buttons"][0]
        link = card.locator("a.card-button")
        assert link.inner_text() == spotify["label"]
        assert link.get_attribute("href") == spotify["webLinkUrl"]
        assert link.get_attribute("target") == "_blank"
        # the tracks
        tracks = component(body, "listCard")
        items = turn.locator(".list-card .list-item")
        assert items.count() == len(tracks["items"]) >= 3
        titles = turn.locator(".list-card .list-item-title").all_inner_texts()
        assert titles == [item["title"] for item in tracks["items"]]
        assert [items.nth(i).get_attribute("href") for i in range(items.count())] == [
            item["link"]["web"] for item in tracks["items"]
        ]
        assert turn.locator(".list-header-title").inner_text() == tracks["header"]["title"]
        # the related artists: the text and the quick replies under the last bubble
        assert turn.locator(".simple-text").inner_text() == component(body, "simpleText")["text"]
        replies = body["template"]["quickReplies"]
        chips = page.locator(".quick-replies .quick-reply")
        assert chips.all_inner_texts() == [reply["label"] for reply in replies]
        for index in range(chips.count()):
            assert chips.nth(index).is_visible()

        # the panel: the request OpenBuilder sends, the answer, no limit broken
        assert panel_json(page, "#request-json") == kakao_request("아이유", None, PREVIEW_USER)
        assert recorder.bodies()[0] == kakao_request("아이유", None, PREVIEW_USER)
        assert "x-api-key added by the local gateway" in page.locator("#request-meta").inner_text()
        token = page.locator('meta[name="chat-preview-token"]').get_attribute("content")
        assert token and header(recorder.events[0], PREVIEW_HEADER) == token
        assert panel_json(page, "#response-json") == body
        assert page.locator("#response-status").inner_text() == "HTTP 200"
        assert re.fullmatch(r"\d+ ms", page.locator("#response-elapsed").inner_text())
        assert first["problems"] == [] == validate_skill_response(body)
        assert page.locator("#problems li.ok").is_visible()
        assert page.locator("#problems li.problem").count() == 0

        # for people to look at: the whole first answer on screen
        page.set_viewport_size({"width": 1280, "height": 1440})
        page.locator("#chat-log").evaluate("log => log.scrollTop = log.scrollHeight")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 30_000

        # tap a related artist: its name is the utterance and its `extra` the clientExtra
        tapped = next(index for index, reply in enumerate(replies) if "extra" in reply)
        reply = replies[tapped]
        chips.nth(tapped).click()
        second = wait_for_exchange(page, 2)
        expected = kakao_request(reply["messageText"], reply["extra"], PREVIEW_USER)
        assert second["request"] == expected == panel_json(page, "#request-json")
        assert recorder.bodies()[1]["action"]["clientExtra"] == reply["extra"]
        assert user_bubbles.all_inner_texts() == ["아이유", reply["messageText"]]
        assert second["status"] == 200 and second["problems"] == []
        card = last_bot_turn(page).locator(".basic-card .card-title")
        assert card.inner_text() == component(second["body"], "basicCard")["title"]
        assert reply["messageText"] in card.inner_text()  # "데이식스" on "데이식스 (DAY6)"
        # only the newest answer keeps quick replies, as in KakaoTalk
        assert page.locator(".quick-replies").count() == (
            1 if second["body"]["template"].get("quickReplies") else 0
        )
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"the browser test took {elapsed:.1f} s"
    # nothing left 127.0.0.1: the page, its calls and the stub's images are all local
    assert traffic.refused == []
    assert {urlsplit(url).hostname for url in traffic.urls} == {"127.0.0.1"}
    assert [header(event, "x-api-key") for event in recorder.events] == ["preview-test-key"] * 2


# ---- every component the issue lists, from a hand-made answer ---------------------------------

REMOTE_IMAGE = "https://images.example.invalid/photo.jpg"
WEB_PAGE = "https://example.invalid/page"
LONG_TEXT = "가나다라마바사 " * 80  # 640 characters: folded after 500
# A signed extra, as the skill will send: every key comes back as it was, none picked.
BLOCK_EXTRA = {"via": "block", "sig": "c2lnbmF0dXJl", "exp": 1767225600, "more": {"n": [1, 2]}}


def image_url(spotify, name: str) -> str:
    return f"{spotify.url}/images/{name}.svg"


def fixture_answers(spotify) -> dict[str, dict]:
    def basic(n: int) -> dict:
        return {
            "thumbnail": {"imageUrl": image_url(spotify, f"card{n}"), "altText": f"카드 {n}"},
            "title": f"카드 {n}",
            "description": f"{n}번째 카드의 설명",
            "buttons": [
                {"label": "웹으로 보기", "action": "webLink", "webLinkUrl": f"{WEB_PAGE}/{n}"},
                {
                    "label": "이거 고르기",
                    "action": "message",
                    "messageText": "리스트 보기",
                    "extra": {"pick": n},
                },
            ],
        }

    def items(count: int, offset: int = 0) -> list[dict]:
        return [
            {
                "title": f"항목 {offset + n}",
                "description": f"설명 {offset + n}",
                "imageUrl": image_url(spotify, f"item{offset + n}"),
                "link": {"web": f"{WEB_PAGE}/item/{offset + n}"},
            }
            for n in range(1, count + 1)
        ]

    cards = {
        "version": "2.0",
        "template": {
            "outputs": [
                {
                    "textCard": {
                        "title": "텍스트 카드",
                        "description": "제목과 설명, 버튼 세 개",
                        "buttons": [
                            {
                                "label": "리스트 보기",
                                "action": "message",
                                "messageText": "리스트 보기",
                                "extra": {"from": "textCard"},
                            },
                            {
                                "label": "전화하기",
                                "action": "phone",
                                "phoneNumber": "010-1234-5678",
                            },
                            {"label": "공유하기", "action": "share"},
                        ],
                    }
                },
                {"simpleImage": {"imageUrl": REMOTE_IMAGE, "altText": "먼 곳의 사진"}},
                {"carousel": {"type": "basicCard", "items": [basic(n) for n in (1, 2, 3, 4)]}},
            ],
            "quickReplies": [
                {
                    "label": "리스트 보기",
                    "action": "message",
                    "messageText": "리스트 보기",
                    "extra": {"screen": "list"},
                },
                {
                    "label": "블록으로",
                    "action": "block",
                    "blockId": "5f0000000000000000000000",
                    "messageText": "리스트 보기",
                    "extra": BLOCK_EXTRA,
                },
            ],
        },
    }
    tracks = items(3)
    tracks[0] = {
        "title": "눌러서 보내기",
        "description": "message 항목",
        "imageUrl": REMOTE_IMAGE,
        "action": "message",
        "messageText": "카드 모음",
        "extra": {"track": 1},
    }
    lists = {
        "version": "2.0",
        "template": {
            "outputs": [
                {
                    "listCard": {
                        "header": {"title": "리스트 카드"},
                        "items": tracks,
                        "buttons": [
                            {"label": "더 보기", "action": "webLink", "webLinkUrl": WEB_PAGE},
                            {
                                "label": "처음으로",
                                "action": "message",
                                "messageText": "카드 모음",
                                "extra": {"from": "listCard"},
                            },
                        ],
                    }
                },
                {
                    "carousel": {
                        "type": "listCard",
                        "items": [
                            {"header": {"title": "첫 묶음"}, "items": items(2)},
                            {"header": {"title": "둘째 묶음"}, "items": items(2, 2)},
                        ],
                    }
                },
                {"simpleText": {"text": LONG_TEXT}},
            ]
        },
    }
    broken = {
        "version": "2.0",
        "template": {
            "outputs": [{"simpleText": {"text": "버튼 이름이 너무 길어요"}}],
            "quickReplies": [
                {"label": "열네 글자를 훌쩍 넘는 아주 긴 바로가기", "action": "message"}
            ],
        },
    }
    return {"카드 모음": cards, "리스트 보기": lists, "틀린 답": broken}


def test_every_component_renders(browser_page, spotify):
    page, traffic = browser_page
    answers = fixture_answers(spotify)
    for utterance in ("카드 모음", "리스트 보기"):
        assert validate_skill_response(answers[utterance]) == [], utterance
    recorder = Recorder(fixed_answer(answers))
    with gateway(recorder) as base:
        page.goto(base + "/")
        cards = say(page, "카드 모음", 1)
        assert cards["problems"] == []
        turn = last_bot_turn(page)
        # textCard with its three buttons
        text_card = turn.locator(".text-card")
        assert text_card.locator(".card-title").inner_text() == "텍스트 카드"
        assert text_card.locator(".card-description").inner_text() == "제목과 설명, 버튼 세 개"
        assert text_card.locator(".card-button").all_inner_texts() == [
            "리스트 보기",
            "전화하기",
            "공유하기",
        ]
        # simpleImage from a host the page may not reach: a placeholder box, not a broken image
        placeholder = turn.locator(".simple-image .img-placeholder")
        placeholder.wait_for()
        assert placeholder.get_attribute("aria-label") == "먼 곳의 사진"
        assert placeholder.bounding_box()["height"] >= 100
        assert REMOTE_IMAGE in traffic.refused
        # carousel of basicCards: side by side, scrolling horizontally
        carousel = turn.locator(".carousel[data-type=basicCard]")
        assert carousel.locator(".basic-card").count() == 4
        boxes = [carousel.locator(".basic-card").nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[1]["x"] > boxes[0]["x"]
        width = carousel.evaluate("c => [c.scrollWidth, c.clientWidth]")
        assert width[0] > width[1]
        carousel.evaluate("c => c.scrollBy({left: 600, behavior: 'instant'})")
        assert carousel.evaluate("c => c.scrollLeft") > 0
        assert carousel.locator("img.card-thumb").first.evaluate("i => i.naturalWidth") > 0
        # a webLink button opens its page in a new tab (the test refuses the remote load)
        link = carousel.locator("a.card-button").first
        assert link.get_attribute("href") == f"{WEB_PAGE}/1"
        assert link.get_attribute("target") == "_blank"
        with page.context.expect_page() as opened:
            link.click()
        opened.value.wait_for_load_state()
        assert f"{WEB_PAGE}/1" in traffic.refused
        opened.value.close()
        page.bring_to_front()
        # phone and share: KakaoTalk would dial or share; the preview says so
        text_card.locator(".card-button", has_text="전화하기").click()
        assert "010-1234-5678" in page.locator("#toast").inner_text()
        # quick replies: message and block both send messageText with their extra
        chips = page.locator(".quick-replies .quick-reply")
        assert chips.all_inner_texts() == ["리스트 보기", "블록으로"]
        chips.nth(1).click()
        lists = wait_for_exchange(page, 2)
        assert lists["request"]["userRequest"]["utterance"] == "리스트 보기"
        assert lists["request"]["action"]["clientExtra"] == BLOCK_EXTRA
        assert lists["problems"] == []
        turn = last_bot_turn(page)
        # listCard: header, items with images (a remote one as a placeholder), buttons
        list_card = turn.locator(".list-card").first
        assert list_card.locator(".list-header-title").inner_text() == "리스트 카드"
        assert list_card.locator(".list-item-title").all_inner_texts() == [
            "눌러서 보내기",
            "항목 2",
            "항목 3",
        ]
        assert list_card.locator(".list-item .img-placeholder").count() == 1
        assert list_card.locator("img.list-item-img").count() == 2
        assert list_card.locator("a.list-item").first.get_attribute("href") == (
            f"{WEB_PAGE}/item/2"
        )
        assert list_card.locator(".card-button").all_inner_texts() == ["더 보기", "처음으로"]
        # carousel of listCards
        list_carousel = turn.locator(".carousel[data-type=listCard]")
        assert list_carousel.locator(".list-header-title").all_inner_texts() == [
            "첫 묶음",
            "둘째 묶음",
        ]
        # a long simpleText is folded after 500 characters, as KakaoTalk does
        long_text = turn.locator(".simple-text")
        assert len(long_text.inner_text()) < len(LONG_TEXT)
        long_text.locator("button.fold").click()
        assert long_text.inner_text() == LONG_TEXT
        # for people to look at: the first two answers, every component
        page.set_viewport_size({"width": 1280, "height": 2300})
        page.locator("#chat-log").evaluate("log => log.scrollTop = 0")
        page.screenshot(path=str(SCREENSHOT.with_name("chat-preview-components.png")))
        page.set_viewport_size({"width": 1280, "height": 900})
        # a list item with a message action sends its messageText and extra
        list_card.locator("button.list-item").click()
        again = wait_for_exchange(page, 3)
        assert again["request"]["userRequest"]["utterance"] == "카드 모음"
        assert again["request"]["action"]["clientExtra"] == {"track": 1}
        # a card's message button, from inside the carousel
        last_bot_turn(page).locator(".carousel .card-button", has_text="이거 고르기").nth(1).click()
        picked = wait_for_exchange(page, 4)
        assert picked["request"]["action"]["clientExtra"] == {"pick": 2}

        # an answer that breaks a limit: the panel lists each problem in red
        broken = say(page, "틀린 답", 5)
        assert broken["problems"] == validate_skill_response(answers["틀린 답"]) != []
        problems = page.locator("#problems li.problem")
        assert problems.all_inner_texts() == broken["problems"]
        color = problems.first.evaluate("li => getComputedStyle(li).color")
        assert color == "rgb(138, 28, 28)"
        assert page.locator("#problems li.ok").count() == 0
    sent = [body["action"]["clientExtra"] for body in recorder.bodies()]
    assert sent == [None, BLOCK_EXTRA, {"track": 1}, {"pick": 2}, None]
    assert {body["userRequest"]["user"]["id"] for body in recorder.bodies()} == {PREVIEW_USER}


def test_commerce_and_item_cards_show_their_profile_row(browser_page, spotify):
    avatar = image_url(spotify, "avatar")
    answer = {
        "version": "2.0",
        "template": {
            "outputs": [
                {
                    "commerceCard": {
                        "title": "앨범 한정판",
                        "price": 30000,
                        "currency": "won",
                        "thumbnails": [{"imageUrl": image_url(spotify, "album")}],
                        "profile": {"nickname": "레코드 가게", "imageUrl": avatar},
                    }
                },
                {
                    "itemCard": {
                        "profile": {"title": "공연 안내"},
                        "itemList": [{"title": "장소", "description": "올림픽홀"}],
                    }
                },
            ]
        },
    }
    assert validate_skill_response(answer) == []
    with gateway(fixed_answer({"카드": answer})) as base:
        page, _ = browser_page
        page.goto(base + "/")
        assert say(page, "카드", 1)["problems"] == []
        turn = last_bot_turn(page)
        commerce = turn.locator(".commerce-card .commerce-profile")
        assert commerce.locator("span").inner_text() == "레코드 가게"
        assert commerce.locator("img.commerce-profile-img").get_attribute("src") == avatar
        item = turn.locator(".item-card .commerce-profile")
        assert item.locator("span").inner_text() == "공연 안내"
        assert item.locator("img").count() == 0  # no imageUrl: no image


def test_an_error_status_shows_no_answer(browser_page):
    answer = {"error": "missing or wrong x-api-key header"}
    with gateway(fixed_answer({"아이유": answer}, status=401)) as base:
        page, _ = browser_page
        page.goto(base + "/")
        exchange = say(page, "아이유", 1)
        assert exchange["status"] == 401 and exchange["problems"] is None
        assert page.locator(".turn.bot:not(.pending)").count() == 0
        assert "HTTP 401" in page.locator(".notice.error").inner_text()
        assert page.locator("#response-status").inner_text() == "HTTP 401"
        assert "not checked" in page.locator("#problems").inner_text()
