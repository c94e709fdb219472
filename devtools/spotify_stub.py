"""A Spotify Web API look-alike on loopback, for tests and `make run` without real credentials.

It serves the demo catalog (devtools/catalog.json) with the client-credentials token flow and
the JSON shapes, limits and errors of the real API in its two app modes of 2026: "extended"
(the full API) and "development-2026" (search limit 10, no top tracks, related artists or
several-ids look-ups, artists without followers/popularity/genres). Faults (429, resets,
truncated bodies, expired tokens, slowness) can be switched on per path prefix.

    python -m devtools.spotify_stub --port 8081 --mode development-2026
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import re
import secrets
import socket
import string
import struct
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

MODES = ("extended", "development-2026")
CATALOG_PATH = Path(__file__).with_name("catalog.json")
JSON_TYPE = "application/json; charset=utf-8"
SVG_TYPE = "image/svg+xml"
TOKEN_SECONDS = 3600
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_RE = re.compile(r"[0-9A-Za-z]{22}")
MARKETS = ["KR", "US", "JP", "GB", "DE", "FR", "BR", "CA", "AU", "ID", "PH", "TW"]
SEARCH_TYPES = {"artist", "album", "track", "playlist", "show", "episode", "audiobook"}
# Field filters Spotify accepts in q; those a result kind has no field for are ignored.
FIELD_RE = re.compile(r'\b(artist|album|track|year|genre|isrc|upc|tag):("[^"]*"|\S+)', re.I)
FILTER_FIELDS = {
    "artist": {"artist"},
    "album": {"artist", "album"},
    "track": {"artist", "album", "track"},
}
# Artists credited on tracks but absent from the catalog: made-up numbers, like the catalog's.
GUEST = {"search_aliases": [], "genres": [], "popularity": 50, "followers": 1_000_000}
# kind -> (required parameters, optional parameters)
FAULT_PARAMS = {
    "latency": ({"ms"}, set()),
    "status": ({"status"}, {"retry_after", "reason", "message", "premium"}),
    "reset": (set(), set()),
    "truncated": (set(), set()),
    "expired_token": (set(), set()),
    "hang": ({"seconds"}, set()),
}
DEFAULT_MESSAGES = {429: "API rate limit exceeded"}
PREMIUM_MESSAGE = "Active premium subscription required for the owner of the app."


def spotify_id(kind: str, key: str) -> str:
    """22 base62 characters from a hash, so ids stay the same across runs."""
    number = int.from_bytes(hashlib.sha256(f"{kind}:{key}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def fold(text: str) -> str:
    """Names compared as search does: width, case, spaces and punctuation do not count."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PZC")


def tier(query: str, names: list[str]) -> int | None:
    """0 exact, 1 prefix, 2 substring (best over names); None when nothing matches."""
    tiers = []
    for name in map(fold, names):
        if name == query:
            tiers.append(0)
        elif name.startswith(query):
            tiers.append(1)
        elif query in name:
            tiers.append(2)
    return min(tiers, default=None)


def digits(key: str, count: int) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest(), 16))[-count:]


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Catalog:
    """The catalog file with ids filled in, and the indexes the endpoints need."""

    def __init__(self, data: dict):
        self.by_name: dict[str, dict] = {}
        self.artists: dict[str, dict] = {}  # id -> artist, guests included
        self.albums: dict[str, dict] = {}
        self.tracks: dict[str, dict] = {}
        self.album_of: dict[str, dict] = {}  # track id -> album
        self.position: dict[str, int] = {}  # track id -> track number
        self.album_artists: dict[str, list[dict]] = {}
        self.credits: dict[str, list[dict]] = {}  # artist name -> tracks crediting it
        for artist in data["artists"]:
            self._add_artist(artist, spotify_id("artist", artist["name"]))
        for artist in data["artists"]:
            for name in artist["related"]:
                if name not in self.by_name:
                    raise ValueError(f"{artist['name']}: related {name!r} is not in the catalog")
            for album in artist["albums"]:
                self._add_album(artist, album)

    def _add_artist(self, artist: dict, artist_id: str) -> None:
        artist["id"] = artist_id
        self._unique(self.artists, artist)
        self.by_name[artist["name"]] = artist
        self.credits[artist["name"]] = []

    def _add_album(self, owner: dict, album: dict) -> None:
        # Names repeat across artists ("Without Me"), so the owner is part of the key.
        album["id"] = spotify_id("album", f"{owner['name']}/{album['name']}")
        self._unique(self.albums, album)
        for number, track in enumerate(album["tracks"], 1):
            track["id"] = spotify_id("track", f"{owner['name']}/{album['name']}/{track['name']}")
            self._unique(self.tracks, track)
            self.album_of[track["id"]], self.position[track["id"]] = album, number
            for name in track["artists"]:
                if name not in self.by_name:
                    guest = {"name": name, **GUEST, "related": [], "albums": []}
                    self._add_artist(guest, spotify_id("artist", name))
                self.credits[name].append(track)
        # Album artists: the owner and whoever is credited on every track (a duet single).
        shared = [n for n in album["tracks"][0]["artists"] if n != owner["name"]]
        shared = [n for n in shared if all(n in t["artists"] for t in album["tracks"])]
        self.album_artists[album["id"]] = [owner, *(self.by_name[n] for n in shared)]

    @staticmethod
    def _unique(table: dict, item: dict) -> None:
        if item["id"] in table:
            raise ValueError(f"duplicate catalog entry {item['name']!r}")
        table[item["id"]] = item

    def popularity(self, album: dict) -> int:
        return max(t["popularity"] for t in album["tracks"])

    def label(self, some_id: str) -> str:
        """The display name behind an artist or album id (image initials)."""
        item = self.artists.get(some_id) or self.albums.get(some_id)
        return item["name"] if item else some_id

    def artist_albums(self, artist: dict) -> list[tuple[dict, str]]:
        """(album, album_group) pairs, newest first, as /artists/{id}/albums lists them."""
        found = []
        for album in self.albums.values():
            if artist in self.album_artists[album["id"]]:
                found.append((album, album["album_type"]))
            elif any(artist["name"] in t["artists"] for t in album["tracks"]):
                found.append((album, "appears_on"))
        return sorted(found, key=lambda pair: pair[0]["release_date"], reverse=True)

    def search(self, q: str, kind: str) -> list[dict]:
        filters = {}

        def take(match: re.Match) -> str:
            if value := fold(match[2].strip('"')):
                filters[match[1].lower()] = value
            return " "

        text = fold(FIELD_RE.sub(take, q))
        applicable = {f: v for f, v in filters.items() if f in FILTER_FIELDS[kind]}
        if not (text or applicable):
            return []
        ranked = []
        for item, names, fields in self._candidates(kind, bool(filters)):
            if any(not any(v in fold(n) for n in fields[f]) for f, v in applicable.items()):
                continue
            rank = tier(text, names) if text else 0
            if rank is not None:
                ranked.append((rank, -self._popularity(kind, item), item))
        return [item for *_, item in sorted(ranked, key=lambda r: r[:2])]

    def _candidates(self, kind: str, filtered: bool):
        """(item, names free text matches, {filter field: names}) for one result kind."""
        if kind == "artist":
            for a in self.artists.values():
                yield a, [a["name"], *a["search_aliases"]], {"artist": [a["name"]]}
        elif kind == "album":
            for al in self.albums.values():
                names = [a["name"] for a in self.album_artists[al["id"]]]
                yield al, [al["name"]], {"artist": names, "album": [al["name"]]}
        elif kind == "track":
            for t in self.tracks.values():
                # Plain words also find a track by its artists, as Spotify's search does.
                names = [t["name"]] if filtered else [t["name"], *t["artists"]]
                album = self.album_of[t["id"]]["name"]
                yield t, names, {"artist": t["artists"], "album": [album], "track": [t["name"]]}

    def _popularity(self, kind: str, item: dict) -> int:
        return self.popularity(item) if kind == "album" else item["popularity"]


class _View:
    """Spotify's object shapes as one request sees them: its host and the app mode."""

    def __init__(self, catalog: Catalog, base: str, extended: bool):
        self.catalog, self.base, self.extended = catalog, base, extended
        self.api = base + "/v1/"

    def _common(self, kind: str, item_id: str) -> dict:
        return {
            "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{item_id}"},
            "href": f"{self.api}{kind}s/{item_id}",
            "id": item_id,
            "type": kind,
            "uri": f"spotify:{kind}:{item_id}",
        }

    def _images(self, item_id: str, sizes: tuple[int, ...]) -> list[dict]:
        url = f"{self.base}/images/{item_id}.svg"
        return [{"url": url, "height": size, "width": size} for size in sizes]

    def page(self, path: str, query: dict, items: list, limit: int, offset: int, render) -> dict:
        def link(at: int) -> str:
            return f"{self.api}{path}?{urlencode({'offset': at, 'limit': limit, **query})}"

        return {
            "href": link(offset),
            "items": [render(item) for item in items[offset : offset + limit]],
            "limit": limit,
            "next": link(offset + limit) if offset + limit < len(items) else None,
            "offset": offset,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            "total": len(items),
        }

    def artist_simple(self, artist: dict) -> dict:
        return {**self._common("artist", artist["id"]), "name": artist["name"]}

    def artist(self, artist: dict) -> dict:
        obj = self.artist_simple(artist) | {"images": self._images(artist["id"], (640, 320, 160))}
        if self.extended:
            obj["followers"] = {"href": None, "total": artist["followers"]}
            obj["genres"] = artist["genres"]
            obj["popularity"] = artist["popularity"]
        return obj

    def album_simple(self, album: dict) -> dict:
        obj = {
            "album_type": album["album_type"],
            "total_tracks": len(album["tracks"]),
            **self._common("album", album["id"]),
            "images": self._images(album["id"], (640, 300, 64)),
            "name": album["name"],
            "release_date": album["release_date"],
            "release_date_precision": "day",
            "artists": [self.artist_simple(a) for a in self.catalog.album_artists[album["id"]]],
        }
        if self.extended:
            obj["available_markets"] = MARKETS
        return obj

    def album(self, album: dict) -> dict:
        tracks_path = f"albums/{album['id']}/tracks"
        obj = self.album_simple(album) | {
            "tracks": self.page(tracks_path, {}, album["tracks"], 50, 0, self.track_simple),
            "copyrights": [],
            "external_ids": {"upc": digits(album["id"], 12)},
            "genres": [],
            "label": "",
        }
        if self.extended:
            obj["popularity"] = self.catalog.popularity(album)
        return obj

    def track_simple(self, track: dict) -> dict:
        obj = {
            "artists": [self.artist_simple(self.catalog.by_name[n]) for n in track["artists"]],
            "disc_number": 1,
            "duration_ms": track["duration_ms"],
            "explicit": track.get("explicit", False),
            **self._common("track", track["id"]),
            "is_local": False,
            "is_playable": True,
            "name": track["name"],
            "preview_url": None,
            "track_number": self.catalog.position[track["id"]],
        }
        if self.extended:
            obj["available_markets"] = MARKETS
        return obj

    def track(self, track: dict) -> dict:
        album = self.catalog.album_of[track["id"]]
        isrc = f"QZDM0{album['release_date'][2:4]}{digits(track['id'], 5)}"
        obj = self.track_simple(track) | {
            "album": self.album_simple(album),
            "external_ids": {"isrc": isrc},
        }
        if self.extended:
            obj["popularity"] = track["popularity"]
        return obj


@dataclass
class _Fault:
    kind: str
    path_prefix: str
    remaining: int | None
    params: dict


# (path, handler method, extended apps only); the first full match wins. A trailing slash is
# fine, as on the real API (spotipy asks for "albums/{id}/tracks/").
ROUTES = [
    (r"/v1/search", "_search", False),
    (r"/v1/artists/([^/]+)", "_artist", False),
    (r"/v1/artists/([^/]+)/albums", "_artist_albums", False),
    (r"/v1/artists/([^/]+)/top-tracks", "_top_tracks", True),
    (r"/v1/artists/([^/]+)/related-artists", "_related_artists", True),
    (r"/v1/albums/([^/]+)", "_album", False),
    (r"/v1/albums/([^/]+)/tracks", "_album_tracks", False),
    (r"/v1/tracks/([^/]+)", "_track", False),
    (r"/v1/(artists|albums|tracks)", "_several", True),
    (r"/v1/browse/(.*)", "_browse", True),
    (r"/v1/markets", "_markets", True),
]


class SpotifyStub:
    """The server, its state (tokens, faults, recorded calls) and the API behind it."""

    def __init__(
        self,
        mode: str = "development-2026",
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "demo-client-id",
        client_secret: str = "demo-client-secret",
        latency_ms: int = 0,
        catalog_path: str | Path | None = None,
    ):
        self.mode = mode
        self.host, self.port = host, port
        self.client_id, self.client_secret = client_id, client_secret
        self.latency_ms = latency_ms
        with open(catalog_path or CATALOG_PATH, encoding="utf-8") as handle:
            self.catalog = json.load(handle)
        self._index = Catalog(self.catalog)
        self.calls: list[dict] = []
        self._faults: list[_Fault] = []
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v1/"

    @property
    def token_url(self) -> str:
        return self.url + "/api/token"

    def start(self) -> SpotifyStub:
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits at most this long
                name=f"spotify-stub-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Kept-alive connections would otherwise go on being answered by their threads.
        for conn in list(server.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> SpotifyStub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def api_calls(self) -> int:
        return sum(1 for call in list(self.calls) if call["path"].startswith("/v1/"))

    def calls_to(self, path: str) -> int:
        """Calls to exactly this path (a search, one artist's object, ...)."""
        return sum(1 for call in list(self.calls) if call["path"] == path)

    def token_calls(self) -> int:
        return sum(
            1 for c in list(self.calls) if (c["method"], c["path"]) == ("POST", "/api/token")
        )

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def artist_id(self, name: str) -> str:
        return self._index.by_name[name]["id"]

    def add_fault(self, kind: str, path_prefix: str = "/v1/", count: int | None = None, **params):
        """Misbehave on requests whose path starts with path_prefix, `count` times (None:
        until cleared). Delays (latency, hang) add up; of the faults that change the answer,
        the first added that matches is used, and only it counts that request."""
        if kind not in FAULT_PARAMS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_PARAMS)}")
        required, optional = FAULT_PARAMS[kind]
        if not required <= params.keys() <= required | optional:
            raise TypeError(f"fault {kind!r} takes {sorted(required)} and maybe {sorted(optional)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None")
        with self._lock:
            self._faults.append(_Fault(kind, path_prefix, count, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- used by the request handler ------------------------------------------------------

    def _record(self, method: str, path: str, params: dict) -> dict:
        """The call is listed on arrival, so a request still hanging is counted; its status
        is filled in when answered (None for a reset)."""
        call = {"method": method, "path": path, "params": params, "status": None}
        with self._lock:
            self.calls.append(call)
        return call

    def _take_faults(self, path: str) -> tuple[float, _Fault | None]:
        delay, chosen = 0.0, None
        with self._lock:
            for fault in list(self._faults):
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.kind == "latency":
                    delay += fault.params["ms"] / 1000
                elif fault.kind == "hang":
                    delay += fault.params["seconds"]
                elif chosen is None:
                    chosen = fault
                else:
                    continue  # waits for a request of its own
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
        return delay, chosen

    def _respond(self, method, path, params, headers, body, fault) -> tuple[int, bytes, dict]:
        if fault and fault.kind == "status":
            return self._fault_status(**fault.params)
        if fault and fault.kind == "expired_token":
            with self._lock:
                self._tokens.clear()
            return _json(401, _error(401, "The access token expired"))
        status, payload, extra = self._route(method, path, params, headers, body)
        if fault and fault.kind == "truncated":
            return 200, payload[: len(payload) // 2], {"Content-Type": JSON_TYPE}
        return status, payload, extra

    @staticmethod
    def _fault_status(status, retry_after=None, reason=None, message=None, premium=False):
        if message is None:
            message = PREMIUM_MESSAGE if premium else DEFAULT_MESSAGES.get(status)
        body = _error(status, message or HTTPStatus(status).phrase, reason)
        extra = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return _json(status, body, extra)

    def _route(self, method, path, params, headers, body) -> tuple[int, bytes, dict]:
        if method == "POST" and path == "/api/token":
            return self._token(headers, body)
        if method == "GET" and (image := re.fullmatch(r"/images/([^/]+)\.svg", path)):
            name = unquote(image[1])
            return 200, _svg(name, self._index.label(name)).encode(), {"Content-Type": SVG_TYPE}
        if not path.startswith("/v1/"):
            return _json(404, _error(404, "Service not found"))
        try:
            self._check_token(headers.get("Authorization", ""))
            if method == "GET":
                for pattern, name, extended_only in ROUTES:
                    if match := re.fullmatch(pattern + "/?", path):
                        if extended_only and not self._extended:
                            raise ApiError(403, "Forbidden")
                        host = headers.get("Host") or f"{self.host}:{self.port}"
                        view = _View(self._index, f"http://{host}", self._extended)
                        return _json(200, getattr(self, name)(view, params, *match.groups()))
            raise ApiError(404, "Service not found")
        except ApiError as error:
            return _json(error.status, _error(error.status, error.message))

    @property
    def _extended(self) -> bool:
        return self.mode == "extended"

    def _token(self, headers, body: bytes) -> tuple[int, bytes, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client = (form.get("client_id"), form.get("client_secret"))
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            with contextlib.suppress(ValueError):  # bad base64 or UTF-8: no client
                client = tuple(base64.b64decode(auth[6:]).decode().partition(":")[::2])
        if client != (self.client_id, self.client_secret):
            return _json(400, {"error": "invalid_client", "error_description": "Invalid client"})
        if form.get("grant_type") != "client_credentials":
            description = (
                "grant_type must be client_credentials, authorization_code or refresh_token"
                if form.get("grant_type")
                else "grant_type parameter is missing"
            )
            return _json(400, {"error": "unsupported_grant_type", "error_description": description})
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = time.monotonic() + TOKEN_SECONDS
        body = {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS}
        return _json(200, body)

    def _check_token(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expiry = self._tokens.get(token) if scheme == "Bearer" else None
        if expiry is None:
            raise ApiError(401, "Invalid access token")
        if expiry < time.monotonic():
            raise ApiError(401, "The access token expired")

    # -- /v1 endpoints: (view, query params, path groups) -> JSON body ----------------------

    def _search(self, view: _View, params: dict) -> dict:
        q = params.get("q", "")
        if not q.strip():
            raise ApiError(400, "No search query")
        types = [t for t in params.get("type", "").split(",") if t]
        if not types:
            raise ApiError(400, "Missing parameter type")
        for kind in types:
            if kind not in SEARCH_TYPES:
                raise ApiError(400, f"Bad search type field {kind}")
        limit = _limit(params, 20 if self._extended else 5, 50 if self._extended else 10)
        offset = _offset(params)
        render = {"artist": view.artist, "album": view.album_simple, "track": view.track}
        return {
            kind + "s": view.page(
                "search",
                {"query": q, "type": kind},
                self._index.search(q, kind) if kind in render else [],
                limit,
                offset,
                render.get(kind),
            )
            for kind in types
        }

    def _artist(self, view: _View, params: dict, artist_id: str) -> dict:
        return view.artist(_find(self._index.artists, artist_id))

    def _artist_albums(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = _find(self._index.artists, artist_id)
        maximum = 50 if self._extended else 10
        # The default is 20, but never above the cap: a bare request should not be a 400.
        limit, offset = _limit(params, min(20, maximum), maximum), _offset(params)
        groups = params.get("include_groups") or "album,single,appears_on,compilation"
        wanted = groups.split(",")
        pairs = [p for p in self._index.artist_albums(artist) if p[1] in wanted]
        query = {"include_groups": groups}
        path = f"artists/{artist_id}/albums"
        return view.page(path, query, pairs, limit, offset, lambda p: _grouped(view, *p))

    def _top_tracks(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = _find(self._index.artists, artist_id)
        tracks = sorted(self._index.credits[artist["name"]], key=lambda t: -t["popularity"])
        return {"tracks": [view.track(t) for t in tracks[:10]]}

    def _related_artists(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = _find(self._index.artists, artist_id)
        return {"artists": [view.artist(self._index.by_name[n]) for n in artist["related"]]}

    def _album(self, view: _View, params: dict, album_id: str) -> dict:
        return view.album(_find(self._index.albums, album_id))

    def _album_tracks(self, view: _View, params: dict, album_id: str) -> dict:
        album = _find(self._index.albums, album_id)
        limit, offset = _limit(params, 20, 50), _offset(params)
        path = f"albums/{album_id}/tracks"
        return view.page(path, {}, album["tracks"], limit, offset, view.track_simple)

    def _track(self, view: _View, params: dict, track_id: str) -> dict:
        return view.track(_find(self._index.tracks, track_id))

    def _several(self, view: _View, params: dict, kind: str) -> dict:
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not ids:
            raise ApiError(400, "invalid id")
        if len(ids) > 50:
            raise ApiError(400, "Too many ids requested")
        table, render = {
            "artists": (self._index.artists, view.artist),
            "albums": (self._index.albums, view.album),
            "tracks": (self._index.tracks, view.track),
        }[kind]
        for item_id in ids:
            if not ID_RE.fullmatch(item_id):
                raise ApiError(400, "Invalid base62 id")
        return {kind: [render(table[i]) if i in table else None for i in ids]}

    def _browse(self, view: _View, params: dict, what: str) -> dict:
        if what != "new-releases":
            raise ApiError(404, "Service not found")
        albums = sorted(self._index.albums.values(), key=lambda a: a["release_date"], reverse=True)
        limit, offset = _limit(params, 20, 50), _offset(params)
        page = view.page("browse/new-releases", {}, albums, limit, offset, view.album_simple)
        return {"albums": page}

    def _markets(self, view: _View, params: dict) -> dict:
        return {"markets": MARKETS}


def _find(table: dict, item_id: str) -> dict:
    if not ID_RE.fullmatch(item_id):
        raise ApiError(400, "Invalid base62 id")
    if item_id not in table:
        raise ApiError(404, "Resource not found")
    return table[item_id]


def _limit(params: dict, default: int, maximum: int) -> int:
    try:
        limit = int(params.get("limit", default))
    except ValueError:
        raise ApiError(400, "Invalid limit") from None
    if not 1 <= limit <= maximum:
        raise ApiError(400, "Invalid limit")
    return limit


def _offset(params: dict) -> int:
    try:
        offset = int(params.get("offset", 0))
    except ValueError:
        raise ApiError(400, "Invalid offset") from None
    if offset < 0:
        raise ApiError(400, "Invalid offset")
    return offset


def _grouped(view: _View, album: dict, group: str) -> dict:
    return view.album_simple(album) | {"album_group": group}


def _error(status: int, message: str, reason: str | None = None) -> dict:
    error = {"status": status, "message": message}
    if reason is not None:
        error["reason"] = reason
    return {"error": error}


def _json(status: int, body: dict, extra: dict | None = None) -> tuple[int, bytes, dict]:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return status, payload, {"Content-Type": JSON_TYPE, **(extra or {})}


def _svg(name: str, label: str) -> str:
    """A coloured square with the label's initials; the colour comes from the name."""
    words = re.findall(r"\w+", label)
    initials = (words[0][:2] if len(words) == 1 else words[0][0] + words[1][0]) if words else "?"
    hue = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="640" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" fill="hsl({hue},55%,45%)"/>'
        '<text x="32" y="32" dy=".35em" text-anchor="middle" font-family="sans-serif"'
        f' font-size="24" fill="#fff">{initials.upper()}</text></svg>'
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: SpotifyStub):
        self.stub = stub
        self.connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up or reset is part of the game here, not a stub failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        stub = self.server.stub
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        call = stub._record(self.command, url.path, params)
        delay, fault = stub._take_faults(url.path)
        time.sleep(stub.latency_ms / 1000 + delay)
        if fault and fault.kind == "reset":
            self._reset()
            return
        status, payload, headers = stub._respond(
            self.command, url.path, params, self.headers, body, fault
        )
        call["status"] = status
        self._send(status, payload, headers)

    do_POST = do_PUT = do_DELETE = do_GET

    def _send(self, status: int, payload: bytes, headers: dict) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client stopped waiting (a hang fault); nobody left to answer
            self.close_connection = True

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client sees a connection reset, not a clean close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket only really closes once its file objects are gone
        self.connection.close()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass  # the per-request stderr lines would drown test output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Spotify-compatible demo stub.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--mode", choices=MODES, default="development-2026")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--client-id", default="demo-client-id")
    parser.add_argument("--client-secret", default="demo-client-secret")
    args = parser.parse_args(argv)
    stub = SpotifyStub(
        mode=args.mode,
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        latency_ms=args.latency_ms,
    ).start()
    print(
        f"Spotify stub ({stub.mode}) on {stub.url}: API {stub.api_url}, token {stub.token_url},"
        f" client id {stub.client_id}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
