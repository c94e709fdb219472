"""`make run`: the skill on 127.0.0.1 behind a small API Gateway emulation.

POST /skill with a Kakao skill request: it becomes an API Gateway REST (payload 1.0) proxy
event, `lambda_function.lambda_handler` answers it, and the proxy response goes back as HTTP.

GET / is the chat preview (devtools/chat/): a KakaoTalk-like chat that sends the requests
OpenBuilder sends to POST /skill and draws the answers; it asks POST /limits (the validator in
devtools/kakao_limits.py) which Kakao limits an answer breaks.

Without SPOTIFY_CLIENT_ID/SECRET it starts the Spotify-compatible stub on an offline demo
catalog; with them it uses the real Spotify. MYSQL_* and DYNAMODB_TABLE, when set, are used
(schema, starter artists and table are created where missing).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"
LAMBDA_TIMEOUT_MS = 10_000
CHAT_DIR = Path(__file__).resolve().parent / "chat"
CHAT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
# The page may load only itself; images are an answer's content and may live anywhere.
CHAT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src http: https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PREVIEW_HEADER = "X-Chat-Preview"  # carries this run's token on the chat page's POST /skill
# index.html's empty slot; GET / fills it with the run's token for chat.js to read.
TOKEN_SLOT = b'<meta name="chat-preview-token" content="">'
LOCAL_NAMES = ("127.0.0.1", "localhost")


def own_authorities(port: int) -> set[str]:
    """The Host values that name this gateway (a browser leaves out ":80")."""
    names = {f"{name}:{port}" for name in LOCAL_NAMES}
    return names | set(LOCAL_NAMES) if port == 80 else names


def kakao_request(utterance: str, extra: dict | None = None, user_id: str = "local-user") -> dict:
    """A skill request shaped like the ones OpenBuilder sends."""
    return {
        "intent": {"id": "local-intent", "name": "아티스트 검색"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"ignoreMe": "true", "surface": "BuilderBotTest"},
            "block": {"id": "local-block", "name": "아티스트 검색"},
            "utterance": utterance,
            "lang": "ko",
            "user": {"id": user_id, "type": "botUserKey", "properties": {"botUserKey": user_id}},
        },
        "bot": {"id": "local-bot", "name": "음악 챗봇"},
        "action": {
            "name": "artist_skill",
            "clientExtra": extra,
            "params": {},
            "id": "local-action",
            "detailParams": {},
        },
    }


def proxy_event(body: str, headers: dict[str, str], path: str = "/skill") -> dict:
    """An API Gateway REST API proxy event (payload format 1.0)."""
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LambdaContext:
    """The parts of Lambda's context object the handler reads."""

    def __init__(self, timeout_ms: int = LAMBDA_TIMEOUT_MS):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "kakao-music-skill-local"
        self._ends = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def chat_files() -> dict[str, Path]:
    """What GET serves: the chat page's own files by URL path, nothing else."""
    files = {
        f"/{path.name}": path
        for path in CHAT_DIR.iterdir()
        if path.is_file() and path.suffix in CHAT_TYPES
    }
    files["/"] = CHAT_DIR / "index.html"
    return files


def limit_problems(payload: bytes) -> list[str]:
    """POST /limits: the Kakao limits a response body breaks, from the one validator."""
    from devtools.kakao_limits import validate_skill_response

    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return [f"$: not JSON ({error})"]
    return validate_skill_response(body)


class SkillHandler(BaseHTTPRequestHandler):
    """The gateway's routes; `skill`, `files` and `preview_token` are bound by
    make_handler_class."""

    protocol_version = "HTTP/1.1"
    skill: Callable[[dict, LambdaContext], dict]
    files: dict[str, Path]
    preview_token: str

    def do_POST(self):
        path = self.path.rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        if path == "/limits":
            return self._send(200, {"problems": limit_problems(payload)})
        if path != "/skill":
            return self._send(404, {"error": "POST /skill"})
        headers = dict(self.headers.items())
        extra_headers = self._preview_key(headers)
        body = payload.decode("utf-8", "replace")
        event = proxy_event(body, headers)
        result = self.skill(event, LambdaContext())
        response_headers = {**(result.get("headers") or {}), **extra_headers}
        self._send(result["statusCode"], result["body"], response_headers or None)

    def _preview_key(self, headers: dict[str, str]) -> dict[str, str]:
        """The chat page cannot know SKILL_API_KEY: its requests get it here, as the
        x-api-key header OpenBuilder's skill settings would add. Only this run's own page
        gets it; any other caller is forwarded as it came (the skill answers 401)."""
        key = os.environ.get("SKILL_API_KEY", "")
        names = {name.lower() for name in headers}
        if not key or "x-api-key" in names or not self._from_own_page():
            return {}
        headers["x-api-key"] = key
        return {"X-Chat-Preview-Api-Key": "added"}

    def _from_own_page(self) -> bool:
        """The run's token (only GET / hands it out), sent from the gateway's own origin."""
        given = (self.headers.get(PREVIEW_HEADER) or "").encode("utf-8")
        if not hmac.compare_digest(given, self.preview_token.encode()):
            return False
        # Any web page can send the header; the browser sets Origin, which a page cannot forge.
        origin = self.headers.get("Origin")
        own = {f"http://{authority}" for authority in own_authorities(self._port())}
        return (origin is None or origin.lower() in own) and self._own_host()

    def _own_host(self) -> bool:
        """Host names this gateway on loopback: a DNS-rebound name (evil.example) does not."""
        return (self.headers.get("Host") or "").lower() in own_authorities(self._port())

    def _port(self) -> int:
        return self.server.server_address[1]  # the port bound, also with --port 0

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.rstrip("/") == "/skill":
            return self._send(405, {"error": "POST a Kakao skill request to /skill"})
        file = self.files.get(path)
        if file is None:
            return self._send(404, {"error": "not found: GET / is the chat preview"})
        headers = {
            "Content-Type": CHAT_TYPES[file.suffix],
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CHAT_POLICY,
        }
        self._send(200, self._page_file(file), headers)

    def _page_file(self, file: Path) -> bytes:
        """The file; index.html with the run's token, unless asked under a foreign Host."""
        body = file.read_bytes()
        if file.name != "index.html" or not self._own_host():
            return body
        filled = TOKEN_SLOT.replace(b'content=""', f'content="{self.preview_token}"'.encode())
        return body.replace(TOKEN_SLOT, filled)

    def _send(self, status, body, headers=None):
        if isinstance(body, bytes):
            payload = body
        else:
            payload = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # the handler's own JSON log line says enough
        pass


def make_handler_class(handler):
    """SkillHandler answering POST /skill with `handler` (a lambda_handler); a new token
    for each server, so a token seen by one run is worth nothing to the next."""
    bound = {
        "skill": staticmethod(handler),
        "files": chat_files(),
        "preview_token": secrets.token_urlsafe(24),
    }
    return type("BoundSkillHandler", (SkillHandler,), bound)


def start_demo_spotify(mode: str):
    from devtools.spotify_stub import SpotifyStub

    stub = SpotifyStub(mode=mode, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    stub.start()
    os.environ.update(
        SPOTIFY_CLIENT_ID=DEMO_CLIENT_ID,
        SPOTIFY_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        SPOTIFY_API_URL=stub.api_url,
        SPOTIFY_TOKEN_URL=stub.token_url,
    )
    return stub


def prepare_layers() -> list[str]:
    """Create what the configured MySQL / DynamoDB need; report which layers are on."""
    import lambda_function as skill
    from devtools.admin import create_cache_table

    settings = skill.Settings.from_env()
    layers = ["memory"]
    if settings.mysql_host:
        store = skill.ArtistStore(settings)
        store.create_schema()
        store.load_artists(list(skill.read_curated_file()))  # as {"operator": "load-artists"}
        layers.append(
            f"MySQL {settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}"
        )
    if settings.dynamodb_table:
        create_cache_table(settings.dynamodb_table)
        layers.append(f"DynamoDB table {settings.dynamodb_table}")
    return layers


def curl_example(url: str, utterance: str) -> str:
    body = json.dumps(kakao_request(utterance), ensure_ascii=False)
    key = os.environ.get("SKILL_API_KEY")
    header = " -H 'x-api-key: $SKILL_API_KEY'" if key else ""
    return f"curl -s -X POST {url} -H 'Content-Type: application/json'{header} -d '{body}'"


def self_check(url: str, utterance: str) -> str:
    """Ask the running skill once, as the printed curl would, and summarise its answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(kakao_request(utterance)).encode(),
        headers={
            "Content-Type": "application/json",
            "x-api-key": os.environ.get("SKILL_API_KEY", ""),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    outputs = answer.get("template", {}).get("outputs", [])
    return f"HTTP {response.status}, outputs: " + ", ".join(next(iter(o)) for o in outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 3000)))
    parser.add_argument(
        "--spotify-mode",
        default="development-2026",
        choices=["development-2026", "extended"],
        help="how the demo Spotify behaves (without real credentials)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("LOG_LEVEL", "INFO")
    if os.environ.get("SPOTIFY_CLIENT_ID") and os.environ.get("SPOTIFY_CLIENT_SECRET"):
        spotify = "the real Spotify Web API (SPOTIFY_CLIENT_ID is set)"
    else:
        stub = start_demo_spotify(args.spotify_mode)
        spotify = f"offline demo catalog at {stub.url} ({args.spotify_mode} mode)"
    layers = prepare_layers()

    import lambda_function

    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler_class(lambda_function.lambda_handler)
    )
    url = f"http://{args.host}:{server.server_port}/skill"
    print(f"Kakao skill endpoint: POST {url}", file=sys.stderr)
    print(
        f"Chat preview (open it in a browser): http://{args.host}:{server.server_port}/",
        file=sys.stderr,
    )
    print(f"  Spotify: {spotify}", file=sys.stderr)
    print(f"  layers:  {', '.join(layers)}", file=sys.stderr)
    print("Try it:", file=sys.stderr)
    print(curl_example(url, "아이유"), flush=True)

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        print(f"  self-check '아이유': {self_check(url, '아이유')}", file=sys.stderr)
        print("Ctrl-C stops it.", file=sys.stderr)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
