"""KakaoTalk music skill: an artist's name in, a Kakao skill 2.0 answer out.

Kakao i OpenBuilder POSTs a skill request (through API Gateway) to `lambda_handler`; the answer
is the artist's card, tracks and related artists, with quick replies to keep the chat going.

The file reads top-down: settings, the handler and the container's app, the look-up, then the
parts it uses: the Kakao request, names, related artists, rendering, Spotify, the MySQL store,
the caches, the time budget and logging. The events a direct invoke may send close it:
`{"operator": "doctor" | "init-db" | "load-artists"}`. Tools for a laptop live in devtools/.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import contextlib
import contextvars
import csv
import dataclasses
import difflib
import functools
import hashlib
import hmac
import json
import logging
import os
import random
import re
import ssl
import sys
import threading
import time
import unicodedata
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NotRequired, TypedDict, TypeVar

import boto3
import botocore.config
import botocore.exceptions
import pymysql
import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOauthError
from urllib3.util.retry import Retry

T = TypeVar("T")

# ---- Settings -------------------------------------------------------------------------------

SERVICE_NAME = "kakao-music-skill"
SPOTIFY_API_URL = "https://api.spotify.com/v1/"
SPOTIFY_TOKEN_URL = "https://accounts.spotify.com/api/token"
MAX_BODY_BYTES = 2 * 1024 * 1024  # Kakao sends ~2 KB; API Gateway would allow 10 MB
MAX_QUERY_CHARS = 100  # longer than any artist name worth searching for
SPOTIFY_SEARCH_LIMIT = 10  # development-mode apps get 400 above 10
SPOTIFY_QUERY_MAX = 100  # Spotify answers 400 to a longer q
SHOWN_RELATED = 9  # quick replies: at most 10
EXAMPLE_ARTISTS = ("아이유", "뉴진스", "BTS", "오마이걸")
# What a message asks for (Ask.kind), and so which answer it gets.
ARTIST, SONGS, SIMILAR, SONG, HELP, CHAT = "artist", "songs", "similar", "song", "help", "chat"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Configuration from the environment, read once per container. Secrets stay out of repr."""

    spotify_client_id: str = ""
    spotify_client_secret: str = dataclasses.field(default="", repr=False)
    spotify_market: str = "KR"
    spotify_api_url: str = SPOTIFY_API_URL
    spotify_token_url: str = SPOTIFY_TOKEN_URL
    mysql_host: str = ""
    mysql_port: int = 3306
    mysql_user: str = "root"
    mysql_password: str = dataclasses.field(default="", repr=False)
    mysql_database: str = "kakao_music"
    mysql_ssl_ca: str = ""  # a CA bundle: TLS verified against it (RDS: global-bundle.pem)
    mysql_allow_plaintext: bool = False  # without a CA; loopback hosts are always allowed
    in_vpc: bool = False  # the template put the function in a VPC: for the doctor's advice
    dynamodb_table: str = ""
    skill_api_key: str = dataclasses.field(default="", repr=False)
    signing_key: str = dataclasses.field(default="", repr=False)
    answer_budget_ms: int = 3500
    cache_days: float = 3.0
    negative_cache_seconds: int = 6 * 3600
    memory_cache_entries: int = 4096
    callback_hosts: tuple[str, ...] = ("kakao.com",)  # where answers may be POSTed later
    user_requests_per_minute: int = 10  # requests that need Spotify, per user
    spotify_requests_per_minute: int = 600  # the same, for the whole bot

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = _EnvReader(os.environ if env is None else env)
        return cls(
            spotify_client_id=read.text("SPOTIFY_CLIENT_ID"),
            spotify_client_secret=read.text("SPOTIFY_CLIENT_SECRET"),
            spotify_market=read.text("SPOTIFY_MARKET", "KR").upper(),
            spotify_api_url=read.text("SPOTIFY_API_URL", SPOTIFY_API_URL).rstrip("/") + "/",
            spotify_token_url=read.text("SPOTIFY_TOKEN_URL", SPOTIFY_TOKEN_URL),
            mysql_host=read.text("MYSQL_HOST"),
            mysql_port=read.number("MYSQL_PORT", 3306),
            mysql_user=read.text("MYSQL_USER", "root"),
            mysql_password=read.raw("MYSQL_PASSWORD"),
            mysql_database=read.text("MYSQL_DATABASE", "kakao_music"),
            mysql_ssl_ca=read.text("MYSQL_SSL_CA"),
            mysql_allow_plaintext=read.flag("MYSQL_ALLOW_PLAINTEXT"),
            in_vpc=read.flag("FUNCTION_IN_VPC"),
            dynamodb_table=read.text("DYNAMODB_TABLE"),
            skill_api_key=read.text("SKILL_API_KEY"),
            signing_key=read.text("SIGNING_KEY"),
            answer_budget_ms=read.number("ANSWER_BUDGET_MS", 3500),
            cache_days=read.number("CACHE_DAYS", 3.0, float),
            negative_cache_seconds=read.number("NEGATIVE_CACHE_SECONDS", 6 * 3600),
            memory_cache_entries=read.count("MEMORY_CACHE_ENTRIES", 4096),  # 0: off (benchmarks)
            callback_hosts=tuple(read.text("CALLBACK_HOSTS", "kakao.com").lower().split(",")),
            user_requests_per_minute=read.number("USER_REQUESTS_PER_MINUTE", 10),
            spotify_requests_per_minute=read.number("SPOTIFY_REQUESTS_PER_MINUTE", 600),
        )  # fmt: skip

    @property
    def spotify_configured(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    @property
    def cache_seconds(self) -> int:
        return int(self.cache_days * 86400)


@dataclasses.dataclass(frozen=True)
class _EnvReader:
    env: Mapping[str, str]

    def text(self, name: str, default: str = "") -> str:
        """The value, or the default when unset, empty or "-" (sam deploy --guided's way of
        answering "empty", which it otherwise refuses)."""
        value = self.env.get(name, "").strip()
        return default if value in ("", "-") else value

    def raw(self, name: str) -> str:
        """A password as given, spaces and all; "-" is empty here too."""
        value = self.env.get(name, "")
        return "" if value == "-" else value

    def flag(self, name: str) -> bool:
        return self.text(name).lower() in ("1", "true", "yes", "on")

    def count(self, name: str, default: int) -> int:
        """A whole number, 0 included; the default when unset or malformed."""
        value = self.text(name)
        return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else default

    def number(self, name: str, default: Any, kind: type = int) -> Any:
        """A positive number, or the default when unset, malformed or not positive."""
        try:
            value = kind(self.text(name) or default)
        except ValueError:
            return default
        return value if value > 0 else default


SECRET_NAMES = (  # the settings a secret may hold
    "SPOTIFY_CLIENT_ID SPOTIFY_CLIENT_SECRET MYSQL_PASSWORD SKILL_API_KEY SIGNING_KEY".split()
)
AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
# One try, short timeouts: calls made while Kakao waits (DynamoDB, the callback's invoke).
SHORT_AWS_CALL = botocore.config.Config(
    connect_timeout=0.5, read_timeout=1.0, retries={"total_max_attempts": 1}
)
# The same for the secret: a cold start must still leave time to answer inside Kakao's 5 s.
SECRET_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=1, read_timeout=1.5, retries={"total_max_attempts": 1}
)


class SecretUnavailable(Exception):
    """The configured secret could not be read; the container tries again on its next request."""


def read_secret(env: Mapping[str, str]) -> dict[str, str]:
    """SECRET_NAMES found in the secret named by SECRET_ARN (Secrets Manager) or, failing that,
    SECRET_PARAMETER (an SSM SecureString): a JSON object either way. {} when neither is set."""
    secret_arn = env.get("SECRET_ARN", "").strip()
    parameter = env.get("SECRET_PARAMETER", "").strip()
    if not secret_arn and not parameter:
        return {}
    source = "SECRET_ARN" if secret_arn else "SECRET_PARAMETER"
    try:
        values = json.loads(_secret_text(secret_arn, parameter))
        if not isinstance(values, dict):
            raise ValueError("the secret is not a JSON object")
    except (*AWS_ERRORS, ValueError, KeyError, TypeError) as error:
        # The error's text names the secret and the cause, never the secret's content.
        log_fields(
            logging.ERROR,
            f"cannot read the secret named by {source}",
            error=type(error).__name__,
            detail=str(error),
        )
        raise SecretUnavailable(source) from None
    return {name: values[name] for name in SECRET_NAMES if isinstance(values.get(name), str)}


def _secret_text(secret_arn: str, parameter: str) -> str:
    if secret_arn:
        client = boto3.client("secretsmanager", config=SECRET_CLIENT_CONFIG)
        return client.get_secret_value(SecretId=secret_arn)["SecretString"]
    client = boto3.client("ssm", config=SECRET_CLIENT_CONFIG)
    return client.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]


def read_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings of the environment (this process's by default) completed from the secret."""
    return Settings.from_env(environment_with_secret(os.environ if env is None else env))


def environment_with_secret(env: Mapping[str, str]) -> dict[str, str]:
    """The environment completed from the secret: variables that are set win, so local runs
    need no secret."""
    found = read_secret(env)
    return {**env, **{name: value for name, value in found.items() if not env.get(name)}}


# ---- Handler and the container's app ----------------------------------------------------------

NOT_CONFIGURED = "아직 음악 정보 연결(Spotify)이 설정되지 않았어요. 챗봇 관리자에게 알려 주세요 🙏"
SPOTIFY_BUSY = "지금은 음악 정보를 불러오기 어려워요. 잠시 뒤에 다시 물어봐 주세요 🙏"
SORRY = "앗, 잠깐 문제가 생겼어요. 잠시 뒤에 다시 물어봐 주세요 🙏"
TOO_MANY = "찾아 달라는 요청이 많아 잠깐 쉬어 갈게요. 1분쯤 뒤에 다시 물어봐 주세요 🙏"


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """API Gateway (or a console test) in; an HTTP response carrying Kakao's JSON out."""
    arrived = time.monotonic()
    set_log_context(request_id=request_id_of(context))
    if is_operator_event(event):
        return run_operator_event(event)
    try:
        app = skill_app()
        if is_callback_event(event):  # this function, invoked by itself to finish an answer
            return {"delivered": app.deliver(event["kakao_callback"], context)}
    except SecretUnavailable:
        # Without the secret there is no key to check and nothing to look up: apologise.
        log_fields(logging.ERROR, "answered with an apology")
        return http_response(200, render_text(SORRY))
    try:
        body = accepted_body(event, app.settings.skill_api_key)
    except BadRequest as refused:
        log_fields(
            logging.WARNING, "request refused", status=refused.status, reason=refused.message
        )
        return http_response(refused.status, {"error": refused.message})
    deadline = Deadline(app.settings.answer_budget_ms, context, started=app.clock_start(arrived))
    return http_response(200, app.handle(body, deadline, context))


_app: SkillApp | None = None
_app_lock = threading.Lock()


def skill_app() -> SkillApp:
    """The container's app, built on first use: settings are read once, clients opened lazily."""
    global _app
    with _app_lock:
        if _app is None:
            configure_logging(os.environ.get("LOG_LEVEL", "INFO").strip().upper())
            settings = read_settings()
            if not settings.skill_api_key:
                log_fields(logging.WARNING, OPEN_ENDPOINT)
            _app = SkillApp(settings)
        return _app


OPEN_ENDPOINT = (
    "SKILL_API_KEY is not set: this function answers anyone who finds its URL. Set it and give"
    " OpenBuilder the same value as the x-api-key header (README: Security)"
)


def http_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8"},
        "body": json.dumps(body, ensure_ascii=False),
        "isBase64Encoded": False,
    }


class SkillApp:
    """What one container keeps between requests: settings, caches, clients and connections."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.memory = MemoryCache(settings.memory_cache_entries)
        self.dynamo = DynamoCache(settings.dynamodb_table) if settings.dynamodb_table else None
        self.store = ArtistStore(settings) if settings.mysql_host else None
        self.spotify = SpotifyGateway(settings) if settings.spotify_configured else None
        self.keys = Keys.from_settings(settings)
        self.pool = concurrent.futures.ThreadPoolExecutor(6, thread_name_prefix="lookup")
        self._curated: NameIndex | None = None
        self._names: NameIndex | None = None
        self._names_until = 0.0
        self._reread_after = 0.0  # monotonic time after which the secret may be read again
        self._served = False  # whether a request has been answered yet

    def clock_start(self, arrived: float) -> float:
        """When Kakao started waiting. For the first request after an on-demand cold start,
        when the process started: Lambda's init (the imports) came out of the same 5 s."""
        served_before, self._served = self._served, True
        if served_before or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "on-demand":
            return arrived
        age = process_age_s()
        # Older than that, the init was a proactive one that no request waited for.
        return arrived - age if age is not None and age <= MAX_COUNTED_INIT_S else arrived

    def start(self, work: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """`work(*args)` on the container's pool, alongside the request's other calls."""
        return submit_in_context(self.pool, work, *args)

    def handle(
        self, body: dict[str, Any], deadline: Deadline, context: Any = None, later: bool = True
    ) -> dict[str, Any]:
        """The answer to an accepted Kakao request; any failure becomes an apology. With a
        callback URL (and `later`), a first try within CALLBACK_TRY_MS; cut short, the full
        answer follows through the callback."""
        trace = Trace()
        fields: dict[str, Any] = {}
        try:
            request = skill_request_from(body, self.keys)
            fields = request.log_fields()
            callback = later and self.callback_allowed(request.callback_url)
            tried = deadline.capped(CALLBACK_TRY_MS) if callback else deadline
            answer = self.answer(request, tried, trace)
            if callback and trace.cut_short and self.call_back(body, context):
                trace.outcome, answer = "callback", CALLBACK_ANSWER
        except Exception:
            trace.outcome = "error"
            log_exception("unexpected failure, answered with an apology")
            answer = render_text(SORRY)
        log_answered(trace, fields, deadline.elapsed_ms())
        return answer

    def answer(self, request: SkillRequest, deadline: Deadline, trace: Trace) -> dict[str, Any]:
        if not request.query and not request.artist_id:
            trace.outcome = "empty"
            return render_help(HELP)
        ask = self.understand(request, deadline, trace)
        if ask.kind in (HELP, CHAT):
            trace.outcome = ask.kind  # no Spotify call for greetings, help and chat
            return render_help(ask.kind)
        if self.spotify is None:
            trace.outcome = "not_configured"
            log_fields(logging.ERROR, "SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET are not set")
            return render_text(NOT_CONFIGURED)
        try:
            result = self.look_up(request, ask, deadline, trace)
        except OverBudget as over:
            trace.outcome = "over_budget"
            log_fields(logging.WARNING, "spotify budget per minute used up", scope=over.scope)
            return render_text(TOO_MANY)
        except (SpotifyError, TimeoutError) as error:
            trace.outcome = "timeout" if isinstance(error, TimeoutError) else "spotify_unavailable"
            trace.cut_short = isinstance(error, TimeoutError) or error.status == 0
            if isinstance(error, SpotifyError):
                log_spotify_error(error)
            return render_text(SPOTIFY_BUSY)
        trace.outcome = "not_found" if isinstance(result, NotFound) else result.kind
        if isinstance(result, NotFound):
            return render_not_found(result, request.reply_to)
        return render_artist(in_korean(result, self.known_names()), request.reply_to)

    def callback_allowed(self, url: str) -> bool:
        """Kakao's hosts only, over https: the URL comes with the request, and the function
        must not POST wherever a caller points it (loopback over http for local tests)."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        known = any(host == h or host.endswith("." + h) for h in self.settings.callback_hosts)
        return known and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)))

    def call_back(self, body: dict[str, Any], context: Any) -> bool:
        """Have the full answer delivered: on Lambda by an asynchronous invocation of this
        function (a frozen container cannot finish the work), elsewhere on a thread."""
        arn = getattr(context, "invoked_function_arn", None)
        if not (isinstance(arn, str) and arn.startswith("arn:")):
            work = contextvars.copy_context().run  # its log lines keep the request's id
            threading.Thread(target=work, args=(self.deliver, body, None), daemon=True).start()
            return True
        try:
            payload = json.dumps({"kakao_callback": body}, ensure_ascii=False).encode()
            client = boto3.client("lambda", config=SHORT_AWS_CALL)
            client.invoke(FunctionName=arn, InvocationType="Event", Payload=payload)
        except AWS_ERRORS as error:
            log_fields(logging.WARNING, "cannot invoke itself for the callback", detail=str(error))
            return False
        return True

    def deliver(self, body: Any, context: Any) -> bool:
        """The full answer to a request whose first reply said it would follow, POSTed to
        its callback URL (valid once, for about a minute)."""
        url = _as_dict(_as_dict(body).get("userRequest")).get("callbackUrl")
        if not isinstance(url, str) or not self.callback_allowed(url):
            log_fields(logging.WARNING, "callback refused: not a Kakao callback URL")
            return False
        answer = self.handle(body, Deadline(CALLBACK_BUDGET_MS, context), later=False)
        try:
            status = requests.post(url, json=answer, timeout=CALLBACK_POST_TIMEOUT_S).status_code
        except requests.RequestException as error:
            status = 0
            log_fields(logging.WARNING, "callback not delivered", error=type(error).__name__)
        log_fields(logging.INFO, "callback answered", status=status)
        return 200 <= status < 300

    def look_up(
        self, request: SkillRequest, ask: Ask, deadline: Deadline, trace: Trace
    ) -> ArtistAnswer | NotFound:
        """The look-up; once more if Spotify rejected credentials the secret has since
        replaced (rotated while this container was warm)."""
        assert self.spotify is not None
        try:
            return Lookup(self, self.spotify, deadline, trace).answer(request, ask)
        except SpotifyRefused as error:
            if error.reason != "invalid_client" or not self.reread_credentials():
                raise
        return Lookup(self, self.spotify, deadline, trace).answer(request, ask)

    def reread_credentials(self) -> bool:
        """The secret read again (at most every CREDENTIALS_REREAD_S): True when it holds
        other Spotify credentials, which this container now uses."""
        if time.monotonic() < self._reread_after:
            return False
        self._reread_after = time.monotonic() + CREDENTIALS_REREAD_S
        try:
            fresh = read_settings()
        except SecretUnavailable:
            return False
        renewed = dataclasses.replace(
            self.settings,
            spotify_client_id=fresh.spotify_client_id,
            spotify_client_secret=fresh.spotify_client_secret,
        )
        if renewed == self.settings:
            return False
        self.settings = renewed
        self.spotify = SpotifyGateway(self.settings)
        log_fields(logging.WARNING, "spotify credentials rejected: new ones read from the secret")
        return True

    def understand(self, request: SkillRequest, deadline: Deadline, trace: Trace) -> Ask:
        if request.artist_id:  # our own button: its id says who
            return Ask(ARTIST, request.artist_name, known=True)
        ask = understand(request, self.curated_names())
        if not ask.known and ask.kind != HELP and self.store:  # maybe a name the store learned
            ask = understand(request, self.names(trace, deadline))
        trace.layers["ask"] = ask.kind
        return ask

    def curated_names(self) -> NameIndex:
        """The names of the curated file shipped in the zip: known without MySQL too."""
        if self._curated is None:
            self._curated = NameIndex()
            self._curated.add_curated(read_curated_file())
        return self._curated

    def names(self, trace: Trace, deadline: Deadline) -> NameIndex:
        """Every name the container knows: the curated ones and the store's aliases, read
        again after NAMES_TTL_S (or on the next request, when the store did not answer)."""
        if self.store is None:
            return self.curated_names()
        if self._names is None or time.monotonic() > self._names_until:
            aliases = self.store.all_aliases(trace, deadline)
            index = NameIndex()
            index.add_curated(read_curated_file())
            index.add_aliases(aliases or [])
            self._names = index
            self._names_until = time.monotonic() + (NAMES_TTL_S if aliases is not None else 0)
        return self._names

    def known_names(self) -> NameIndex:
        """The fullest index this container has built so far, for showing names."""
        return self._names or self.curated_names()


NAMES_TTL_S = 3600  # how long a container keeps its index of names before reading it again
CALLBACK_TRY_MS = 1500  # with a callback URL: answered by then, or the answer follows
CALLBACK_BUDGET_MS = 20_000  # the answer that follows (within the function's own timeout)
CALLBACK_POST_TIMEOUT_S = 5
CALLBACK_ANSWER = {
    "version": "2.0",
    "useCallback": True,
    "data": {"text": "찾아보는 중이에요. 잠시만 기다려 주세요 🎧"},
}
CREDENTIALS_REREAD_S = 300  # after a rejection, the secret is read again at most this often
MAX_COUNTED_INIT_S = 3.0


def process_age_s() -> float | None:
    """Seconds since this process started (Linux, as on Lambda); None elsewhere."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def in_korean(answer: ArtistAnswer, names: NameIndex) -> ArtistAnswer:
    """The names users know: Korean beside Spotify's Latin ones ("성시경 (Sung Si Kyung)")."""
    related: list[Related] = [
        {**entry, "korean": names.korean_name(entry["name"])} for entry in answer.related
    ]
    korean = names.korean_name(answer.artist["name"])
    return dataclasses.replace(answer, korean_name=korean, related=related)


# ---- Look-up: which artist, then what to show ------------------------------------------------

ANSWER_MEMORY_TTL_S = 300  # a whole answer, for repeats in the same container
KNOWLEDGE_TTL_S = 3600  # the store's tags and relations: a new co-ask shows within the hour
REMOVED_ENDPOINT_TTL_S = 7 * 86400  # re-check now and then: an app can be granted extended quota
ENDPOINTS = ("top-tracks", "related-artists")  # the ones development-mode apps lost
REMEMBERED_GONE = "remembered"  # the reason of a refusal the cache replayed
MAX_KEY_BYTES = 400  # a name's key, in UTF-8: cache keys stay far below DynamoDB's 2,048


class OverBudget(Exception):
    """A request that would call Spotify beyond its user's or the bot's budget per minute."""

    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope  # "user" or "bot"


@dataclasses.dataclass(frozen=True)
class Found:
    artist_id: str
    snapshot: Artist | None = None  # the artist as a search just returned it
    song: Track | None = None  # the song the user named, when it was a title


@dataclasses.dataclass(frozen=True)
class NotFound:
    query: str
    suggestion: ArtistRef | None = None  # Spotify's top hit when it did not look plausible


@dataclasses.dataclass
class ArtistAnswer:
    artist: Artist
    tracks: list[Track]
    tracks_are_top: bool
    related: list[Related]
    tags: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    kind: str = ARTIST  # what was asked: the artist, songs, similar artists, or a song
    song: Track | None = None
    korean_name: str = ""  # the name users know, when Spotify's is another


@dataclasses.dataclass
class Jobs:
    """What one answer fetches in parallel; None where the cache already had it."""

    artist: concurrent.futures.Future[Artist | None] | None
    tracks: concurrent.futures.Future[tuple[list[Track], bool]] | None
    related: concurrent.futures.Future[list[Related] | None] | None
    knowledge: concurrent.futures.Future[Knowledge | None] | None

    @property
    def fetched(self) -> bool:
        return any((self.artist, self.tracks, self.related))


class Lookup:
    """One request's look-up: memory, MySQL, DynamoDB, then Spotify, cheapest first."""

    def __init__(self, app: SkillApp, spotify: SpotifyGateway, deadline: Deadline, trace: Trace):
        self.app = app
        self.settings = app.settings
        self.store = app.store
        self.spotify = spotify
        self.deadline = deadline
        self.trace = trace
        self.cache = Cache(app.memory, app.dynamo, trace, deadline)
        self.stored: StoredArtist | None = None  # the store's row for the name asked
        self.endpoints: dict[str, Any] = {}  # what the cache says of ENDPOINTS
        self.user = ""  # who asks: the user's budget pays for Spotify calls
        self.charged = False
        self.fresh_id = False  # the artist's id came from a search in this request

    def answer(self, request: SkillRequest, ask: Ask) -> ArtistAnswer | NotFound:
        self.user = request.user_hash
        try:
            with self.trace.stage("resolve"):
                found = self.resolve(request, ask)
            answer = found if isinstance(found, NotFound) else self.about(found, request, ask)
            if answer is None:  # a button whose id Spotify no longer knows: its name, then
                found = self.resolve_name(Ask(ARTIST, request.artist_name or request.utterance))
                answer = found if isinstance(found, NotFound) else self.about(found, request, ask)
            if isinstance(answer, ArtistAnswer):
                self.learn_from(request, answer)
            return answer or NotFound(request.query)
        finally:
            with self.trace.stage("cache_write"):
                self.cache.flush()

    # -- which artist: the button's id, then memory, the store, the cache, Spotify

    def resolve(self, request: SkillRequest, ask: Ask) -> Found | NotFound:
        if request.artist_id:
            self.trace.layers["name"] = "button"
            return Found(request.artist_id)
        if ask.kind == SONG:
            return self.song_titled(ask.name) or self.remember_missing(ask.name, [])
        found = self.resolve_name(ask)
        if isinstance(found, NotFound) and ask.kind == ARTIST and not ask.known:
            return self.song_titled(ask.name) or found  # no such artist: maybe a song title
        return found

    def resolve_name(self, ask: Ask) -> Found | NotFound:
        query, key = ask.name, name_key(ask.name)
        if not key or len(key.encode()) > MAX_KEY_BYTES:
            return NotFound(query)  # only symbols or emoji, or no name: nothing to search for
        for step in (self.from_memory, self.from_store, self.from_cache):
            found = step(query, key)
            if found is not None:
                return found
        return self.from_spotify(query, key)

    def from_memory(self, query: str, key: str) -> Found | NotFound | None:
        memory = self.app.memory
        entry = memory.get(f"name#{key}") or memory.get(f"missing#{query}")
        return self.from_entry(entry, "memory", query)

    def from_store(self, query: str, key: str) -> Found | None:
        self.stored = self.store.find_alias(key, self.trace, self.deadline) if self.store else None
        if self.stored is None or not self.stored.spotify_id:
            return None
        self.trace.layers["name"] = "mysql"
        entry: NameEntry = {"id": self.stored.spotify_id}
        self.cache.put(f"name#{key}", entry, self.settings.cache_seconds, shared=False)
        return Found(self.stored.spotify_id)

    def from_cache(self, query: str, key: str) -> Found | NotFound | None:
        # The store holds this name: its row decides which artist, not what a cache says.
        keys = [f"missing#{query}"] if self.stored else [f"name#{key}", f"missing#{query}"]
        found = self.cache.get_many(keys)
        entry = found.get(f"name#{key}") or found.get(f"missing#{query}") or (None, "")
        return self.from_entry(entry[0], "dynamodb", query)

    def from_entry(
        self, entry: NameEntry | None, layer: str, query: str
    ) -> Found | NotFound | None:
        if entry is None:
            return None
        self.trace.layers["name"] = layer
        if entry.get("missing"):
            return NotFound(query, entry.get("suggestion"))
        return Found(entry["id"])

    def from_spotify(self, query: str, key: str) -> Found | NotFound:
        self.trace.layers["name"] = "spotify"
        asked = self.stored_name(query)
        candidates = self.search(self.spotify.search_artists, asked)
        best = pick_artist(asked, candidates)
        if best is None and self.store and not self.stored:
            # Spotify knows no such name: maybe a spelling of one the store knows (에미넘).
            self.stored = self.store.find_near_alias(key, self.trace, self.deadline)
            if self.stored and self.stored.spotify_id:
                return self.learn_misspelling(query, key, self.stored)
            if self.stored:
                found = self.search(self.spotify.search_artists, self.stored.name)
                best = pick_artist(self.stored.name, found)
        if best is None:
            return self.remember_missing(query, candidates)
        self.remember_found(query, key, best)
        return Found(best["id"], best)

    def search(self, call: Callable[[str, Deadline, Trace], list[T]], text: str) -> list[T]:
        """A Spotify search, waited for here. It runs in the pool, so a stalled connection
        cannot hold this thread past the deadline."""
        job = self.spotify_job(call, text, self.deadline, self.trace)
        return job.result(timeout=self.deadline.left() + 0.05)

    def learn_misspelling(self, query: str, key: str, near: StoredArtist) -> Found:
        assert self.store is not None and near.spotify_id
        self.trace.layers["name"] = "mysql_near"
        known: ArtistRef = {"id": near.spotify_id, "name": near.name}
        self.store.remember_artist(known, query, near, self.trace, self.deadline)
        self.cache.put(f"name#{key}", {"id": near.spotify_id}, self.settings.cache_seconds)
        return Found(near.spotify_id)

    def remember_missing(self, query: str, candidates: list[Artist]) -> NotFound:
        """Spotify knows no such artist: remembered for exactly what was searched, so that
        "아이유?" or a look-alike never makes "아이유" unknown."""
        top = candidates[0] if candidates else None
        suggestion: ArtistRef | None = {"id": top["id"], "name": top["name"]} if top else None
        entry: NameEntry = {"missing": True, "suggestion": suggestion}
        self.cache.put(f"missing#{query}", entry, self.settings.negative_cache_seconds)
        return NotFound(query, suggestion)

    def song_titled(self, title: str) -> Found | None:
        """The song a text names, by a track search (remembered either way), and its artist."""
        key = name_key(title)
        if len(key) < 2 or len(title) > MAX_QUERY_CHARS or len(key.encode()) > MAX_KEY_BYTES:
            return None
        entry: SongEntry | None = self.cache.get(f"song#{key}")
        if entry is None:
            tracks = self.search(self.spotify.search_songs, title)
            song = next((t for t in tracks if same_title(key, t["name"]) and t["artists"]), None)
            entry = {"track": song} if song else {"missing": True}
            ttl = self.settings.cache_seconds if song else self.settings.negative_cache_seconds
            self.cache.put(f"song#{key}", entry, ttl)
        song = entry.get("track")
        if not song:
            return None
        self.trace.layers["song"] = "found"
        return Found(song["artists"][0]["id"], song=song)

    def remember_found(self, query: str, key: str, best: Artist) -> None:
        self.app.known_names().add(query, best["name"])  # found inside sentences from now on
        if self.store:
            claims = self.stored if self.names_stored_row(best["name"]) else None
            self.store.remember_artist(best, query, claims, self.trace, self.deadline)
        self.cache.put(f"name#{key}", {"id": best["id"]}, self.settings.cache_seconds)

    def names_stored_row(self, name: str) -> bool:
        """Is `name` the stored row's own name or another of its names? Spotify renames
        artists ((G)I-DLE became i-dle): a search may return any of them."""
        if self.stored is None or self.store is None:
            return False
        if name_key(name) == name_key(self.stored.name):
            return True
        owner = self.store.find_alias(name_key(name), self.trace, self.deadline)
        return owner is not None and owner.row_id == self.stored.row_id

    # -- what to show about it

    def about(
        self, found: Found, request: SkillRequest, ask: Ask
    ) -> ArtistAnswer | NotFound | None:
        """What to show about the artist: not found when Spotify no longer knows the id a name
        led to; None for such a button, whose name is then looked up."""
        self.trace.resolved_id = found.artist_id
        self.fresh_id = found.snapshot is not None or found.song is not None
        answer = self.app.memory.get(f"answer#{found.artist_id}")
        if answer is not None:
            self.trace.layers["answer"] = "memory"
        else:
            try:
                answer = self.assemble(found, ask.name)
            except SpotifyRefused as error:
                if error.status not in (400, 404):
                    raise
                # A button's label led nowhere: its name is looked up, not forgotten.
                self.forget(found.artist_id, error, "" if request.artist_id else ask.name)
                return None if request.artist_id else NotFound(ask.name)
        kind = SONG if found.song else ask.kind
        return dataclasses.replace(answer, kind=kind, song=found.song)

    def assemble(self, found: Found, asked: str) -> ArtistAnswer:
        """Cached parts first, the rest from Spotify and MySQL in parallel, collected until the
        budget runs out, remembered, then put together."""
        with self.trace.stage("cache_read"):
            parts = self.cached_parts(found)
        jobs = self.start_missing(found.artist_id, parts, asked)
        notes: list[str] = []
        knowledge = self.collect(jobs, parts, notes)
        artist = parts["artist"]
        answer = ArtistAnswer(
            artist=artist,
            tracks=parts.get("tracks", []),
            tracks_are_top=parts.get("tracks_are_top", False),
            related=rank_related(artist, parts, knowledge),
            tags=knowledge.tags if knowledge else [],
            notes=notes,
        )
        self.remember(found.artist_id, parts, jobs, answer, complete=knowledge is not None)
        return answer

    def forget(self, artist_id: str, error: SpotifyRefused, name: str) -> None:
        """An id Spotify does not know (taken down): no one pays for it again soon, and the
        name that led to it is not found until a search finds it anew."""
        ttl = self.settings.negative_cache_seconds
        if name_key(name):
            self.cache.put(f"name#{name_key(name)}", {"missing": True, "suggestion": None}, ttl)
        if error.reason == REMEMBERED_GONE:
            return  # forgotten when Spotify said so: nothing more to write
        self.cache.put(f"gone#{artist_id}", {"status": error.status}, ttl)
        if self.store:
            self.store.forget_artist(artist_id, self.trace, self.deadline)

    def cached_parts(self, found: Found) -> CachedParts:
        artist_key, gone_key = f"artist#{found.artist_id}", f"gone#{found.artist_id}"
        keys = [artist_key, gone_key, *(f"endpoint#{e}" for e in ENDPOINTS)]
        cached = self.cache.get_many(keys)
        if gone_key in cached:
            status = cached[gone_key][0]["status"]
            raise SpotifyRefused(status, "an id Spotify did not know", reason=REMEMBERED_GONE)
        self.endpoints = {e: cached.get(f"endpoint#{e}", (None,))[0] for e in ENDPOINTS}
        value, layer = cached.get(artist_key, ({}, "spotify"))
        parts = CachedParts(**value)  # a copy: answers fill it in
        self.trace.layers["artist"] = layer if parts else "spotify"
        if found.snapshot and "artist" not in parts:
            parts["artist"] = found.snapshot
        return parts

    def start_missing(self, artist_id: str, parts: CachedParts, asked: str) -> Jobs:
        start, spotify = self.spotify_job, self.spotify
        # The track search needs a name: the cached one, the store's, or what was typed.
        name = parts["artist"]["name"] if "artist" in parts else self.stored_name(asked)
        wants_related = "spotify_related" not in parts and not self.removed("related-artists")
        return Jobs(
            artist=None if "artist" in parts
            else start(spotify.artist, artist_id, self.deadline, self.trace),
            tracks=None if "tracks" in parts else start(self.fetch_tracks, artist_id, name),
            related=start(self.fetch_spotify_related, artist_id) if wants_related else None,
            knowledge=self.start_knowledge(artist_id),
        )  # fmt: skip

    def stored_name(self, asked: str) -> str:
        return self.stored.name if self.stored else asked

    def removed(self, endpoint: str) -> bool:
        """The cache says this app lost the endpoint (development mode)."""
        known = self.endpoints.get(endpoint)
        return isinstance(known, dict) and known.get("status") in (403, 404)

    def start_knowledge(self, artist_id: str) -> concurrent.futures.Future[Knowledge | None] | None:
        known = self.app.memory.get(f"knowledge#{artist_id}")
        if known is not None:
            self.trace.layers["knowledge"] = "memory"
            return finished(known)
        if not self.store:
            return None
        self.trace.layers["knowledge"] = "mysql"  # runs alongside Spotify's calls, if any
        return self.app.start(self.knowledge_from_store, self.store, artist_id)

    def knowledge_from_store(self, store: ArtistStore, artist_id: str) -> Knowledge | None:
        knowledge = store.knowledge(artist_id, self.trace, self.deadline)
        if knowledge is not None:
            expires = time.time() + KNOWLEDGE_TTL_S
            self.app.memory.put(f"knowledge#{artist_id}", knowledge, expires)
        return knowledge

    def collect(self, jobs: Jobs, parts: CachedParts, notes: list[str]) -> Knowledge | None:
        """Each job's result into `parts`, each failure as a note; the store's knowledge."""
        with self.trace.stage("mysql_read"):
            knowledge = self.finish(jobs.knowledge, notes)
        with self.trace.stage("spotify"):
            if jobs.artist is not None:
                artist = jobs.artist.result(timeout=self.deadline.left() + 0.05)
                if artist is None:
                    raise SpotifyRefused(404, "artist not found")
                parts["artist"] = artist
            tracks = self.finish(jobs.tracks, notes, "곡 정보")
            if tracks and tracks[0]:  # an empty list is not worth keeping for days
                parts["tracks"], parts["tracks_are_top"] = tracks
            related = self.finish(jobs.related, notes)
            if related is not None:
                parts["spotify_related"] = related
        return knowledge

    def finish(
        self, job: concurrent.futures.Future[T] | None, notes: list[str], what: str | None = None
    ) -> T | None:
        """A job's result, or None (and a note for the user) when it failed or ran late."""
        if job is None:
            return None
        try:
            return job.result(timeout=self.deadline.left())
        except TimeoutError:
            self.trace.cut_short = True
            log_fields(logging.WARNING, "budget ran out", waiting_for=what)
        except SpotifyError as error:
            log_spotify_error(error)
        if what:
            notes.append(f"지금은 {what}를 불러오지 못했어요. 잠시 뒤에 다시 물어봐 주세요.")
        return None

    def remember(
        self, artist_id: str, parts: CachedParts, jobs: Jobs, answer: ArtistAnswer, complete: bool
    ) -> None:
        if jobs.tracks and "tracks" in parts and self.store:
            self.store.remember_cocredits(answer.artist, parts["tracks"], self.trace, self.deadline)
        if jobs.fetched:
            self.cache.put(f"artist#{artist_id}", parts, self.settings.cache_seconds)
        if not answer.notes and (complete or self.store is None):
            # Complete answers only: a partial one must not hide the full one for five minutes.
            self.app.memory.put(f"answer#{artist_id}", answer, time.time() + ANSWER_MEMORY_TTL_S)

    # -- the parts Spotify gives

    def spotify_job(self, work: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Spotify work on the pool. A request's first one is charged to its user's and the
        bot's budgets per minute: one caller cannot spend the quota every user shares."""
        if not self.charged:
            self.charged = True
            minute = int(time.time() // 60)
            user = f"spend#{self.user or 'anonymous'}#{minute}"
            if self.cache.count(user, 60) > self.settings.user_requests_per_minute:
                raise OverBudget("user")
            if self.cache.count(f"spend#{minute}", 60) > self.settings.spotify_requests_per_minute:
                raise OverBudget("bot")
        return self.app.start(work, *args)

    def fetch_tracks(self, artist_id: str, name: str) -> tuple[list[Track], bool]:
        """Top tracks where the app still has them, else a track search by name."""
        if not self.removed("top-tracks"):
            top = self.call_endpoint("top-tracks", self.spotify.top_tracks, artist_id)
            if top is not None:
                return top, True
        artist: ArtistRef = {"id": artist_id, "name": name}
        return self.spotify.search_tracks(artist, self.deadline, self.trace), False

    def fetch_spotify_related(self, artist_id: str) -> list[Related] | None:
        found = self.call_endpoint("related-artists", self.spotify.related_artists, artist_id)
        if found is None:
            return None
        return [{"id": a["id"], "name": a["name"], "reason": "spotify"} for a in found]

    def call_endpoint(self, endpoint: str, call: Callable[..., T], artist_id: str) -> T | None:
        """One of ENDPOINTS; None when this app lost it, remembered so no one asks again soon."""
        try:
            result = call(artist_id, self.deadline, self.trace)
        except SpotifyError as error:
            if error.status not in (403, 404, 429):
                raise
            self.endpoint_failed(endpoint, error.status)
            return None
        if self.endpoints.get(endpoint) is None:  # first word on it: the app has it
            self.cache.put(f"endpoint#{endpoint}", {"status": 200}, REMOVED_ENDPOINT_TTL_S)
        return result

    def endpoint_failed(self, endpoint: str, status: int) -> None:
        """The fallback this time. The endpoint counts as lost only when it failed for an
        artist a search just found (a stale id fails everywhere) and nothing said it works."""
        known = self.endpoints.get(endpoint)
        works = isinstance(known, dict) and known.get("status") == 200
        lost = self.fresh_id and not works and status != 429
        log_fields(
            logging.INFO,
            "spotify endpoint failed, using the fallback",
            endpoint=endpoint,
            status=status,
            remembered_as_lost=lost,
        )
        if lost:
            self.cache.put(f"endpoint#{endpoint}", {"status": status}, REMOVED_ENDPOINT_TTL_S)

    # -- what the bot learns from the request

    def learn_from(self, request: SkillRequest, answer: ArtistAnswer) -> None:
        """A user's vote and ask, noted in the store: what one user does never changes an
        answer by itself (see ArtistStore.confirm_alias and record_ask)."""
        if not self.store:
            return
        typed, user = request.confirms_alias, request.user_hash
        if typed and len(typed) <= MAX_QUERY_CHARS:
            self.store.confirm_alias(typed, answer.artist, user, self.trace, self.deadline)
        self.store.record_ask(user, answer.artist, self.trace)


def finished(value: T) -> concurrent.futures.Future[T]:
    """A job that is already done: what a cache had."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    future.set_result(value)
    return future


# ---- Kakao request ----------------------------------------------------------------------------


class BadRequest(Exception):
    """A request we refuse with a 4xx: not from Kakao, or failing authentication."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    headers: dict[str, str]  # names lower-cased: HTTP APIs lower-case them, REST APIs do not
    body: Any  # the parsed JSON body
    direct: bool  # a bare Kakao body invoked directly (console test): IAM already checked it


@dataclasses.dataclass(frozen=True)
class SkillRequest:
    utterance: str  # what the user typed or tapped, cleaned
    entities: tuple[str, ...]  # artist entities' values: the resolved value before the text typed
    others: tuple[str, ...]  # custom entities' values: artists only when the bot knows the name
    artist_id: str | None  # Spotify id carried by a quick reply or button we sent
    artist_name: str  # the name that button carried with it
    confirms_alias: str  # the name a "did you mean" quick reply confirms, if any
    user_hash: str  # the bot user key, peppered and hashed: counts users, names no one
    surface: str
    block_id: str  # the block that called: data-carrying quick replies come back to it
    seal: Seal  # signs the extras of the quick replies this user gets
    callback_url: str = ""  # approved bots' blocks: where a late answer may be POSTed

    @property
    def query(self) -> str:
        """What the request names, before it is understood."""
        return self.artist_name or next(iter(self.entities), "") or self.utterance

    @property
    def reply_to(self) -> ReplyTo:
        return ReplyTo(self.block_id, self.seal)

    def log_fields(self) -> dict[str, Any]:
        return {
            "query": self.query[:MAX_QUERY_CHARS],
            "artist_id": self.artist_id,
            "user": self.user_hash,
            "surface": self.surface,
        }


SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
# Parameters that name an artist, whatever the entity behind them (README "오픈빌더 연결").
ARTIST_PARAMS = ("solo", "group", "artist", "singer", "sys_person_name", "sys_person_group")
ARTIST_PARAM = re.compile(r"artist|singer|person|가수|아티스트|그룹|솔로", re.IGNORECASE)


def accepted_body(event: Any, api_key: str) -> dict[str, Any]:
    """The Kakao body of an event that passes the key check; BadRequest otherwise."""
    incoming = read_http_event(event)
    check_api_key(incoming, api_key)
    if not looks_like_kakao(incoming.body):
        raise BadRequest(400, "not a Kakao skill request")
    return incoming.body


def read_http_event(event: Any) -> HttpRequest:
    """Accept API Gateway REST (1.0), HTTP API (2.0), Function URL events and bare Kakao bodies."""
    if not isinstance(event, dict):
        raise BadRequest(400, "event must be a JSON object")
    if not is_proxy_event(event):
        if looks_like_kakao(event):
            return HttpRequest(headers={}, body=event, direct=True)
        raise BadRequest(400, "not an API Gateway event or a Kakao skill request")
    headers = {
        str(name).lower(): value
        for name, value in _as_dict(event.get("headers")).items()
        if isinstance(value, str)
    }
    return HttpRequest(headers=headers, body=decode_body(event), direct=False)


def is_proxy_event(event: dict[str, Any]) -> bool:
    """An HTTP request through API Gateway or a Function URL, not a direct invocation."""
    return any(key in event for key in ("body", "httpMethod", "requestContext", "routeKey"))


def decode_body(event: dict[str, Any]) -> Any:
    body = event.get("body")
    if not isinstance(body, str) or not body.strip():
        raise BadRequest(400, "request body is empty")
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise BadRequest(400, "request body is too large")
    raw = _body_bytes(body, bool(event.get("isBase64Encoded")))
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(400, "request body is too large")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "request body is not valid UTF-8") from None
    except (ValueError, RecursionError):
        raise BadRequest(400, "request body is not valid JSON") from None


def _body_bytes(body: str, base64_encoded: bool) -> bytes:
    if not base64_encoded:
        # A lone surrogate can only be a broken character: "?" keeps the request answerable.
        return body.encode("utf-8", "replace")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(400, "request body is not valid base64") from None


def looks_like_kakao(body: Any) -> bool:
    """Kakao bodies carry these keys; any of them may be null in practice."""
    return isinstance(body, dict) and any(
        key in body for key in ("userRequest", "action", "intent", "bot")
    )


def check_api_key(request: HttpRequest, expected: str) -> None:
    if not expected or request.direct:
        return
    given = request.headers.get("x-api-key", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        raise BadRequest(401, "missing or wrong x-api-key header")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def clean_query(value: Any) -> str:
    """What the user typed, as one line: control characters and surrogates out, spaces folded."""
    if not isinstance(value, str):
        return ""
    kept = (" " if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") else ch for ch in value)
    return " ".join("".join(kept).split())


def param_text(value: Any) -> str:
    """A parameter value; system entities sometimes arrive as stringified JSON."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        with contextlib.suppress(ValueError, RecursionError):
            parsed = _as_dict(json.loads(value))
            value = parsed.get("value") or parsed.get("name") or parsed.get("origin")
    return clean_query(value)


def skill_request_from(body: dict[str, Any], keys: Keys) -> SkillRequest:
    """The request's parts, each checked: our own button's extra (signed), the parameters by
    meaning, the utterance."""
    action = _as_dict(body.get("action"))
    user_request = _as_dict(body.get("userRequest"))
    user = user_hash(_as_dict(user_request.get("user")).get("id"), keys.pepper)
    seal = Seal(keys.extras, user, time.time())
    extra = signed_extra(action.get("clientExtra"), seal)
    artist_id = extra.get("artist_id", "")
    surface = _as_dict(user_request.get("params")).get("surface")
    block_id = _as_dict(user_request.get("block")).get("id")
    callback = user_request.get("callbackUrl")
    entities, others = entity_values(action)
    return SkillRequest(
        utterance=clean_query(user_request.get("utterance")),
        entities=entities,
        others=others,
        artist_id=artist_id if SPOTIFY_ID.match(artist_id) else None,
        artist_name=clean_query(extra.get("artist_name")),
        confirms_alias=clean_query(extra.get("confirms")),
        user_hash=user,
        surface=surface if isinstance(surface, str) else "",
        block_id=block_id if isinstance(block_id, str) else "",
        seal=seal,
        callback_url=callback if isinstance(callback, str) else "",
    )


def signed_extra(extra: Any, seal: Seal) -> dict[str, str]:
    """The values of a quick reply's extra this bot signed for this user; {} for any other,
    and the message is then read as plain text. Kakao sends null, "null" or {} when nothing
    was tapped."""
    if not isinstance(extra, dict) or not extra:
        return {}
    values = seal.open(extra)
    if values is None:
        log_fields(
            logging.WARNING,
            "quick-reply extra not signed by this bot for this user, read as plain text",
            extra_keys=sorted(str(key) for key in extra)[:10],
        )
        return {}
    return values


def entity_values(action: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(artist entities, other custom entities): each parameter's resolved value, or the text
    typed. System entities that are not names (dates, numbers, places, free text) are left out."""
    params = _as_dict(action.get("params"))
    detail = _as_dict(action.get("detailParams"))
    order = {name: rank for rank, name in enumerate(ARTIST_PARAMS)}
    names = sorted({*params, *detail}, key=lambda n: (order.get(n, len(order)), str(n)))
    artists, others = [], []
    for name in names:
        found = _as_dict(detail.get(name))
        value = param_text(found.get("value")) or param_text(found.get("origin"))
        value = value or param_text(params.get(name))
        if name in ARTIST_PARAMS or ARTIST_PARAM.search(str(name)):
            artists.append(value)
        elif not str(name).startswith("sys_"):
            others.append(value)
    return tuple(v for v in artists if v), tuple(v for v in others if v)


def user_hash(user_key: Any, pepper: bytes) -> str:
    """A bot user key, peppered: of no use to anyone who holds the key but not the pepper."""
    if not isinstance(user_key, str) or not user_key:
        return ""
    return hmac.new(pepper, user_key.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:16]


EXTRA_TTL_S = 30 * 86400  # a quick reply in the chat's history stays good this long


@dataclasses.dataclass(frozen=True)
class Keys:
    """The container's keys for what passes through KakaoTalk: one signs quick replies'
    `extra`, one peppers user keys. Both derive from SIGNING_KEY or, unset, from the Spotify
    client secret: a secret the function already has."""

    extras: bytes = dataclasses.field(repr=False)
    pepper: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        root = (settings.signing_key or settings.spotify_client_secret).encode()
        root = root or os.urandom(32)  # nothing to derive from: good in this container only
        return cls(extras=_derive(root, "extras"), pepper=_derive(root, "user-keys"))


def _derive(root: bytes, purpose: str) -> bytes:
    return hmac.new(root, f"{SERVICE_NAME}/{purpose}".encode(), hashlib.sha256).digest()


@dataclasses.dataclass(frozen=True)
class Seal:
    """Signs the `extra` of quick replies sent to one user, and opens what comes back: an
    extra counts only if this bot wrote it, for this user, less than EXTRA_TTL_S ago."""

    key: bytes = dataclasses.field(repr=False)
    user: str  # the user's hash
    now: float

    def close(self, values: dict[str, str]) -> dict[str, str]:
        expires = str(int(self.now + EXTRA_TTL_S))
        return {**values, "exp": expires, "sig": self._mac(values, expires)}

    def open(self, extra: dict[str, Any]) -> dict[str, str] | None:
        """The values of an extra this bot signed for this user; None for any other."""
        values = {key: value for key, value in extra.items() if key not in ("exp", "sig")}
        expires, sig = extra.get("exp"), extra.get("sig")
        if not (isinstance(expires, str) and re.fullmatch(r"[0-9]{1,12}", expires)):
            return None
        if not isinstance(sig, str):
            return None
        if int(expires) < self.now or not all(isinstance(v, str) for v in values.values()):
            return None
        mac = self._mac(values, expires)
        return values if hmac.compare_digest(sig.encode("utf-8", "replace"), mac.encode()) else None

    def _mac(self, values: dict[str, str], expires: str) -> str:
        signed = json.dumps([sorted(values.items()), self.user, expires])
        return hmac.new(self.key, signed.encode(), hashlib.sha256).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class ReplyTo:
    """Where quick replies that carry data come back: the calling block, sealed for its user."""

    block_id: str = ""
    seal: Seal | None = None  # None: quick replies carry no data, a tap is plain text


# ---- Names ------------------------------------------------------------------------------------


def name_key(text: str) -> str:
    """The key names match on: full-width folded, accents and case dropped, letters and digits only.

    "레드 벨벳" and "레드벨벳", "IU" and "iu", "(여자)아이들" and "여자아이들" share a key.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = unicodedata.normalize("NFC", stripped).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def has_hangul(text: str) -> bool:
    return any(map(_is_hangul, text))


def _jamo(syllable: str) -> tuple[int, int, int]:
    """A Hangul syllable's initial, vowel and final, as indexes."""
    index = ord(syllable) - 0xAC00
    return index // 588, index % 588 // 28, index % 28


_INITIALS = [*"g kk n d tt r m b pp s ss".split(), "", *"j jj ch k t p h".split()]
_VOWELS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINALS = ["", *"k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()]


def romanize(text: str) -> str:
    """Revised Romanization, roughly: enough to compare 뉴진스 with NewJeans, not to publish."""
    return "".join(_romanized(ch) if _is_hangul(ch) else ch for ch in text)


def _romanized(syllable: str) -> str:
    initial, vowel, final = _jamo(syllable)
    return _INITIALS[initial] + _VOWELS[vowel] + _FINALS[final]


# Sounds Hangul spellings of foreign names merge (f/p, v/b, r/l, z/j...), vowels dropped.
_SOUND_RULES = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        ("ch", "j"),
        ("ph", "p"),
        ("sh|th", "s"),
        ("c(?=[eiy])", "s"),
        ("x", "ks"),
        ("[cqgk]+", "k"),
        ("z", "j"),
        ("[fpbv]", "p"),
        ("[dt]", "t"),
        ("[rl]", "l"),
        ("[aeiouyhw]", ""),
        (r"(.)\1+", r"\1"),
    )
]


def sound_skeleton(key: str) -> str:
    """The consonants of a name as Korean would spell them: 트와이스 and TWICE both give "ts"."""
    text = romanize(key)
    for pattern, replacement in _SOUND_RULES:
        text = pattern.sub(replacement, text)
    return text


def is_plausible_match(typed: str, found: str) -> bool:
    """Is `found` a believable answer to `typed`? Guards the alias table against random hits."""
    a, b = name_key(typed), name_key(found)
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return True
    sound_a, sound_b = sound_skeleton(a), sound_skeleton(b)
    if len(sound_a) >= 2 and difflib.SequenceMatcher(None, sound_a, sound_b).ratio() >= 0.75:
        return True
    return difflib.SequenceMatcher(None, romanize(a), romanize(b)).ratio() >= 0.6


def pick_artist(typed: str, candidates: list[Artist]) -> Artist | None:
    """Spotify's best match: an exact name, else its top hit if that is plausible, in Spotify's
    order; a profile with no image (a duplicate, an impostor) only when nothing else fits."""
    key = name_key(typed)
    fitting = [c for c in candidates if name_key(c["name"]) == key]
    if candidates and is_plausible_match(typed, candidates[0]["name"]):
        fitting.append(candidates[0])
    return next((c for c in fitting if c.get("image")), fitting[0] if fitting else None)


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance, an adjacent swap counting one edit (coldpaly → coldplay); any
    distance over `limit` is limit + 1, found as soon as every path costs more."""
    before: list[int] = []
    last = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(last[j] + 1, row[j - 1] + 1, last[j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], before[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        before, last = last, row
    return min(last[-1], limit + 1)


def is_misspelling(typed: str, known: str) -> bool:
    """Is the key `typed` a near miss of the key `known`? In Hangul: same length (3+), one
    syllable off, and that one shares two of its three letters (에미넘/에미넴, 뉴진즈/뉴진스).
    Otherwise: one edit in 5+ letters, two in 9+ (edsheran, coldpaly)."""
    if typed == known:
        return False
    if has_hangul(typed) or has_hangul(known):
        return _is_hangul_misspelling(typed, known)
    shorter = min(len(typed), len(known))
    edits = 2 if shorter >= 9 else 1
    if shorter < 5 or abs(len(typed) - len(known)) > edits:
        return False
    # An edit adds or drops at most two distinct letters: a cheap test before the distance.
    return len(set(typed) ^ set(known)) <= 2 * edits and edit_distance(typed, known) <= edits


def _is_hangul_misspelling(typed: str, known: str) -> bool:
    if len(typed) != len(known) or len(typed) < 3:
        return False
    differing = [(a, b) for a, b in zip(typed, known, strict=True) if a != b]
    if len(differing) != 1 or not all(map(_is_hangul, differing[0])):
        return False
    a, b = (_jamo(ch) for ch in differing[0])
    return sum(x == y for x, y in zip(a, b, strict=True)) >= 2


def closest_alias(key: str, aliases: Iterable[tuple[str, Any]]) -> Any | None:
    """The owner of the one alias `key` misspells; None when none does, or several owners'."""
    owners = {owner for alias_key, owner in aliases if is_misspelling(key, alias_key)}
    return owners.pop() if len(owners) == 1 else None


# ---- What the user asked ---------------------------------------------------------------------

MAX_NAME_WORDS = 4  # the longest artist name, in words ("Red Hot Chili Peppers")
MAX_SENTENCE_CHARS = 300  # longer is chat, and never parsed: parsing is not free
MAX_FILLER_CHARS = 40  # particles and request words after a name, all together
CURATED_FILE = Path(__file__).with_name("data") / "artists.csv"


def _keys(words: str) -> frozenset[str]:
    return frozenset(name_key(word) for word in words.split())


HELP_PHRASES = _keys(
    "안녕 안녕하세요 안뇽 하이 ㅎㅇ hi hello 헬로 반가워 반가워요 도움말 도움 help"
    " 사용법 메뉴 처음으로 처음 시작 시작하기 start 뭐할수있어 뭐할수있어요 뭘할수있어"
    " 뭐해줄수있어 뭐하는봇이야 너누구야 누구세요 기능 고마워 고마워요 고맙습니다 감사"
    " 감사해요 감사합니다 땡큐 thanks thankyou 인기아티스트 인기가수 추천해줘 아무나"
)
SONG_WORDS = _keys("노래 곡 인기곡 대표곡 최신곡 신곡 음악 트랙 들려줘 틀어줘 song songs")
SIMILAR_WORDS = _keys("비슷한 비슷 같은 닮은 유사한 similar")
# Words around a name that ask something of it; folded away before anything is searched.
OTHER_REQUEST_WORDS = _keys(
    "알려줘 알려주세요 알려 줘 주세요 해줘 해주세요 좀 추천 추천해줘 추천해주세요 추천해"
    " 정보 소개 누구야 누구 누구예요 누군지 누구지 좋아해 좋아 좋아요 가수 가수들"
    " 아티스트 그룹 밴드 아이돌 래퍼 뮤지션 검색 찾아줘 찾아 뭐야 뭐있어 어때 궁금해 궁금 대해 관해"
    " 말해줘 보여줘 거 거야 꺼 야 요 ㅋㅋ ㅎㅎ 이 그 저 이거 스타일 느낌 있어 뭐 어떤 들"
)
PARTICLES = _keys(
    "이랑 랑 하고 은 는 이 가 을 를 의 도 요 이요 이야 야 에 께 한테 에게 처럼 이란 란 으로 로"
)
FILLERS = SONG_WORDS | SIMILAR_WORDS | OTHER_REQUEST_WORDS | PARTICLES
SENTENCE_ENDINGS = ("요", "다", "까", "니", "죠", "네", "지", "냐")
NOT_A_NAME = re.compile(r"https?://|www\.|\.(com|net|kr|jpg|png|gif)\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Ask:
    """What one message asks: the kind of answer, and the name (or song title) to look up."""

    kind: str
    name: str = ""
    known: bool = False  # the name is one the bot's index holds


class NameIndex:
    """Every artist name the bot knows, by key: the curated file, the store's aliases and names
    it learned. Built once per container; finds the longest known name inside a sentence."""

    def __init__(self) -> None:
        self._canonical: dict[str, str] = {}  # name key -> the name to look up
        self._korean: dict[str, str] = {}  # name key -> the artist's Korean name
        self._longest = 0  # the longest key: no longer slice of a sentence is looked up

    def add(self, alias: str, canonical: str, korean: str = "") -> None:
        key = name_key(alias)
        if len(key) >= 2 or (key and not key.isascii()):
            self._longest = max(self._longest, len(key))
            self._canonical.setdefault(key, canonical)
            if korean:
                self._korean.setdefault(key, korean)

    def add_curated(self, rows: Iterable[CuratedArtist]) -> None:
        for row in rows:
            names = (row.name, *row.aliases)
            korean = next((name for name in names if has_hangul(name)), "")
            for name in names:
                self.add(name, row.name, korean)

    def add_aliases(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(alias, artist name) pairs from the store; a Hangul alias is the Korean name."""
        pairs = list(pairs)
        # reversed: an artist's first Hangul alias wins
        korean = {name: alias for alias, name in reversed(pairs) if has_hangul(alias)}
        for alias, name in pairs:
            self.add(alias, name, korean.get(name, ""))

    def canonical(self, text: str) -> str | None:
        return self._canonical.get(name_key(text))

    def korean_name(self, name: str) -> str:
        """The Korean name users know an artist by, when it differs from `name`."""
        korean = self._korean.get(name_key(name), "")
        return korean if korean and not has_hangul(name) else ""

    def find_in(self, words: list[str]) -> tuple[str, list[str]] | None:
        """The longest known name in `words` (a particle or request word may follow it in the
        same word): (its canonical form, the other words, that particle or word included)."""
        keys = [name_key(word) for word in words]
        found = (name for start in range(len(keys)) for name in self._names_from(keys, start))
        best = max(found, key=lambda name: name[0], default=None)  # the first of the longest
        if best is None:
            return None
        _, canonical, start, end, rest = best
        return canonical, [*words[:start], rest, *words[end:]]

    def _names_from(self, keys: list[str], start: int) -> Iterator[tuple[int, str, int, int, str]]:
        joined = ""
        for end in range(start, min(len(keys), start + MAX_NAME_WORDS)):
            before, joined = len(joined), joined + keys[end]
            for cut in range(min(len(joined), self._longest), before, -1):
                canonical = self._canonical.get(joined[:cut])
                if canonical and is_filler(joined[cut:]):
                    yield cut, canonical, start, end + 1, joined[cut:]
                    break


@functools.cache
def read_curated_file() -> tuple[CuratedArtist, ...]:
    """The curated artists shipped beside this file in the zip (none where it is missing)."""
    try:
        with CURATED_FILE.open(encoding="utf-8-sig", newline="") as handle:
            return tuple(read_curated_csv(handle)[0])
    except OSError:
        return ()


@functools.lru_cache(maxsize=4096)  # bounded: the keys come from what users type
def is_filler(key: str) -> bool:
    """Is this key (letters only) made of particles and request words alone? ("랑비슷한가수")"""
    if len(key) > MAX_FILLER_CHARS:
        return False
    return not key or any(
        key.startswith(word) and is_filler(key[len(word) :]) for word in FILLERS if word
    )


def understand(request: SkillRequest, names: NameIndex) -> Ask:
    """What the message asks: an artist entity first, then a known name in the sentence, then
    what is left of the sentence once its particles and request words are folded away."""
    words = request.utterance[:MAX_SENTENCE_CHARS].split()
    entity = next((value for value in request.entities if len(value) <= MAX_QUERY_CHARS), None)
    mapped = (value for value in request.others if names.canonical(value))
    entity = entity or next(mapped, None)
    if entity:
        canonical = names.canonical(entity)
        return Ask(kind_of(words), canonical or entity, known=canonical is not None)
    if len(request.utterance) > MAX_SENTENCE_CHARS:
        return Ask(CHAT)
    if name_key(request.utterance) in HELP_PHRASES:
        return Ask(HELP)
    found = names.find_in(words)
    if found is not None:
        return Ask(kind_of(found[1]), found[0], known=True)
    return ask_unknown(request.utterance, words)


def kind_of(words: list[str]) -> str:
    """Songs, similar artists, or (by default) the artist, by the request words used."""
    text = "".join(name_key(word) for word in words)
    if any(word in text for word in SIMILAR_WORDS):
        return SIMILAR
    return SONGS if any(word in text for word in SONG_WORDS) else ARTIST


def ask_unknown(utterance: str, words: list[str]) -> Ask:
    """A message with no name the bot knows: what is left of it to search, or none."""
    if NOT_A_NAME.search(utterance) or looks_like_noise(name_key(utterance)):
        return Ask(CHAT)
    left = [word for word in words if not is_filler(name_key(word))]
    if not left:
        return Ask(HELP)  # request words alone: "노래 추천해줘"
    text = " ".join(_without_particle(word) for word in left)
    kind = kind_of(words)
    if kind == SONGS and "누구" in name_key(utterance):
        return Ask(SONG, text)  # "Hype Boy 누구 노래야": a title
    if len(left) > MAX_NAME_WORDS or len(text) > MAX_QUERY_CHARS or looks_like_sentence(left):
        return Ask(CHAT)
    return Ask(kind, text)


def looks_like_noise(key: str) -> bool:
    """Laughter, lone jamo, one letter repeated ("ㅋㅋㅋ", "aaa")."""
    return not key or len(set(key)) == 1 or all("\u3131" <= ch <= "\u318e" for ch in key)


def looks_like_sentence(words: list[str]) -> bool:
    """Korean chat, not a name: two words or more, the last one ending like a verb."""
    last = name_key(words[-1])
    return len(words) >= 2 and has_hangul(last) and last.endswith(SENTENCE_ENDINGS)


# Particles stripped from a name the bot does not know. Not 이, 가, 야, 도: names end so too.
SAFE_PARTICLES = "이랑 하고 에게 한테 처럼 이란 이요 랑 은 는 을 를 의".split()  # longest first


def _without_particle(word: str) -> str:
    bare = word.rstrip("?!.~,")
    for particle in SAFE_PARTICLES:
        if has_hangul(bare) and bare.endswith(particle) and len(bare) - len(particle) >= 2:
            return bare[: -len(particle)]
    return bare


# ---- Related artists (pure) -------------------------------------------------------------------

# What each kind of evidence weighs. Within a kind, a candidate gets the weight times its
# strength as a share of that kind's strongest; an artist's score sums over kinds.
RELATION_WEIGHTS = {
    "spotify": 3.0,
    "same_group": 3.0,
    "cocredit": 2.5,
    "coask": 2.0,
    "same_agency": 1.5,
    "similar_genre": 1.0,
}


def rank_related(
    artist: ArtistRef, parts: Mapping[str, Any], knowledge: Knowledge | None
) -> list[Related]:
    """The related artists to show: Spotify's list where the app still has it, co-credits (on
    the tracks at hand and stored), shared curated tags and co-asks, combined."""
    spotify: list[Related] = parts.get("spotify_related") or []
    entries: list[Related] = [  # Spotify's own order is its strength
        {**entry, "score": len(spotify) - position} for position, entry in enumerate(spotify)
    ]
    entries += cocredits(artist["id"], parts.get("tracks", []))
    if knowledge is not None:
        entries += knowledge.related
    return combine_related(artist, entries)[:SHOWN_RELATED]


def combine_related(artist: Mapping[str, Any], entries: list[Related]) -> list[Related]:
    """One ranked list from entries {id, name, reason, score} of every source. Each result
    says what each source contributed (`sources`) and its reasons, strongest first."""
    strongest: dict[str, float] = {}
    for entry in entries:
        reason = entry["reason"]
        strongest[reason] = max(strongest.get(reason, 0.0), float(entry.get("score") or 0))
    merged: dict[str, Related] = {}
    for entry in entries:
        key = name_key(entry["name"])
        if key and key != name_key(artist["name"]) and not _same_id(entry, artist):
            _add_evidence(merged.setdefault(key, _candidate(entry)), entry, strongest)
    ranked = [_ranked(found) for found in merged.values()]
    return sorted(ranked, key=lambda found: (-found["score"], found["name"]))


def _same_id(entry: Related, artist: Mapping[str, Any]) -> bool:
    return artist["id"] is not None and entry.get("id") == artist["id"]


def _candidate(entry: Related) -> Related:
    return {"id": None, "name": entry["name"], "reason": "", "sources": {}}


def _add_evidence(found: Related, entry: Related, strongest: dict[str, float]) -> None:
    reason = entry["reason"]
    share = float(entry.get("score") or 0) / strongest[reason] if strongest[reason] else 1.0
    contribution = RELATION_WEIGHTS.get(reason, 0.5) * share
    found["id"] = found["id"] or entry.get("id")
    sources = found["sources"]
    sources[reason] = round(max(sources.get(reason, 0.0), contribution), 3)


def _ranked(found: Related) -> Related:
    sources = found["sources"]
    reasons = sorted(sources, key=lambda r: (-sources[r], r))
    total = round(sum(sources.values()), 3)
    return {**found, "reason": reasons[0], "reasons": reasons, "score": total}


def cocredits(artist_id: str, tracks: list[Track]) -> list[Related]:
    """Artists credited with this one, most shared tracks first."""
    others = [other for track in tracks for other in track["artists"] if other["id"] != artist_id]
    counts: dict[str, Related] = {}
    for other in others:
        entry = counts.setdefault(other["id"], {**other, "reason": "cocredit", "score": 0.0})
        entry["score"] += 1
    return sorted(counts.values(), key=lambda entry: -entry["score"])


# ---- Rendering: Kakao skill 2.0 (pure) -----------------------------------------------------
# Limits from Kakao's "응답 타입별 JSON 포맷", strictest reading; lengths in UTF-16 units as
# KakaoTalk's clients count them.

TEXT_MAX = 1000
TITLE_MAX = 50
BASIC_CARD_DESCRIPTION_MAX = 230
LIST_ITEM_TEXT_MAX = 50
LABEL_MAX = 14
ALT_TEXT_MAX = 50
QUICK_REPLIES_MAX = 10
OUTPUTS_MAX = 3
LIST_ITEMS_MAX = 5

UNNAMED = "(이름 없음)"
REASON_LABELS = {
    "spotify": "Spotify 추천",
    "cocredit": "함께 작업",
    "same_group": "같은 그룹",
    "same_agency": "같은 소속사",
    "similar_genre": "비슷한 장르",
    "coask": "이 아티스트를 찾은 사람들이 함께 찾음",
}
TAG_LABELS = {
    "type:solo": "솔로",
    "type:group": "그룹",
    "type:band": "밴드",
    "type:duo": "듀오",
    "gender:female": "여성",
    "gender:male": "남성",
    "gender:mixed": "혼성",
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clip(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 units, cut on a character boundary with an ellipsis."""
    text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    if utf16_len(text) <= limit:
        return text
    out, used = [], 1  # room for the ellipsis
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            break
        out.append(ch)
    return "".join(out).rstrip() + "…"


def required(text: str, limit: int, fallback: str) -> str:
    """A field Kakao requires non-blank: clipped, or the fallback when nothing visible is left."""
    return clip(text, limit).strip() or fallback


def web_url(url: Any) -> str:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""


def simple_text(text: str) -> dict[str, Any]:
    return {"simpleText": {"text": required(text, TEXT_MAX, "…")}}


def quick_reply(label: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A button that sends its own label as the user's message."""
    reply: dict[str, Any] = {
        "label": required(label, LABEL_MAX, "…"),
        "action": "message",
        "messageText": required(label, TEXT_MAX, "…"),
    }
    if extra:
        reply["extra"] = extra
    return reply


def artist_quick_reply(
    label: str, artist_id: str | None, to: ReplyTo, **extra: str
) -> dict[str, Any]:
    """A tap away: the name as the message, the Spotify id as a signed `extra` so no search is
    needed. Kakao documents `extra` as reaching the skill for a block action: the calling
    block's."""
    if not artist_id or to.seal is None:
        return quick_reply(label)
    payload = {"artist_id": artist_id, "artist_name": label, **extra}
    reply = quick_reply(label, to.seal.close(payload))
    if to.block_id:
        reply.update(action="block", blockId=to.block_id)
    return reply


def skill_response(
    outputs: list[dict[str, Any]],
    quick_replies: Iterable[dict[str, Any]] = (),
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {"outputs": outputs[:OUTPUTS_MAX] or [simple_text(SORRY)]}
    replies = list(quick_replies)[:QUICK_REPLIES_MAX]
    if replies:
        template["quickReplies"] = replies
    body: dict[str, Any] = {"version": "2.0", "template": template}
    if data:
        body["data"] = {key: value for key, value in data.items() if isinstance(value, str)}
    return body


def link_button(label: str, url: str) -> dict[str, Any]:
    return {"label": label, "action": "webLink", "webLinkUrl": url}


def tag_labels(tags: Iterable[str], genres: Iterable[str]) -> list[str]:
    labels = []
    for tag in tags:
        kind, _, value = tag.partition(":")
        if tag in TAG_LABELS:
            labels.append(TAG_LABELS[tag])
        elif kind == "genre":
            labels.append(value.upper() if value.startswith("k-") else value)
        elif kind == "agency":
            labels.append(value.upper())
        elif kind == "gen":
            labels.append(f"{value.rstrip('ndrth')}세대")
        elif kind == "group":
            labels.append(f"{value.upper()} 멤버")
    return list(dict.fromkeys([*labels, *genres]))


def shown_name(name: str, korean: str = "") -> str:
    """The name as users know it: "성시경 (Sung Si Kyung)" where the store has a Korean one."""
    return f"{korean} ({name})" if korean else name


def artist_card(answer: ArtistAnswer) -> dict[str, Any]:
    artist = answer.artist
    lines = []
    labels = tag_labels(answer.tags, artist.get("genres") or [])
    if labels:  # words of one label stay together, labels stay apart
        lines.append(" ".join(f"#{label.replace(' ', '_')}" for label in labels[:6]))
    if artist.get("followers"):
        lines.append(f"Spotify 팔로워 {artist['followers']:,}명")
    lines.append("음악 정보 제공: Spotify")
    link = web_url(artist["url"])
    card: dict[str, Any] = {
        "title": required(shown_name(artist["name"], answer.korean_name), TITLE_MAX, UNNAMED),
        "description": clip("\n".join(lines), BASIC_CARD_DESCRIPTION_MAX),
        "buttons": [link_button("Spotify에서 듣기", link)] if link else [],
    }
    image = web_url(artist.get("image"))
    if not image:
        return {"textCard": card}  # a basicCard needs a thumbnail
    alt = clip(f"{artist['name']} 사진", ALT_TEXT_MAX)
    # Spotify's artist images are square.
    card["thumbnail"] = {"imageUrl": image, "altText": alt, "fixedRatio": True}
    if link:
        card["thumbnail"]["link"] = {"web": link}
    return {"basicCard": card}


def track_list_card(answer: ArtistAnswer) -> dict[str, Any]:
    artist = answer.artist
    tracks = answer.tracks
    if answer.song:  # the song asked about first
        tracks = [answer.song, *(t for t in tracks if t["id"] != answer.song["id"])]
    heading = "인기곡" if answer.tracks_are_top else "대표곡"
    title = f"{shown_name(artist['name'], answer.korean_name)}의 {heading}"
    card: dict[str, Any] = {
        "header": {"title": required(title, TITLE_MAX, heading)},
        "items": [track_item(track) for track in tracks[:LIST_ITEMS_MAX]],
    }
    if web_url(artist.get("url")):
        card["buttons"] = [link_button("Spotify에서 더 보기", artist["url"])]
    return {"listCard": card}


def track_item(track: Track) -> dict[str, Any]:
    item: dict[str, Any] = {"title": required(track["name"], LIST_ITEM_TEXT_MAX, UNNAMED)}
    album = clip(track.get("album") or "", LIST_ITEM_TEXT_MAX).strip()
    if album:  # a single's album is its own title: say so instead of repeating it
        item["description"] = "싱글" if same_title(name_key(album), track["name"]) else album
    if web_url(track.get("image")):
        item["imageUrl"] = track["image"]
    if web_url(track.get("url")):
        item["link"] = {"web": track["url"]}
    return item


def reason_label(entry: Mapping[str, Any]) -> str:
    """Why this artist is suggested: its two strongest reasons."""
    reasons = entry.get("reasons") or [entry.get("reason")]
    labels = [REASON_LABELS[reason] for reason in reasons if reason in REASON_LABELS]
    return ", ".join(labels[:2]) or "관련 아티스트"


def related_text(answer: ArtistAnswer) -> str:
    lines = []
    if answer.related:
        name = shown_name(answer.artist["name"], answer.korean_name)
        lines.append(
            f"🎧 {name}와(과) 비슷한 아티스트예요"
            if answer.kind == SIMILAR
            else "🎧 이런 아티스트는 어때요?"
        )
        lines.extend(
            f"• {shown_name(entry['name'], entry.get('korean', ''))} · {reason_label(entry)}"
            for entry in answer.related
        )
        lines.append("아래 버튼을 누르면 바로 알려 드릴게요.")
    elif answer.kind == SIMILAR:
        lines.append("아직 비슷한 아티스트를 찾지 못했어요. 대신 노래를 들어 보세요 🎵")
    lines.extend(answer.notes)
    return "\n".join(lines)


def song_text(answer: ArtistAnswer) -> str:
    assert answer.song is not None
    name = shown_name(answer.artist["name"], answer.korean_name)
    return f"🎵 '{answer.song['name']}'은(는) {name}의 노래예요."


def render_artist(answer: ArtistAnswer, to: ReplyTo = ReplyTo()) -> dict[str, Any]:
    """The card, the tracks and the related artists, in the order the question asks for."""
    card, text = artist_card(answer), related_text(answer)
    tracks = track_list_card(answer) if answer.tracks or answer.song else None
    if answer.kind == SONG and answer.song:
        outputs = [simple_text(song_text(answer)), card, tracks]
    elif answer.kind == SONGS:
        outputs = [tracks, card, simple_text(text) if text else None]
    elif answer.kind == SIMILAR:
        outputs = [simple_text(text), card, tracks]
    else:
        outputs = [card, tracks, simple_text(text) if text else None]
    artist = answer.artist
    data = {"artist_name": artist["name"], "artist_id": artist["id"], "spotify_url": artist["url"]}
    return skill_response(list(filter(None, outputs)), next_steps(answer, to), data)


def next_steps(answer: ArtistAnswer, to: ReplyTo) -> list[dict[str, Any]]:
    """Related artists to tap; where there are none, still a way on: the songs, or help."""
    replies = [
        artist_quick_reply(entry.get("korean") or entry["name"], entry.get("id"), to)
        for entry in answer.related
    ]
    name = answer.korean_name or answer.artist["name"]
    if answer.kind != SONGS:
        replies.append(quick_reply(f"{name} 노래"))
    if not answer.related:
        replies.extend(map(quick_reply, ("인기 아티스트", "도움말")))
    return replies


def render_not_found(found: NotFound, to: ReplyTo = ReplyTo()) -> dict[str, Any]:
    shown = clip(found.query, 30)
    lines = [f"'{shown}'에 해당하는 아티스트나 노래를 찾지 못했어요 🥲"]
    replies = []
    if found.suggestion:
        suggested, confirms = found.suggestion["name"], clip(found.query, MAX_QUERY_CHARS)
        lines.append(f"혹시 {suggested} 말씀이세요? 맞다면 아래 버튼을 눌러 주세요.")
        replies.append(artist_quick_reply(suggested, found.suggestion["id"], to, confirms=confirms))
    lines.append("이름을 다시 확인하거나 영어 이름으로 입력해 보세요.")
    replies.extend(map(quick_reply, EXAMPLE_ARTISTS))
    return skill_response([simple_text("\n".join(lines))], replies)


HELP_TEXT = (
    "안녕하세요! 🎧 좋아하는 가수 이름을 보내 주시면\n"
    "프로필과 인기곡, 비슷한 아티스트를 알려 드려요.\n"
    "이렇게 물어보셔도 돼요: '뉴진스 노래', '아이유랑 비슷한 가수', 'Ditto 누구 노래야'"
)
CHAT_TEXT = "음악 이야기를 해 볼까요? 🎵 가수 이름이나 노래 제목을 보내 주시면 찾아 드릴게요."
EXAMPLE_ASKS = ("아이유", "뉴진스 노래", "아이유랑 비슷한 가수", "Ditto 누구 노래야")


def render_help(kind: str) -> dict[str, Any]:
    """Help for a greeting, thanks or "도움말"; a polite redirect for chat that names nothing."""
    text = HELP_TEXT if kind == HELP else CHAT_TEXT
    return skill_response([simple_text(text)], map(quick_reply, EXAMPLE_ASKS))


def render_text(text: str) -> dict[str, Any]:
    return skill_response([simple_text(text)])


# ---- Spotify ----------------------------------------------------------------------------------


class ArtistRef(TypedDict):
    id: str
    name: str


class Artist(TypedDict):
    id: str
    name: str
    image: str
    url: str
    genres: list[str]
    followers: int | None


class Track(TypedDict):
    id: str
    name: str
    album: str
    image: str
    url: str
    artists: list[ArtistRef]


class Related(TypedDict):
    """A related artist: one source's entry, or (with sources and reasons) the ranked result."""

    id: str | None
    name: str
    reason: str
    score: NotRequired[float]
    sources: NotRequired[dict[str, float]]
    reasons: NotRequired[list[str]]
    korean: NotRequired[str]  # the name users know, when Spotify's is another


class CachedParts(TypedDict, total=False):
    """What `artist#<id>` holds: everything Spotify says about one artist."""

    artist: Artist
    tracks: list[Track]
    tracks_are_top: bool
    spotify_related: list[Related]


class SongEntry(TypedDict, total=False):
    """What `song#<key>` holds: the track a title means, or that a search found none."""

    track: Track
    missing: bool


class NameEntry(TypedDict, total=False):
    """What `name#<key>` holds: the artist a name means, or that Spotify knows none."""

    id: str
    missing: bool
    suggestion: ArtistRef | None


class SpotifyError(Exception):
    """Any failure to get an answer from Spotify."""

    def __init__(self, status: int, message: str, reason: str = "", retry_after: float = 0.0):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after


class SpotifyRefused(SpotifyError):
    """Spotify refused this call (4xx): an unknown id, a lost endpoint, bad credentials."""


class SpotifyUnavailable(SpotifyError):
    """Spotify cannot answer now (network, 5xx, rate limit): answer from what we have."""


class _ThreadTimeoutSpotify(spotipy.Spotify):
    """spotipy's client with a per-thread request timeout.

    One client (one token, one connection pool) serves the whole container, while each call
    carries the timeout its own request's budget leaves, even when calls run in parallel.
    """

    _timeouts = threading.local()

    @property
    def requests_timeout(self) -> float:
        return getattr(self._timeouts, "value", 2.0)

    @requests_timeout.setter
    def requests_timeout(self, value: float) -> None:
        self._timeouts.value = value


class SpotifyGateway:
    """The Spotify Web API through spotipy: Client Credentials, one token per container,
    explicit timeouts, no retries and never a sleep on Retry-After (it can say hours)."""

    def __init__(self, settings: Settings):
        session = requests.Session()
        no_retries = Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=no_retries, pool_maxsize=8)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._auth = SpotifyClientCredentials(
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret,
            requests_session=session,
            requests_timeout=1.5,
            cache_handler=MemoryCacheHandler(),  # the default file cache fails on Lambda's disk
        )
        self._auth.OAUTH_TOKEN_URL = settings.spotify_token_url
        self._client = _ThreadTimeoutSpotify(
            auth_manager=self._auth, requests_session=session, retries=0, status_retries=0
        )
        self._client.prefix = settings.spotify_api_url
        self._market = settings.spotify_market
        self._token_lock = threading.Lock()
        self._block_lock = threading.Lock()
        self.blocked_until = 0.0  # epoch seconds; a 429 names when calls may resume

    # -- the endpoints the bot uses

    def search_artists(self, name: str, deadline: Deadline, trace: Trace) -> list[Artist]:
        found = self._search("search_artist", name, "artist", deadline, trace)
        return _items(found, artist_from_spotify)

    def artist(self, artist_id: str, deadline: Deadline, trace: Trace) -> Artist | None:
        return artist_from_spotify(self._get("artist", f"artists/{artist_id}", deadline, trace))

    def top_tracks(self, artist_id: str, deadline: Deadline, trace: Trace) -> list[Track]:
        path = f"artists/{artist_id}/top-tracks"
        found = self._get("top_tracks", path, deadline, trace, market=self._market)
        return distinct_titles(_items(found.get("tracks"), track_from_spotify))

    def search_tracks(self, artist: ArtistRef, deadline: Deadline, trace: Trace) -> list[Track]:
        """Tracks of this artist by `artist:"NAME"`, kept to those crediting its id, one per
        title (Spotify matches the name loosely)."""
        name = artist["name"].replace('"', " ")[: SPOTIFY_QUERY_MAX - len('artist:""')]
        query = f'artist:"{name}"'
        found = self._search("search_tracks", query, "track", deadline, trace)
        return tracks_of(artist["id"], _items(found, track_from_spotify))

    def search_songs(self, title: str, deadline: Deadline, trace: Trace) -> list[Track]:
        found = self._search("search_song", title, "track", deadline, trace)
        return _items(found, track_from_spotify)

    def related_artists(self, artist_id: str, deadline: Deadline, trace: Trace) -> list[Artist]:
        path = f"artists/{artist_id}/related-artists"
        found = self._get("related_artists", path, deadline, trace)
        return _items(found.get("artists"), artist_from_spotify)

    # -- calls

    def _search(
        self, endpoint: str, query: str, kind: str, deadline: Deadline, trace: Trace
    ) -> Any:
        params = {
            "q": query[:SPOTIFY_QUERY_MAX],
            "type": kind,
            "limit": SPOTIFY_SEARCH_LIMIT,
            "market": self._market,
        }
        found = self._get(endpoint, "search", deadline, trace, **params)
        return _as_dict(found.get(f"{kind}s")).get("items")  # {"tracks": {"items": [...]}}

    def _get(
        self, endpoint: str, path: str, deadline: Deadline, trace: Trace, **params: Any
    ) -> dict[str, Any]:
        """GET `path`: the parsed JSON object, or a SpotifyError."""
        probe = self._may_call()
        result = self._get_with_token(endpoint, path, deadline, trace, **params)
        if probe:
            self.blocked_until = 0.0  # the probe got through: the rate limit is over
        return result

    def _may_call(self) -> bool:
        """Raise while rate limited. When the wait ends, one call probes (True) and the others
        wait PROBE_WAIT_S more for its word: a fresh 429 starts a new wait."""
        with self._block_lock:
            now = time.time()
            if now < self.blocked_until:
                raise SpotifyUnavailable(429, "rate limited", retry_after=self.blocked_until - now)
            if not self.blocked_until:
                return False
            self.blocked_until = now + PROBE_WAIT_S
            return True

    def _get_with_token(
        self, endpoint: str, path: str, deadline: Deadline, trace: Trace, **params: Any
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            self._token(deadline, trace)
            used = self._auth.cache_handler.get_cached_token()
            trace.spotify_calls.append(endpoint)
            self._client.requests_timeout = deadline.timeout(2.0)
            try:
                result = self._client._get(path, **params)
            except spotipy.SpotifyException as error:
                if error.http_status == 401 and attempt == 1:
                    self._forget_token(used)  # expired: fetch one more
                    continue
                raise self._error(error, endpoint) from None
            except requests.RequestException as error:
                raise SpotifyUnavailable(0, f"{type(error).__name__}") from None
            except (AttributeError, TypeError, ValueError, KeyError) as error:
                # spotipy reading an error body it did not expect ({"error": "a string"})
                raise SpotifyUnavailable(0, f"unreadable answer: {type(error).__name__}") from None
            if not isinstance(result, dict):  # spotipy turns a body that is not JSON into None
                raise SpotifyUnavailable(0, "response is not JSON")
            return result
        raise SpotifyRefused(401, "token rejected twice")

    def _token(self, deadline: Deadline, trace: Trace) -> None:
        """Fetch a token only when the container has none valid; parallel calls share one fetch."""
        with self._token_lock:
            cached = self._auth.cache_handler.get_cached_token()
            if cached and not self._auth.is_token_expired(cached):
                return
            trace.spotify_calls.append("token")
            self._auth.requests_timeout = deadline.timeout(1.5)
            try:
                self._auth.get_access_token(as_dict=False)
            except SpotifyOauthError as error:
                raise self._token_error(error) from None
            except requests.RequestException as error:
                message = f"token request failed: {type(error).__name__}"
                raise SpotifyUnavailable(0, message) from None

    def _token_error(self, error: SpotifyOauthError) -> SpotifyError:
        """What the token endpoint's refusal means: the credentials (400/401 with an OAuth
        error), its rate limit, or an outage (5xx, often an HTML page). The last two wait."""
        response = getattr(error.__context__, "response", None)  # the HTTPError spotipy read
        status = getattr(response, "status_code", 0) or 0
        if status in (400, 401) and isinstance(error.error, str) and error.error.isidentifier():
            return SpotifyRefused(status, f"token refused: {error.error}", reason="invalid_client")
        headers = getattr(response, "headers", None) or {}
        wait = _retry_after_seconds(headers.get("Retry-After")) if status == 429 else 30.0
        self.blocked_until = max(self.blocked_until, time.time() + wait)
        return SpotifyUnavailable(status or 503, "token endpoint unavailable", retry_after=wait)

    def _forget_token(self, used: dict | None) -> None:
        """Drop the token a call was refused with, unless a parallel call already replaced it."""
        with self._token_lock:
            current = self._auth.cache_handler.get_cached_token()
            if current and (used or {}).get("access_token") == current.get("access_token"):
                self._auth.cache_handler.save_token_to_cache(None)

    def _error(self, error: spotipy.SpotifyException, endpoint: str) -> SpotifyError:
        status, reason = error.http_status, error.reason or ""
        message = str(error.msg).split("\n")[-1].strip()[:200]
        # Development mode answers some lost endpoints with 429 instead of 403: theirs waits
        # alone, the fallback runs (Spotty-Plugin#213).
        if status == 429 and endpoint not in LOSABLE_ENDPOINTS:
            retry_after = _retry_after_seconds((error.headers or {}).get("Retry-After"))
            self.blocked_until = max(self.blocked_until, time.time() + retry_after)
            return SpotifyUnavailable(status, message, reason, retry_after)
        if status >= 500:
            return SpotifyUnavailable(status, message, reason)
        return SpotifyRefused(status, message, reason)


def log_spotify_error(error: SpotifyError) -> None:
    if error.status == 403 and "premium" in error.message.lower():
        message = "spotify refuses the app: its owner needs an active Premium subscription"
    elif error.reason == "invalid_client":
        message = "spotify rejected the client id/secret"
    elif error.status == 429:
        message = "spotify rate limit: not calling it until the time it named"
    else:
        message = "spotify call failed"
    log_fields(
        logging.ERROR if error.status in (400, 401, 403) else logging.WARNING,
        message,
        status=error.status,
        reason=error.reason,
        detail=error.message,
        retry_after_s=round(error.retry_after) or None,
    )


LOSABLE_ENDPOINTS = tuple(e.replace("-", "_") for e in ENDPOINTS)  # as the gateway names them
RETRY_AFTER_CAP_S = 15 * 60  # a longer Retry-After is honoured this long, then a probe decides
PROBE_WAIT_S = 5.0


def _retry_after_seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 30.0  # no usable header: back off a little, not for hours
    return min(max(1.0, seconds), RETRY_AFTER_CAP_S) if seconds == seconds else 30.0


def _items(items: Any, convert: Callable[[Any], T | None]) -> list[T]:
    """The items of a Spotify list that convert; Spotify's lists may hold nulls."""
    return [found for item in items or [] if (found := convert(item)) is not None]


def artist_from_spotify(obj: Any) -> Artist | None:
    """The fields the bot shows, from a Spotify artist object; None when it is not one."""
    if not _has_id_and_name(obj):
        return None
    followers = _as_dict(obj.get("followers")).get("total")
    return {
        "id": obj["id"],
        "name": obj["name"],
        "image": _image_url(obj.get("images"), 640),
        "url": _spotify_url(obj, "artist"),
        "genres": [g for g in obj.get("genres") or [] if isinstance(g, str)][:5],
        "followers": followers if isinstance(followers, int) else None,
    }


def track_from_spotify(obj: Any) -> Track | None:
    """The fields the bot shows; None for what is not a track or cannot play in the market."""
    if not _has_id_and_name(obj) or obj.get("is_playable") is False:
        return None
    album = _as_dict(obj.get("album"))
    credited = [a for a in obj.get("artists") or [] if _has_id_and_name(a)]
    return {
        "id": obj["id"],
        "name": obj["name"],
        "album": str(album.get("name") or ""),
        "image": _image_url(album.get("images"), 300),
        "url": _spotify_url(obj, "track"),
        "artists": [{"id": a["id"], "name": a["name"]} for a in credited],
    }


def _has_id_and_name(obj: Any) -> bool:
    return isinstance(obj, dict) and all(isinstance(obj.get(key), str) for key in ("id", "name"))


def _spotify_url(obj: dict[str, Any], kind: str) -> str:
    url = _as_dict(obj.get("external_urls")).get("spotify")
    if isinstance(url, str) and url.startswith("https://"):
        return url
    return f"https://open.spotify.com/{kind}/{obj['id']}"


def _image_url(images: Any, width: int) -> str:
    """The image closest to `width` pixels wide (Spotify lists 640, 300 and 64 or so)."""
    usable = [
        image
        for image in (images if isinstance(images, list) else [])
        if isinstance(image, dict) and isinstance(image.get("url"), str)
    ]

    def distance(image: dict) -> int:
        size = image.get("width")
        return abs(size - width) if isinstance(size, int) else width

    return min(usable, key=distance)["url"] if usable else ""


def tracks_of(artist_id: str, tracks: Iterable[Track]) -> list[Track]:
    """The tracks crediting this artist, one per title."""
    return distinct_titles(t for t in tracks if any(a["id"] == artist_id for a in t["artists"]))


_BRACKETED = re.compile(r"\s*[(\[][^)\]]*[)\]]|\s+-\s+.*$")


def same_title(key: str, title: str) -> bool:
    """Does a track's title say `key` ("Hype Boy" for "hypeboy"), version notes aside?"""
    return key in (name_key(title), name_key(_BRACKETED.sub("", title)))


def distinct_titles(tracks: Iterable[Track]) -> list[Track]:
    """One track per title: "Love wins all" and "Love wins all (Live)" are the same song here."""
    kept: dict[str, Track] = {}
    for track in tracks:
        key = name_key(_BRACKETED.sub("", track["name"])) or name_key(track["name"])
        kept.setdefault(key, track)
    return list(kept.values())


# ---- Store: MySQL, the bot's own knowledge -------------------------------------------------

SCHEMA_FILE = Path(__file__).with_name("data") / "schema.sql"

GROUP_MEMBER_SCORE = 2.0  # a group and its members: above any two members' shared tags
CO_ASK_WINDOW_S = 30 * 60  # "right after": the next artist within this long
CO_ASK_RECOUNT_S = 30 * 86400  # one user counts a pair again only after this long
CO_ASK_HALF_LIFE_S = 30 * 86400  # a co-ask counts half after this long
CO_ASK_MIN_USERS = 3  # a co-ask shows once this many users made it...
CO_ASK_MIN_SHARE = 0.05  # ...and this share of the users going on from the artist...
CO_ASK_MIN_WEIGHT = 1.5  # ...until its faded count falls below this (three users, a month on)
CO_ASK_SCORE_CAP = 5.0  # users beyond this add nothing: a crowd cannot drown the others
CO_ASK_USER_DAILY_CAP = 20  # co-asks one user counts in a day
CO_ASK_KEEP_S = 90 * 86400  # then a user's co-ask and vote rows are deleted
CONFIRMING_USERS = 3  # users who confirm a "did you mean" before the name is learned
PURGE_EVERY_S = 3600  # a container deletes expired rows at most this often
RECORD_ASK_BUDGET_MS = 2000

TAG_PATTERN = re.compile(r"^[a-z]+:[a-z0-9][a-z0-9&.+\-]*$")
# Tags that say who an artist is close to. Language and country alone relate too many: they
# count only toward the three shared tags a genre relation needs (US pop solo: Halsey, Lady Gaga).
RELATING_TAG_KINDS = ("agency", "group", "genre", "type", "gender", "gen", "lang", "country")

MYSQL_CONNECT_CAP_S = 1.0
MYSQL_QUERY_CAP_S = 1.5
MYSQL_WAIT_CAP_S = 0.8  # the longest a request waits for one MySQL call, and half what is left
MYSQL_OPERATOR_TIMEOUT_S = 30  # init-db and load-artists have no Kakao waiting
MYSQL_RETRY_DOWN_AFTER_S = 15  # after a connection failure, skip MySQL this long
# Deadlock and lock wait timeout: another container's transaction won; the work is rolled
# back whole and can run again. Any other error is a fault, not a race.
MYSQL_LOCK_CONFLICTS = frozenset({1205, 1213})
MYSQL_LOCK_TRIES = 4
MYSQL_LOCK_BACKOFF_S = 0.05
MAX_INDEXED_ALIASES = 50_000  # the names a container indexes: a few MB at most
MAX_MISSPELLED_CHARS = 30  # longer keys are not compared against every alias
# Where rows point at an artist: a row that joins another moves these.
MERGED_COLUMNS = [
    column.split(".")
    for column in "aliases.artist_id tags.artist_id related_artists.artist_id"
    " related_artists.related_id recent_asks.artist_id co_asks.artist_id co_asks.next_id".split()
]


@dataclasses.dataclass(frozen=True)
class StoredArtist:
    row_id: int
    spotify_id: str | None
    name: str


@dataclasses.dataclass(frozen=True)
class Knowledge:
    """What the bot itself knows of an artist: its tags and related artists with reasons."""

    tags: list[str]
    related: list[Related]


class PlaintextRefused(OSError):
    """MySQL over the network without a CA to verify it, and plaintext not allowed."""


PLAINTEXT_REFUSED = (
    "refusing MySQL without TLS: set MYSQL_SSL_CA to the server's CA bundle (RDS:"
    " global-bundle.pem) or MYSQL_ALLOW_PLAINTEXT=true"
)


def is_loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or host.startswith("127.")


def lock_conflict(error: BaseException) -> bool:
    """A deadlock or lock wait timeout: the transaction lost a race and may run again."""
    return mysql_error_code(error) in MYSQL_LOCK_CONFLICTS


def mysql_error_code(error: BaseException) -> int | None:
    """MySQL's number for the error (1045: access denied, 1213: deadlock...), if it has one."""
    return error.args[0] if isinstance(error, pymysql.MySQLError) and error.args else None


class ArtistStore:
    """The bot's own knowledge in MySQL: artists, aliases, tags and related artists.

    One connection per container, pinged before use and reopened when MySQL dropped it.
    Every multi-row write is one transaction, so a failure leaves no half-written artist.
    """

    def __init__(self, settings: Settings):
        self._settings = settings
        self._conn: pymysql.connections.Connection | None = None
        self.health = BestEffort("mysql", MYSQL_RETRY_DOWN_AFTER_S, host=settings.mysql_host)
        # One connection, one thread to use it: calls queue up instead of sharing a socket.
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mysql")
        self._purge_after = 0.0  # monotonic time of the next deletion of expired rows
        self._tls_context: ssl.SSLContext | None = None

    # -- running work on the connection

    def use(
        self, operation: str, work: Callable, default: Any, trace: Trace, deadline: Deadline | None
    ) -> Any:
        """`work(cursor)` on the container's connection; on failure: a log line and `default`.

        Socket timeouts bound each round trip, not a query's many; so the work runs on the
        store's own thread and the request waits for it only until its deadline.
        """
        if self.health.down:
            return default
        if deadline is None:  # operator commands: nobody is waiting on Kakao's clock
            return self._run(operation, work, default, trace, None)
        job = submit_in_context(self._worker, self._run, operation, work, default, trace, deadline)
        try:
            # Healthy MySQL answers in milliseconds: never let it eat the time Spotify needs.
            return job.result(timeout=min(MYSQL_WAIT_CAP_S, deadline.left() / 2))
        except TimeoutError:
            self.health.went_down(
                "mysql too slow for the answer budget, answering without it", operation
            )
            return default

    def _run(
        self, operation: str, work: Callable, default: Any, trace: Trace, deadline: Deadline | None
    ) -> Any:
        if deadline is not None and deadline.left() <= 0:
            return default  # it waited behind a slow call until its request had gone
        trace.mysql_calls += 1
        for attempt in range(1, MYSQL_LOCK_TRIES + 1):
            try:
                with self._connection(deadline).cursor() as cursor:
                    return work(cursor)
            except (pymysql.MySQLError, OSError) as error:
                time_left = deadline is None or deadline.left() > 0
                if not (lock_conflict(error) and attempt < MYSQL_LOCK_TRIES and time_left):
                    self._failed(operation, error, attempt)
                    return default
                log_fields(
                    logging.INFO,
                    "mysql lock conflict, trying again",  # rolled back whole: run it again
                    operation=operation,
                    attempt=attempt,
                    detail=str(error),
                )
                # Apart, not in step: racers that retry at once meet in the same deadlock.
                time.sleep(random.uniform(0, MYSQL_LOCK_BACKOFF_S * attempt))
        return default

    def _failed(self, operation: str, error: BaseException, attempts: int) -> None:
        if lock_conflict(error):
            self.health.log("mysql lock conflict on every try", operation, error, attempts=attempts)
        elif isinstance(error, (pymysql.OperationalError, pymysql.InterfaceError, OSError)):
            self._close()
            message = "mysql unavailable, answering without it"
            self.health.went_down(message, operation, error, attempts=attempts)
        else:
            self.health.log("mysql query failed", operation, error, attempts=attempts)

    def _connection(self, deadline: Deadline | None) -> pymysql.connections.Connection:
        if self._conn is not None:
            try:
                self._limit(deadline)
                self._conn.ping(reconnect=False)
                return self._conn
            except (pymysql.MySQLError, OSError):  # MySQL dropped an idle connection: reopen
                self._close()
        self._conn = self._connect(
            self._settings.mysql_database,
            connect_timeout=deadline.timeout(MYSQL_CONNECT_CAP_S) if deadline else 5,
        )
        self._limit(deadline)
        return self._conn

    def _connect(
        self, database: str | None, connect_timeout: float
    ) -> pymysql.connections.Connection:
        settings = self._settings
        return pymysql.connect(
            **self._tls(),
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_user,
            password=settings.mysql_password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=connect_timeout,
            read_timeout=MYSQL_OPERATOR_TIMEOUT_S,
            write_timeout=MYSQL_OPERATOR_TIMEOUT_S,
        )

    def _tls(self) -> dict[str, Any]:
        """TLS verified against MYSQL_SSL_CA (one context per container), or plaintext where
        allowed: never pymysql's default of TLS that checks nothing and falls back silently."""
        settings = self._settings
        if settings.mysql_ssl_ca:
            if self._tls_context is None:
                self._tls_context = ssl.create_default_context(cafile=settings.mysql_ssl_ca)
            return {"ssl": self._tls_context}
        if settings.mysql_allow_plaintext or is_loopback(settings.mysql_host):
            return {"ssl_disabled": True}
        raise PlaintextRefused(PLAINTEXT_REFUSED)

    def _limit(self, deadline: Deadline | None) -> None:
        """Each query's socket timeout comes out of what the request has left."""
        sock = getattr(self._conn, "_sock", None)  # pymysql keeps its socket here
        if sock is not None:
            sock.settimeout(
                deadline.timeout(MYSQL_QUERY_CAP_S) if deadline else MYSQL_OPERATOR_TIMEOUT_S
            )

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def settled(self) -> None:
        """Wait until notes queued on the store's thread are written (tests, tools)."""
        self._worker.submit(lambda: None).result()

    def close(self) -> None:
        """Write what is queued, then close the connection (tools and tests: a Lambda
        container keeps its connection until it dies)."""
        self.settled()
        self._close()

    @staticmethod
    @contextlib.contextmanager
    def transaction(cursor: Any) -> Iterator[None]:
        cursor.connection.begin()
        try:
            yield
            cursor.connection.commit()
        except BaseException:
            cursor.connection.rollback()
            raise

    # -- reads

    def find_alias(self, key: str, trace: Trace, deadline: Deadline | None) -> StoredArtist | None:
        def work(cursor: Any) -> StoredArtist | None:
            cursor.execute(
                "SELECT a.id, a.spotify_id, a.name FROM aliases al"
                " JOIN artists a ON a.id = al.artist_id WHERE al.alias_key = %s",
                (key,),
            )
            row = cursor.fetchone()
            return StoredArtist(*row) if row else None

        return self.use("find_alias", work, None, trace, deadline)

    def find_near_alias(
        self, key: str, trace: Trace, deadline: Deadline | None
    ) -> StoredArtist | None:
        """The artist with a name one syllable or letter away from `key`, a spelling the store
        lacks (에미넘 for 에미넴); None when none is, or several are."""
        if not 3 <= len(key) <= MAX_MISSPELLED_CHARS:
            return None

        def work(cursor: Any) -> StoredArtist | None:
            # A scan, but only for names nobody knows, and of short keys: milliseconds.
            cursor.execute(
                "SELECT al.alias_key, a.id, a.spotify_id, a.name FROM aliases al"
                " JOIN artists a ON a.id = al.artist_id"
                " WHERE CHAR_LENGTH(al.alias_key) BETWEEN %s AND %s",
                (len(key) - 2, len(key) + 2),
            )
            rows = cursor.fetchall()
            best = closest_alias(key, [(alias_key, row_id) for alias_key, row_id, *_ in rows])
            return next((StoredArtist(*row[1:]) for row in rows if row[1] == best), None)

        return self.use("find_near_alias", work, None, trace, deadline)

    def all_aliases(self, trace: Trace, deadline: Deadline | None) -> list[tuple[str, str]] | None:
        """Every (alias, artist name) the store holds, for the container's index of names."""

        def work(cursor: Any) -> list[tuple[str, str]]:
            cursor.execute(
                "SELECT al.alias, a.name FROM aliases al JOIN artists a ON a.id = al.artist_id"
                " ORDER BY al.source = 'curated' DESC LIMIT %s",
                (MAX_INDEXED_ALIASES,),
            )
            return list(cursor.fetchall())

        return self.use("all_aliases", work, None, trace, deadline)

    def knowledge(self, spotify_id: str, trace: Trace, deadline: Deadline) -> Knowledge | None:
        """Tags and related artists (stored relations and tag neighbours) of a Spotify artist."""
        work = functools.partial(self._knowledge, column="spotify_id", value=spotify_id)
        return self.use("knowledge", work, None, trace, deadline)

    def knowledge_of_row(self, row_id: int, trace: Trace) -> Knowledge | None:
        """The same for the store's own row, Spotify id learned or not (`make related`)."""
        work = functools.partial(self._knowledge, column="id", value=row_id)
        return self.use("knowledge", work, None, trace, None)

    @classmethod
    def _knowledge(cls, cursor: Any, column: str, value: Any) -> Knowledge:
        """`column` is "spotify_id" or "id" (the store's row, for artists not yet looked up)."""
        me = f"me.{column} = %s"
        cursor.execute(
            f"SELECT t.tag FROM tags t JOIN artists me ON me.id = t.artist_id WHERE {me}"
            " ORDER BY t.tag",
            (value,),
        )
        tags = [tag for (tag,) in cursor.fetchall()]
        related = cls._relations(cursor, me, value)
        related += cls._tag_neighbours(cursor, me, value)
        related += cls._group_and_members(cursor, me, value)
        return Knowledge(tags=tags, related=related)

    @staticmethod
    def _relations(cursor: Any, me: str, value: Any) -> list[Related]:
        """Stored relations; co-asks count once enough users made them, and fade."""
        cursor.execute(
            "SELECT a.spotify_id, a.name, r.source, IF(r.source = 'coask', r.score * POW(0.5,"
            " TIMESTAMPDIFF(SECOND, r.updated_at, CURRENT_TIMESTAMP) / %s), r.score) AS weight"
            " FROM artists me JOIN related_artists r ON r.artist_id = me.id"
            f" JOIN artists a ON a.id = r.related_id WHERE {me} AND (r.source <> 'coask' OR"
            " (SELECT COUNT(*) FROM co_asks c WHERE c.artist_id = r.artist_id"
            " AND c.next_id = r.related_id) >= GREATEST(%s, %s * (SELECT COUNT(DISTINCT"
            " c.user_key) FROM co_asks c WHERE c.artist_id = r.artist_id)))"
            " HAVING r.source <> 'coask' OR weight >= %s ORDER BY weight DESC, a.name LIMIT 30",
            (CO_ASK_HALF_LIFE_S, value, CO_ASK_MIN_USERS, CO_ASK_MIN_SHARE, CO_ASK_MIN_WEIGHT),
        )
        return [
            {"id": sid, "name": name, "reason": source, "score": relation_score(source, score)}
            for sid, name, source, score in cursor.fetchall()
        ]

    @staticmethod
    def _group_and_members(cursor: Any, me: str, value: Any) -> list[Related]:
        """A group and its members: `group:red-velvet` on a member names the group's row."""
        group_of = "REPLACE(SUBSTRING(t.tag, 7), '-', '')"
        cursor.execute(
            f"SELECT a.spotify_id, a.name FROM artists me JOIN tags t ON t.tag LIKE 'group:%%'"
            f" JOIN artists a ON (t.artist_id = me.id AND a.name_key = {group_of})"
            f" OR (t.artist_id = a.id AND me.name_key = {group_of}) WHERE {me}",
            (value,),
        )
        return [
            {"id": sid, "name": name, "reason": "same_group", "score": GROUP_MEMBER_SCORE}
            for sid, name in cursor.fetchall()
        ]

    @staticmethod
    def _tag_neighbours(cursor: Any, me: str, value: Any) -> list[Related]:
        """Artists sharing tags, rarer tags weighing more (an agency counts more than k-pop)."""
        kinds = " OR ".join(["t1.tag LIKE %s"] * len(RELATING_TAG_KINDS))
        cursor.execute(
            "SELECT a.spotify_id, a.name, GROUP_CONCAT(t1.tag ORDER BY t1.tag SEPARATOR '|'),"
            " SUM(1 / LOG(1 + n.cnt)) AS score"
            " FROM artists me JOIN tags t1 ON t1.artist_id = me.id"
            " JOIN tags t2 ON t2.tag = t1.tag AND t2.artist_id <> me.id"
            " JOIN artists a ON a.id = t2.artist_id"
            " JOIN (SELECT tag, COUNT(*) AS cnt FROM tags GROUP BY tag) n ON n.tag = t1.tag"
            f" WHERE {me} AND ({kinds})"
            " GROUP BY a.id, a.spotify_id, a.name ORDER BY score DESC, a.name LIMIT 30",
            (value, *(f"{kind}:%" for kind in RELATING_TAG_KINDS)),
        )
        return [
            {"id": sid, "name": name, "reason": reason, "score": float(score)}
            for sid, name, shared, score in cursor.fetchall()
            if (reason := shared_tags_reason(shared.split("|")))
        ]

    # -- writes

    def remember_artist(
        self,
        artist: ArtistRef,
        typed: str,
        curated: StoredArtist | None,
        trace: Trace,
        deadline: Deadline,
    ) -> None:
        """Store a Spotify artist a search found, learning what was typed. `curated`: the
        curated row whose own name was searched, which takes the artist's id."""

        def work(cursor: Any) -> None:
            with self.transaction(cursor):
                row_id = self._artist_row(cursor, artist["id"], artist["name"], curated)
                self._add_alias(cursor, artist["name"], row_id, "name")
                if typed:
                    self._add_alias(cursor, typed, row_id, "learned")

        self.use("remember_artist", work, None, trace, deadline)

    def remember_cocredits(
        self, artist: ArtistRef, tracks: list[Track], trace: Trace, deadline: Deadline
    ) -> None:
        """Artists credited on this artist's tracks are related to it, both ways."""
        others = cocredits(artist["id"], tracks)
        if not others:
            return

        def work(cursor: Any) -> None:
            # Containers that fetched the same artist at once write the same rows: one does,
            # the others skip rather than deadlock on each other's inserts.
            with self.named_lock(cursor, f"cocredits:{artist['id']}") as mine:
                if mine:
                    self._write_cocredits(cursor, artist, others)

        self.use("remember_cocredits", work, None, trace, deadline)

    @classmethod
    def _write_cocredits(cls, cursor: Any, artist: ArtistRef, others: list[Related]) -> None:
        with cls.transaction(cursor):
            me = cls._artist_row(cursor, artist["id"], artist["name"], None)
            rows = [(cls._artist_row(cursor, o["id"] or "", o["name"], None), o) for o in others]
            pairs = [(a, b, o.get("score")) for row, o in rows for a, b in ((me, row), (row, me))]
            cursor.executemany(  # in key order, as every writer locks them
                "INSERT INTO related_artists (artist_id, related_id, source, score)"
                " VALUES (%s, %s, 'cocredit', %s)"
                " ON DUPLICATE KEY UPDATE score = GREATEST(score, VALUES(score))",
                sorted(pairs, key=lambda pair: pair[:2]),
            )

    @staticmethod
    @contextlib.contextmanager
    def named_lock(cursor: Any, name: str) -> Iterator[bool]:
        """MySQL's GET_LOCK without waiting: True when this session holds it."""
        cursor.execute("SELECT GET_LOCK(%s, 0)", (name,))
        held = bool((cursor.fetchone() or (0,))[0])
        try:
            yield held
        finally:
            if held:
                cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))

    def forget_artist(self, spotify_id: str, trace: Trace, deadline: Deadline) -> None:
        """Spotify took this artist down: the names learned for it go, and a curated row keeps
        its own and waits without an id for a search to find the artist again."""

        def work(cursor: Any) -> None:
            with self.transaction(cursor):
                row = self._holder(cursor, spotify_id)
                if row is None:
                    return
                cursor.execute(
                    "DELETE FROM aliases WHERE artist_id = %s AND source <> 'curated'", (row,)
                )
                cursor.execute("SELECT COUNT(*) FROM aliases WHERE artist_id = %s", (row,))
                if cursor.fetchone()[0]:
                    cursor.execute("UPDATE artists SET spotify_id = NULL WHERE id = %s", (row,))
                else:
                    cursor.execute("DELETE FROM artists WHERE id = %s", (row,))

        self.use("forget_artist", work, None, trace, deadline)

    def confirm_alias(
        self, typed: str, artist: ArtistRef, user_key: str, trace: Trace, deadline: Deadline
    ) -> None:
        """A user tapped our "did you mean": `typed` meant this artist. The name is learned
        once CONFIRMING_USERS users said so, and never takes a name another artist has."""
        key = name_key(typed)[:200]
        if not key or not user_key:
            return

        def work(cursor: Any) -> None:
            with self.transaction(cursor):
                cursor.execute(
                    "INSERT IGNORE INTO alias_votes (alias_key, spotify_id, user_key)"
                    " VALUES (%s, %s, %s)",
                    (key, artist["id"], user_key),
                )
                cursor.execute(
                    "SELECT COUNT(*) FROM alias_votes WHERE alias_key = %s AND spotify_id = %s",
                    (key, artist["id"]),
                )
                if cursor.fetchone()[0] >= CONFIRMING_USERS:
                    row_id = self._artist_row(cursor, artist["id"], artist["name"], None)
                    self._add_alias(cursor, typed, row_id, "confirmed")

        self.use("confirm_alias", work, None, trace, deadline)

    def record_ask(self, user_key: str, artist: ArtistRef, trace: Trace) -> None:
        """Note that this user asked for `artist`; if they asked for another one just before,
        that one gains `artist` as a co-ask (once per user and pair per CO_ASK_RECOUNT_S).
        Runs on the store's thread after the answer: no request waits for it."""
        if not user_key or self.health.down:
            return
        work = functools.partial(self._record_ask, user_key=user_key, artist=artist)
        self._in_background("record_ask", work)
        if time.monotonic() >= self._purge_after:
            self._purge_after = time.monotonic() + PURGE_EVERY_S
            self._in_background("purge_expired", self._purge_expired)

    def _in_background(self, operation: str, work: Callable[[Any], None]) -> None:
        # Its own clock: a container frozen after the answer drops the work rather than
        # doing it long after, on a connection MySQL may have closed.
        background = Deadline(RECORD_ASK_BUDGET_MS)
        submit_in_context(self._worker, self._run, operation, work, None, Trace(), background)

    @staticmethod
    def _purge_expired(cursor: Any) -> None:
        """What users did is kept only as long as it is used."""
        for table, column, keep_s in (
            ("recent_asks", "asked_at", CO_ASK_WINDOW_S),
            ("co_asks", "counted_at", CO_ASK_KEEP_S),
            ("alias_votes", "voted_at", CO_ASK_KEEP_S),
        ):
            cursor.execute(
                f"DELETE FROM {table} WHERE {column} < CURRENT_TIMESTAMP - INTERVAL %s SECOND"
                " LIMIT 5000",
                (keep_s,),
            )

    @classmethod
    def _record_ask(cls, cursor: Any, user_key: str, artist: ArtistRef) -> None:
        with cls.transaction(cursor):
            row_id = cls._artist_row(cursor, artist["id"], artist["name"], None)
            # A plain read, not FOR UPDATE: locking a new user's absent row takes a gap
            # lock, and two containers noting new users deadlocked on it. One user asking
            # in two containers at once is the only race left; co_asks' key counts it once.
            cursor.execute(
                "SELECT artist_id, asked_at >= CURRENT_TIMESTAMP - INTERVAL %s SECOND"
                " FROM recent_asks WHERE user_key = %s",
                (CO_ASK_WINDOW_S, user_key),
            )
            before = cursor.fetchone()
            cursor.execute(
                "INSERT INTO recent_asks (user_key, artist_id) VALUES (%s, %s) ON DUPLICATE"
                " KEY UPDATE artist_id = VALUES(artist_id), asked_at = CURRENT_TIMESTAMP",
                (user_key, row_id),
            )
            if before and before[1] and before[0] != row_id:
                cls._count_co_ask(cursor, before[0], row_id, user_key)

    @staticmethod
    def _count_co_ask(cursor: Any, first: int, then: int, user_key: str) -> None:
        cursor.execute(
            "SELECT COUNT(*) FROM co_asks WHERE user_key = %s"
            " AND counted_at >= CURRENT_TIMESTAMP - INTERVAL 1 DAY",
            (user_key,),
        )
        if cursor.fetchone()[0] >= CO_ASK_USER_DAILY_CAP:
            return  # one user cannot make a crowd
        counted = cursor.execute(  # 1 inserted, 2 counted again, 0 counted lately
            "INSERT INTO co_asks (artist_id, next_id, user_key) VALUES (%s, %s, %s)"
            " ON DUPLICATE KEY UPDATE counted_at = IF(counted_at <"
            " CURRENT_TIMESTAMP - INTERVAL %s SECOND, CURRENT_TIMESTAMP, counted_at)",
            (first, then, user_key, CO_ASK_RECOUNT_S),
        )
        if counted:
            cursor.execute(
                "INSERT INTO related_artists (artist_id, related_id, source, score)"
                " VALUES (%s, %s, 'coask', 1) ON DUPLICATE KEY UPDATE score = score *"
                " POW(0.5, TIMESTAMPDIFF(SECOND, updated_at, CURRENT_TIMESTAMP) / %s) + 1",
                (first, then, CO_ASK_HALF_LIFE_S),
            )

    @classmethod
    def _artist_row(
        cls, cursor: Any, spotify_id: str, name: str, curated: StoredArtist | None
    ) -> int:
        """The row of a Spotify artist: existing or new. A curated row takes the id only when
        given here (a search of one of its names found the artist): never from a tap, a
        co-credit or a vote, where a namesake would take it. Race-safe."""
        holder = cls._holder(cursor, spotify_id)
        if curated and curated.spotify_id is None:
            cls._pin(cursor, curated.row_id, spotify_id, holder)
            return curated.row_id
        if holder is not None:
            return holder
        # Another container may insert the same artist at the same moment: the unique key decides.
        cursor.execute(
            "INSERT INTO artists (spotify_id, name, name_key) VALUES (%s, %s, %s)"
            " ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
            (spotify_id, name[:200], name_key(name)[:200]),
        )
        return cursor.lastrowid

    @staticmethod
    def _holder(cursor: Any, spotify_id: str) -> int | None:
        cursor.execute("SELECT id FROM artists WHERE spotify_id = %s", (spotify_id,))
        row = cursor.fetchone()
        return row[0] if row else None

    @staticmethod
    def _pin(cursor: Any, row_id: int, spotify_id: str, holder: int | None) -> None:
        """Give a curated row its Spotify id. A row that learned the id first (from a co-credit
        or another spelling) joins it: its names and relations move, the row goes."""
        if holder is not None and holder != row_id:
            cursor.execute("UPDATE artists SET spotify_id = NULL WHERE id = %s", (holder,))
            for table, column in MERGED_COLUMNS:
                cursor.execute(
                    f"UPDATE IGNORE {table} SET {column} = %s WHERE {column} = %s",
                    (row_id, holder),
                )
            cursor.execute("DELETE FROM artists WHERE id = %s", (holder,))  # and what stayed
        cursor.execute("UPDATE artists SET spotify_id = %s WHERE id = %s", (spotify_id, row_id))

    @staticmethod
    def _add_alias(cursor: Any, alias: str, row_id: int, source: str) -> None:
        """First writer wins: a learned alias never overrides a curated or earlier one."""
        if key := name_key(alias):
            cursor.execute(
                "INSERT INTO aliases (alias_key, alias, artist_id, source) VALUES (%s, %s, %s, %s)"
                " ON DUPLICATE KEY UPDATE alias_key = alias_key",
                (key[:200], alias[:200], row_id, source),
            )

    # -- operator commands

    def probe(self) -> int:
        """The number of artists, or the error: the doctor's question."""
        database = self._settings.mysql_database
        with contextlib.closing(self._connect(database, 3)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM artists")
            return cursor.fetchone()[0]

    def create_schema(self) -> None:
        database = self._settings.mysql_database.replace("`", "")
        with (
            contextlib.closing(self._connect(None, connect_timeout=5)) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{database}`"
                " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            cursor.execute(f"USE `{database}`")
            for statement in schema_statements():
                cursor.execute(statement)

    def load_artists(self, rows: list[CuratedArtist]) -> dict[str, int]:
        """Upsert curated artists, aliases and tags; running it twice changes nothing."""
        counts = {"artists_added": 0, "artists_updated": 0, "aliases": 0, "tags": 0}
        with self._connection(None).cursor() as cursor, self.transaction(cursor):
            for row in rows:
                row_id, added = self._curated_row(cursor, row.name)
                counts["artists_added" if added else "artists_updated"] += 1
                if row.spotify_id:  # pinned: the operator settles a name Spotify shares
                    self._pin(cursor, row_id, row.spotify_id, self._holder(cursor, row.spotify_id))
                for alias in (row.name, *row.aliases):
                    cursor.execute(
                        "INSERT INTO aliases (alias_key, alias, artist_id, source)"
                        " VALUES (%s, %s, %s, 'curated') ON DUPLICATE KEY UPDATE"
                        " alias = VALUES(alias), artist_id = VALUES(artist_id), source = 'curated'",
                        (name_key(alias), alias, row_id),
                    )
                    counts["aliases"] += 1
                cursor.executemany(
                    "INSERT IGNORE INTO tags (artist_id, tag) VALUES (%s, %s)",
                    [(row_id, tag) for tag in row.tags],
                )
                counts["tags"] += len(row.tags)
        return counts

    @staticmethod
    def _curated_row(cursor: Any, name: str) -> tuple[int, bool]:
        """The row a curated name updates (an earlier load's, claimed or not), or a new one:
        (id, added). Never a row learned from traffic: a namesake may hold that name."""
        key = name_key(name)
        cursor.execute(
            "SELECT artist_id, 0 AS preferred FROM aliases WHERE alias_key = %s"
            " AND source = 'curated' UNION ALL SELECT id, 1 FROM artists WHERE name_key = %s"
            " AND spotify_id IS NULL ORDER BY preferred LIMIT 1",
            (key, key),
        )
        if found := cursor.fetchone():
            return found[0], False
        cursor.execute("INSERT INTO artists (name, name_key) VALUES (%s, %s)", (name, key))
        return cursor.lastrowid, True


def schema_statements() -> list[str]:
    lines = SCHEMA_FILE.read_text(encoding="utf-8").splitlines()
    sql = "\n".join(line for line in lines if not line.startswith("--"))
    return [statement for statement in sql.split(";") if statement.strip()]


def relation_score(source: str, score: Any) -> float:
    return min(float(score), CO_ASK_SCORE_CAP) if source == "coask" else float(score)


def shared_tags_reason(shared: list[str]) -> str | None:
    """The relation that tags in common make; one or two broad tags are not a relation."""
    kinds = {tag.split(":", 1)[0] for tag in shared}
    if "group" in kinds:
        return "same_group"
    if "agency" in kinds:
        return "same_agency"
    if len(shared) >= 3 and "genre" in kinds:
        return "similar_genre"
    return None


@dataclasses.dataclass(frozen=True)
class CuratedArtist:
    name: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    spotify_id: str = ""  # pinned, for a name Spotify gives several artists


CURATED_HEADER = ["name", "aliases", "tags"]


def read_curated_csv(lines: Iterable[str]) -> tuple[list[CuratedArtist], list[str]]:
    """Parse `name,aliases,tags` rows (`|`-separated lists). Returns rows and rejection reasons."""
    reader = csv.DictReader(lines)
    header = [field.strip() for field in reader.fieldnames or []]
    if header not in (CURATED_HEADER, [*CURATED_HEADER, "spotify_id"]):
        return [], ["line 1: header must be exactly name,aliases,tags (and ,spotify_id)"]
    rows: list[CuratedArtist] = []
    rejected: list[str] = []
    owner_of_key: dict[str, str] = {}
    for line_no, record in enumerate(reader, start=2):
        row = curated_row(record)
        if problem := curated_row_problem(row, owner_of_key):
            rejected.append(f"line {line_no}: {problem}")
            continue
        owner_of_key.update({name_key(alias): row.name for alias in (row.name, *row.aliases)})
        rows.append(row)
    return rows, rejected


def curated_row(record: dict[str, Any]) -> CuratedArtist:
    aliases = (clean_query(alias) for alias in (record.get("aliases") or "").split("|"))
    tags = (tag.strip() for tag in (record.get("tags") or "").split("|"))
    return CuratedArtist(
        name=clean_query(record.get("name")),
        aliases=tuple(alias for alias in aliases if alias),
        tags=tuple(tag for tag in tags if tag),
        spotify_id=(record.get("spotify_id") or "").strip(),
    )


def curated_row_problem(row: CuratedArtist, owner_of_key: dict[str, str]) -> str | None:
    """Why a curated row is rejected, or None. `owner_of_key`: names of earlier rows' keys."""
    if not name_key(row.name):
        return "name is empty"
    if len(row.name) > 200 or any(len(alias) > 200 for alias in row.aliases):
        return "name or alias longer than 200 characters"
    if row.spotify_id and not SPOTIFY_ID.match(row.spotify_id):
        return f"spotify_id {row.spotify_id!r} is not a Spotify id (22 letters and digits)"
    if bad := [tag for tag in row.tags if not TAG_PATTERN.match(tag) or len(tag) > 64]:
        return f"malformed tag(s) {', '.join(bad)} (expected kind:value, lowercase)"
    names = (row.name, *row.aliases)
    clash = next((a for a in names if owner_of_key.get(name_key(a), row.name) != row.name), None)
    if clash:
        return f"alias {clash!r} already belongs to {owner_of_key[name_key(clash)]!r}"
    return None


# ---- Caches: container memory and DynamoDB ----------------------------------------------------

DYNAMODB_RETRY_DOWN_AFTER_S = 30  # after a failure, skip DynamoDB this long
# One client (SHORT_AWS_CALL: DynamoDB answers in milliseconds). A call that could not time
# out within what the request has left is skipped.
DYNAMODB_CALL_MAX_S = 1.5  # connect + read


class MemoryCache:
    """The container's own memory: an LRU with per-entry expiry, lost on a cold start."""

    def __init__(self, max_entries: int = 4096):
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            expires_at, value = self._items.get(key, (0.0, None))
            if expires_at <= time.time():  # none, or expired
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: str, value: Any, expires_at: float) -> None:
        with self._lock:
            self._put(key, value, expires_at)

    def add(self, key: str, expires_at: float) -> int:
        """Count one more under `key` until `expires_at`: the count, this one included."""
        with self._lock:
            held_until, count = self._items.get(key, (0.0, 0))
            if held_until <= time.time():  # none yet, or expired: a new window
                held_until, count = expires_at, 0
            self._put(key, count + 1, held_until)
        return count + 1

    def _put(self, key: str, value: Any, expires_at: float) -> None:
        self._items[key] = (expires_at, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)


class DynamoCache:
    """Spotify-sourced data with an expiry (TTL attribute), shared by every container.

    Items: `pk` (string key), `body` (JSON), `expires_at` (epoch seconds, the table's TTL).
    DynamoDB deletes expired items lazily, so reads check `expires_at` themselves.
    """

    def __init__(self, table: str):
        self.table = table
        self.health = BestEffort("dynamodb", DYNAMODB_RETRY_DOWN_AFTER_S, table=table)
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = boto3.client("dynamodb", config=SHORT_AWS_CALL)
            return self._client

    def get_many(
        self, keys: list[str], trace: Trace, deadline: Deadline
    ) -> dict[str, tuple[Any, float]]:
        """Values with their expiry (epoch seconds), for the keys that hold a live one."""
        if not keys:
            return {}
        request = {self.table: {"Keys": [{"pk": {"S": key}} for key in keys]}}
        answer = self._request("batch_get_item", trace, deadline, RequestItems=request)
        items = _as_dict(answer).get("Responses", {}).get(self.table, [])
        now = time.time()
        return {
            item["pk"]["S"]: (json.loads(item["body"]["S"]), expires)
            for item in items
            if (expires := float(item.get("expires_at", {}).get("N", "0"))) > now
        }

    def put_many(
        self, entries: list[tuple[str, Any, float]], trace: Trace, deadline: Deadline
    ) -> None:
        writes = [{"PutRequest": {"Item": dynamo_item(*entry)}} for entry in entries]
        for start in range(0, len(writes), 25):  # BatchWriteItem takes 25 at a time
            batch = {self.table: writes[start : start + 25]}
            self._request("batch_write_item", trace, deadline, RequestItems=batch)

    def add(self, key: str, expires_at: float, trace: Trace, deadline: Deadline) -> int | None:
        """Count one more under `key`, for every container: the count, or None."""
        found = self._request(
            "update_item",
            trace,
            deadline,
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :ends)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ends": {"N": str(int(expires_at))}},
            ReturnValues="UPDATED_NEW",
        )
        return int(found["Attributes"]["hits"]["N"]) if found else None

    def _request(self, operation: str, trace: Trace, deadline: Deadline, **params: Any) -> Any:
        if self.health.down:
            return None
        if deadline.left() < DYNAMODB_CALL_MAX_S:
            log_fields(logging.INFO, "no time left for dynamodb, skipped", operation=operation)
            return None

        def work() -> Any:
            trace.dynamodb_calls += 1
            try:
                return getattr(self.client(), operation)(**params)
            except botocore.exceptions.ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ValidationException":
                    raise
                # A request DynamoDB will never take (a key or item too large): a bad input,
                # not an outage, so the layer stays up for everyone else.
                log_fields(
                    logging.WARNING,
                    "dynamodb refused the request as invalid",
                    operation=operation,
                    detail=str(error),
                )
                return None

        return self.health.call(operation, work, None, AWS_ERRORS)


def dynamo_item(key: str, value: Any, expires_at: float) -> dict[str, Any]:
    body = json.dumps(value, ensure_ascii=False)
    return {"pk": {"S": key}, "body": {"S": body}, "expires_at": {"N": str(int(expires_at))}}


class Cache:
    """Memory in front of DynamoDB; writes reach memory at once, DynamoDB in one batch."""

    def __init__(
        self, memory: MemoryCache, dynamo: DynamoCache | None, trace: Trace, deadline: Deadline
    ):
        self.memory = memory
        self.dynamo = dynamo
        self.trace = trace
        self.deadline = deadline
        self._pending: dict[str, tuple[Any, float]] = {}

    def get_many(self, keys: list[str]) -> dict[str, tuple[Any, str]]:
        """Values found, each with the layer that had it ("memory" or "dynamodb")."""
        found = {
            key: (value, "memory") for key in keys if (value := self.memory.get(key)) is not None
        }
        missing = [key for key in keys if key not in found]
        if self.dynamo and missing:
            stored = self.dynamo.get_many(missing, self.trace, self.deadline)
            for key, (value, expires_at) in stored.items():
                self.memory.put(key, value, expires_at)
                found[key] = (value, "dynamodb")
        return found

    def get(self, key: str) -> Any:
        return self.get_many([key]).get(key, (None,))[0]

    def put(self, key: str, value: Any, ttl_s: float, shared: bool = True) -> None:
        expires_at = time.time() + ttl_s
        self.memory.put(key, value, expires_at)
        if shared:
            self._pending[key] = (value, expires_at)

    def count(self, key: str, window_s: float) -> int:
        """One more under `key` for `window_s`: the count every container shares, or this
        container's own when DynamoDB is off or does not answer."""
        expires_at = time.time() + window_s
        shared = (
            self.dynamo.add(key, expires_at, self.trace, self.deadline) if self.dynamo else None
        )
        return shared if shared is not None else self.memory.add(key, expires_at)

    def flush(self) -> None:
        if self.dynamo and self._pending:
            entries = [(key, value, expires) for key, (value, expires) in self._pending.items()]
            self.dynamo.put_many(entries, self.trace, self.deadline)
        self._pending.clear()


# ---- Budget and best effort -------------------------------------------------------------------

LAMBDA_MARGIN_MS = 300  # to render, log and return after the last outbound call
MIN_ANSWER_S = 0.1  # even a late start gets this long to answer from memory


class Deadline:
    """One time budget per request; every outbound call's timeout comes out of what is left."""

    def __init__(self, budget_ms: int, context: Any = None, started: float | None = None):
        """`started` (time.monotonic()) is when the request arrived, if before now: a cold
        start's set-up then comes out of the same budget."""
        now = time.monotonic()
        self.started = now if started is None else started
        ends = self.started + max(budget_ms, 100) / 1000
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            with contextlib.suppress(Exception):
                ends = min(ends, now + (int(remaining()) - LAMBDA_MARGIN_MS) / 1000)
        self._ends = max(ends, now + MIN_ANSWER_S)

    def left(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def timeout(self, cap: float) -> float:
        """A timeout for one call: at most `cap`, never past the deadline, never zero."""
        return max(0.05, min(cap, self.left()))

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 2)

    def capped(self, budget_ms: int) -> Deadline:
        """The same clock, ending at most `budget_ms` after it started."""
        sooner = Deadline(budget_ms, started=self.started)
        sooner._ends = min(self._ends, sooner._ends)
        return sooner


class BestEffort:
    """The health of a layer the answer can do without (MySQL, DynamoDB). After an outage the
    layer is skipped for a while, so requests stop paying its timeouts; the outage is logged
    once, when it starts, not on every skipped call."""

    def __init__(self, layer: str, retry_after_s: float, **where: str):
        self.layer = layer
        self.retry_after_s = retry_after_s
        self.where = where  # host or table, for the log line
        self.down_until = 0.0

    @property
    def down(self) -> bool:
        return time.monotonic() < self.down_until

    def call(self, operation: str, work: Callable[[], T], default: T, errors: tuple) -> T:
        """`work()`, or `default` when the layer is down or fails (it is then down a while)."""
        if self.down:
            return default
        try:
            return work()
        except errors as error:
            self.went_down(f"{self.layer} unavailable, answering without it", operation, error)
            return default

    def went_down(
        self, message: str, operation: str, error: BaseException | None = None, **fields: Any
    ) -> None:
        self.down_until = time.monotonic() + self.retry_after_s
        self.log(message, operation, error, **fields)

    def log(
        self, message: str, operation: str, error: BaseException | None = None, **fields: Any
    ) -> None:
        if error is not None:
            fields.update(error=type(error).__name__, detail=str(error))
        log_fields(logging.WARNING, message, operation=operation, **self.where, **fields)


# ---- Logging and metrics ----------------------------------------------------------------------

log = logging.getLogger(SERVICE_NAME)
_log_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context")


@dataclasses.dataclass
class Trace:
    """What one request did: which layers answered, what it called, how long each stage took."""

    layers: dict[str, str] = dataclasses.field(default_factory=dict)
    spotify_calls: list[str] = dataclasses.field(default_factory=list)
    mysql_calls: int = 0
    dynamodb_calls: int = 0
    stages_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    outcome: str = "unknown"
    resolved_id: str = ""  # the Spotify id the request was answered about
    cut_short: bool = False  # the budget ran out before a part of the answer came

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.stages_ms[name] = round(self.stages_ms.get(name, 0.0) + elapsed, 2)


def request_id_of(context: Any) -> str:
    request_id = getattr(context, "aws_request_id", None)
    # Lambda always gives one; local callers may not (uuid's import is not worth a cold start).
    return request_id if isinstance(request_id, str) else os.urandom(16).hex()


def set_log_context(**fields: Any) -> None:
    """Fields every log line of this request carries, set once when it arrives."""
    _log_context.set(fields)


def submit_in_context(
    pool: concurrent.futures.Executor, work: Callable[..., T], *args: Any
) -> concurrent.futures.Future[T]:
    """`work(*args)` on `pool`; its log lines carry the caller's request context."""
    return pool.submit(contextvars.copy_context().run, work, *args)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, as CloudWatch Logs Insights and Powertools expect."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "level": record.levelname,
            "timestamp": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}Z",
            "service": SERVICE_NAME,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = JsonLogFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    log.propagate = False
    # spotipy logs tokens and the Basic auth header at DEBUG, and unstructured errors we
    # already report ourselves: keep it quiet whatever the level.
    logging.getLogger("spotipy").setLevel(logging.CRITICAL)
    for noisy in ("urllib3", "botocore", "boto3", "pymysql"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, log.level))


MAX_LOG_FIELD_CHARS = 300  # what a caller sends is logged in part: no 1.5 MB lines


def log_fields(level: int, message: str, **fields: Any) -> None:
    """One log line: the request's context, then these fields, long texts cut."""
    fields = {
        name: value[:MAX_LOG_FIELD_CHARS] if isinstance(value, str) else value
        for name, value in {**_log_context.get({}), **fields}.items()
    }
    log.log(level, message, extra={"fields": fields})


def log_exception(message: str) -> None:
    """An ERROR line with the traceback of the exception being handled."""
    log.exception(message, extra={"fields": _log_context.get({})})


def log_answered(trace: Trace, fields: dict[str, Any], elapsed_ms: float) -> None:
    """The request's one summary line, which doubles as its CloudWatch metrics."""
    log_fields(
        logging.INFO,
        "skill answered",
        **fields,
        outcome=trace.outcome,
        resolved_id=trace.resolved_id or None,
        layers=trace.layers,
        spotify_calls=trace.spotify_calls,
        mysql_calls=trace.mysql_calls,
        dynamodb_calls=trace.dynamodb_calls,
        stages_ms=trace.stages_ms,
        duration_ms=elapsed_ms,
        **metrics_block(
            "KakaoMusicSkill",
            {
                "AnswerTime": (elapsed_ms, "Milliseconds"),
                "SpotifyCalls": (len(trace.spotify_calls), "Count"),
            },
        ),
    )


def metrics_block(namespace: str, metrics: dict[str, tuple[float, str]]) -> dict[str, Any]:
    """CloudWatch Embedded Metric Format: the request's log line doubles as its metrics."""
    definitions = [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": namespace, "Dimensions": [["service"]], "Metrics": definitions}
            ],
        },
        **{name: value for name, (value, _) in metrics.items()},
    }


# ---- Operator events: set-up and checks from inside the function ------------------------------


def is_callback_event(event: Any) -> bool:
    """The asynchronous self-invocation that finishes an answer (see SkillApp.call_back)."""
    return isinstance(event, dict) and "kakao_callback" in event and not is_proxy_event(event)


def is_operator_event(event: Any) -> bool:
    """{"operator": ...} invoked directly (console test, `sam remote invoke`): IAM decided who
    may. Over HTTP it is only a body that is not Kakao's, refused like any other."""
    return isinstance(event, dict) and "operator" in event and not is_proxy_event(event)


def run_operator_event(event: dict[str, Any]) -> dict[str, Any]:
    """`doctor` (does every layer answer, how fast, the likely fix), `init-db` (the MySQL
    schema) or `load-artists` (the curated file shipped in the zip), with the function's own
    network and role: the way to reach a private RDS."""
    name = str(event.get("operator"))[:40]
    command = OPERATOR_EVENTS.get(name)
    if command is None:
        return {"operator": name, "ok": False, "detail": f"one of {sorted(OPERATOR_EVENTS)}"}
    report = command(dict(os.environ))
    level = logging.INFO if report["ok"] else logging.WARNING
    log_fields(level, "operator event", operator=name, ok=report["ok"])
    return {"operator": name, **report}


@dataclasses.dataclass
class Check:
    """One layer as the doctor found it."""

    name: str
    ok: bool
    ms: float
    detail: str
    fix: str = ""


def doctor(env: dict[str, str]) -> dict[str, Any]:
    """Whether the secret, Spotify, DynamoDB and MySQL answer from inside the function."""
    secret, settings = check_secret(env)
    checks = [secret]
    if settings is not None:
        checks += [check(settings) for check in (check_spotify, check_dynamodb, check_mysql)]
    return {"ok": all(c.ok for c in checks), "checks": [dataclasses.asdict(c) for c in checks]}


def timed(name: str, work: Callable[[], str], advice: Callable[[Exception], str]) -> Check:
    """`work()`'s detail as a passed check, or its failure with the likely fix."""
    started = time.monotonic()
    try:
        ok, detail, fix = True, work(), ""
    except Exception as error:  # the doctor reports whatever went wrong
        ok, detail, fix = False, f"{type(error).__name__}: {error}"[:300], advice(error)
    return Check(name, ok, round((time.monotonic() - started) * 1000, 1), detail, fix)


def check_secret(env: dict[str, str]) -> tuple[Check, Settings | None]:
    settings = Settings.from_env(env)
    if not (env.get("SECRET_ARN", "").strip() or env.get("SECRET_PARAMETER", "").strip()):
        return Check("secret", True, 0.0, "none: settings from the environment"), settings
    merged: dict[str, str] = {}

    def read() -> str:
        merged.update(environment_with_secret(env))
        return "read"

    found = timed("secret", read, lambda _: SECRET_FIX[settings.in_vpc])
    return found, Settings.from_env(merged) if found.ok else None


def check_spotify(settings: Settings) -> Check:
    if not settings.spotify_configured:
        return Check("spotify", False, 0.0, "no client id/secret", SPOTIFY_UNSET)

    def search() -> str:
        found = SpotifyGateway(settings).search_artists("IU", Deadline(4000), Trace())
        return f"token and a search: {len(found)} artists"

    return timed("spotify", search, lambda error: spotify_fix(error, settings.in_vpc))


def spotify_fix(error: Exception, in_vpc: bool) -> str:
    if not isinstance(error, SpotifyError) or error.status == 0:
        return NETWORK_FIX[in_vpc].format(what="Spotify (api.spotify.com, accounts.spotify.com)")
    if error.reason == "invalid_client":
        return "Spotify rejected the client id/secret: copy them again from the app's dashboard"
    if error.status == 403:
        return "Spotify refuses the app: its owner needs an active Premium subscription"
    return "Spotify is busy or rate limiting: try again in a few minutes"


def check_dynamodb(settings: Settings) -> Check:
    if not settings.dynamodb_table:
        return Check("dynamodb", True, 0.0, "off: DYNAMODB_TABLE is not set")
    table = settings.dynamodb_table

    def read() -> str:
        client = boto3.client("dynamodb", config=SHORT_AWS_CALL)
        client.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "doctor#probe"}}]}})
        return f"table {table} answers"

    return timed("dynamodb", read, lambda error: dynamodb_fix(error, settings.in_vpc))


def dynamodb_fix(error: Exception, in_vpc: bool) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code")
        return f"DynamoDB refused ({code}): check the table name and the role's permissions"
    return NETWORK_FIX[in_vpc].format(what="DynamoDB") + (
        " (or the free DynamoDB gateway endpoint)" if in_vpc else ""
    )


def check_mysql(settings: Settings) -> Check:
    if not settings.mysql_host:
        return Check("mysql", True, 0.0, "off: MYSQL_HOST is not set")

    def count() -> str:
        tls = "verified TLS" if settings.mysql_ssl_ca else "no TLS"
        return f"{ArtistStore(settings).probe()} artists, {tls}"

    return timed("mysql", count, lambda error: mysql_fix(error, settings))


def mysql_fix(error: Exception, settings: Settings) -> str:
    code = mysql_error_code(error)
    cause = getattr(error, "original_exception", error)  # pymysql wraps TLS failures
    if isinstance(error, PlaintextRefused):
        return PLAINTEXT_REFUSED
    if isinstance(cause, (ssl.SSLError, FileNotFoundError, PermissionError)):
        return TLS_FAILED
    if code == 1045:
        tls = "" if settings.mysql_ssl_ca else ", or the server requires TLS: set MYSQL_SSL_CA"
        return f"MySQL refused the user: check MYSQL_USER / MYSQL_PASSWORD and its grants{tls}"
    if code in (1049, 1146):
        return 'the schema is missing: invoke the function with {"operator": "init-db"}'
    if settings.in_vpc:
        return "the database's security group must allow the function's security group on its port"
    return "the function is outside any VPC: a private database needs SubnetIds, SecurityGroupIds"


SPOTIFY_UNSET = "put SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the secret"
TLS_FAILED = (
    "MySQL's certificate did not verify against MYSQL_SSL_CA (or the file is unreadable): use"
    " the server's CA bundle (RDS: global-bundle.pem) and a host name its certificate names"
)
SECRET_FIX = {
    True: "the function is in a VPC: its subnets need a NAT gateway (or a Secrets Manager / SSM"
    " endpoint), and its role secretsmanager:GetSecretValue or ssm:GetParameter",
    False: "check SECRET_ARN / SECRET_PARAMETER and that the role may read it",
}
NETWORK_FIX = {
    True: "{what} unreachable: the function is in a VPC, so its private subnets need a route to a"
    " NAT gateway",
    False: "{what} unreachable: check the network",
}


def init_db_event(env: dict[str, str]) -> dict[str, Any]:
    def create(store: ArtistStore) -> str:
        store.create_schema()
        return "schema ready"

    return store_event(env, "init-db", create)


def load_artists_event(env: dict[str, str]) -> dict[str, Any]:
    def load(store: ArtistStore) -> str:
        counts = store.load_artists(list(read_curated_file()))
        return ", ".join(f"{name} {count}" for name, count in counts.items())

    return store_event(env, "load-artists", load)


def store_event(env: dict[str, str], name: str, work: Callable[[ArtistStore], str]) -> dict:
    try:
        settings = read_settings(env)
    except SecretUnavailable:
        return {"ok": False, "detail": "cannot read the secret: see the log line before"}
    if not settings.mysql_host:
        return {"ok": False, "detail": "MYSQL_HOST is not set"}
    store = ArtistStore(settings)
    found = timed(name, lambda: work(store), lambda error: mysql_fix(error, settings))
    store.close()  # a store per event: its connection must not outlive it
    return dataclasses.asdict(found)


OPERATOR_EVENTS: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "doctor": doctor,
    "init-db": init_db_event,
    "load-artists": load_artists_event,
}
