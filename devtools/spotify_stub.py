"""A Spotify Web API look-alike on loopback, for tests and `make run` without real credentials.

It serves the demo catalog (devtools/catalog.json) with the client-credentials token flow and
the JSON shapes, limits and errors of the real API in its two app modes of 2026: "extended"
(the full API) and "development-2026" (search limit 10, no top tracks, related artists or
several-ids look-ups, artists without followers/popularity/genres). Faults (429, resets,
truncated bodies, expired tokens, slowness, HTML and plain-text error pages) can be switched on
per path prefix.

`realistic=True` (or `--realistic`, or `stub.behaviours = {...}` for some of them) adds the
unkind parts of the real API, each with its source next to its code: the real texts of 404/400
for unknown and malformed ids, artists taken down (`take_down`), same-name artists
(`add_namesake`), tracks unplayable in a market (`restrict`: which real tracks cannot play
where is not known here, so only those a test names), null search items, duplicate and live
versions, the 100-character query limit and 429 for endpoints a development-mode app lost.

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
from collections.abc import Callable
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
    "html": (set(), {"status"}),
    "plain_text": (set(), {"status", "text"}),
}
DEFAULT_MESSAGES = {429: "API rate limit exceeded"}
PREMIUM_MESSAGE = "Active premium subscription required for the owner of the app."
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
# Realistic behaviours (SpotifyStub.behaviours); none is on by default.
BEHAVIOURS = frozenset(
    {
        "not_found",  # real 404/400 texts for unknown and malformed ids
        "taken_down",  # artists passed to take_down() are gone
        "namesakes",  # artists added with add_namesake() exist
        "unplayable",  # is_playable/restrictions when a market is given
        "null_items",  # tracks unplayable in the market are null in search results
        "versions",  # catalog albums marked "realistic": "versions"
        "query_length",  # q over 100 characters is a 400
        "removed_429",  # 429, not 403, for the browse endpoints development mode lost
    }
)
CATALOG_BEHAVIOURS = frozenset({"versions"})
# GET /v1/artists/{id} for an id Spotify does not serve: 404 "non existing id"; spotipy-dev/
# spotipy#552 (artists and shows), full body and JSON type in AlenVelocity/spotifydl-core#6.
NOT_FOUND = "non existing id"
# A malformed id: {"error":{"status":400,"message":"invalid id"}}, spotify/web-api#1476.
INVALID_ID = "invalid id"
# q longer than 100 characters fails (spotipy-dev/spotipy#845; beets limits its queries to 100
# for it, beetbox/beets#5106); the 2024 answer is 400 {"error":{"status":400,"message":"Bad
# request."}} (beetbox/beets#5105; Yooooomi/your_spotify#345 saw the 400 too). In 2022 #845 got
# 404 "Not found." instead.
MAX_QUERY = 100
QUERY_TOO_LONG = "Bad request."


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


def key_of(artist: dict) -> str:
    """The catalog's handle for an artist: its name, unless a namesake needs another."""
    return artist.get("key", artist["name"])


def digits(key: str, count: int) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest(), 16))[-count:]


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Catalog:
    """The catalog file with ids filled in, and the indexes the endpoints need. Albums marked
    "realistic": NAME are left out unless NAME is in `include`; `extra` adds artists (namesakes).
    Artists are known by key_of(): tracks credit keys, objects show names."""

    def __init__(self, data: dict, include: frozenset = frozenset(), extra: tuple = ()):
        artists = [*data["artists"], *extra]
        self.by_name: dict[str, dict] = {}
        self.artists: dict[str, dict] = {}  # id -> artist, guests included
        self.albums: dict[str, dict] = {}
        self.tracks: dict[str, dict] = {}
        self.album_of: dict[str, dict] = {}  # track id -> album
        self.position: dict[str, int] = {}  # track id -> track number
        self.album_artists: dict[str, list[dict]] = {}
        self.credits: dict[str, list[dict]] = {}  # artist key -> tracks crediting it
        for artist in artists:
            self._add_artist(artist, spotify_id("artist", key_of(artist)))
        for artist in artists:
            for name in artist["related"]:
                if name not in self.by_name:
                    raise ValueError(f"{artist['name']}: related {name!r} is not in the catalog")
            for album in artist["albums"]:
                if album.get("realistic") in {None, *include}:
                    self._add_album(artist, album)

    def _add_artist(self, artist: dict, artist_id: str) -> None:
        artist["id"] = artist_id
        self._unique(self.artists, artist)
        self.by_name[key_of(artist)] = artist
        self.credits[key_of(artist)] = []

    def _add_album(self, owner: dict, album: dict) -> None:
        # Names repeat across artists ("Without Me"), so the owner is part of the key.
        owner_key = key_of(owner)
        album["id"] = spotify_id("album", f"{owner_key}/{album['name']}")
        self._unique(self.albums, album)
        for number, track in enumerate(album["tracks"], 1):
            track["id"] = spotify_id("track", f"{owner_key}/{album['name']}/{track['name']}")
            self._unique(self.tracks, track)
            self.album_of[track["id"]], self.position[track["id"]] = album, number
            for name in track["artists"]:
                if name not in self.by_name:
                    guest = {"name": name, **GUEST, "related": [], "albums": []}
                    self._add_artist(guest, spotify_id("artist", name))
                self.credits[name].append(track)
        # Album artists: the owner and whoever is credited on every track (a duet single).
        shared = [n for n in album["tracks"][0]["artists"] if n != owner_key]
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
            elif any(key_of(artist) in t["artists"] for t in album["tracks"]):
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
                shown = [self.by_name[key]["name"] for key in t["artists"]]
                # Plain words also find a track by its artists, as Spotify's search does.
                names = [t["name"]] if filtered else [t["name"], *shown]
                album = self.album_of[t["id"]]["name"]
                yield t, names, {"artist": shown, "album": [album], "track": [t["name"]]}

    def _popularity(self, kind: str, item: dict) -> int:
        return self.popularity(item) if kind == "album" else item["popularity"]


def _never(track_id: str, market: str) -> bool:
    return False


@dataclass(frozen=True)
class _Realism:
    """What the realistic behaviours need to know about one request."""

    behaviours: frozenset = frozenset()
    market: str | None = None
    hidden: frozenset = frozenset()  # ids of artists taken down
    restricted: Callable[[str, str], bool] = _never  # (track id, market) -> unplayable there

    def on(self, name: str) -> bool:
        return name in self.behaviours

    def unplayable(self, track: dict) -> bool:
        return bool(self.market) and self.restricted(track["id"], self.market)


class _View:
    """Spotify's object shapes as one request sees them: its host, the app mode, the catalog
    and realistic behaviours in force."""

    def __init__(self, catalog: Catalog, base: str, extended: bool, realism: _Realism):
        self.catalog, self.base, self.extended = catalog, base, extended
        self.realism = realism
        self.api = base + "/v1/"

    def find(self, table: dict, item_id: str) -> dict:
        real = self.realism.on("not_found")
        if not ID_RE.fullmatch(item_id):
            raise ApiError(400, INVALID_ID if real else "Invalid base62 id")
        if item_id in self.realism.hidden:
            # An artist taken down is an id Spotify no longer serves: the answer for an unknown
            # id (NOT_FOUND above). No capture of a take-down itself was found.
            raise ApiError(404, NOT_FOUND)
        if item_id not in table:
            raise ApiError(404, NOT_FOUND if real else "Resource not found")
        return table[item_id]

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
        # A profile without a picture has "images": [] (spotify-web-api-java/spotify-web-api-java
        # #240: an artist from search with no images broke images[0]).
        images = [] if artist.get("no_images") else self._images(artist["id"], (640, 320, 160))
        obj = self.artist_simple(artist) | {"images": images}
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
            "artists": [self.artist_simple(self.catalog.by_name[k]) for k in track["artists"]],
            "disc_number": 1,
            "duration_ms": track["duration_ms"],
            "explicit": track.get("explicit", False),
            **self._common("track", track["id"]),
            "is_local": False,
            **self._playability(track),
            "name": track["name"],
            "preview_url": None,
            "track_number": self.catalog.position[track["id"]],
        }
        if self.extended:
            obj["available_markets"] = self._markets(track)
        return obj

    def _playability(self, track: dict) -> dict:
        if not self.realism.on("unplayable"):
            return {"is_playable": True}
        # is_playable is "part of the response when Track Relinking is applied", i.e. when a
        # market is given (TrackObject.is_playable in sonallux/spotify-web-api
        # fixed-spotify-open-api.yml). A track with no instance playable there keeps its
        # metadata, is_playable false and "restrictions": {"reason": "market"}
        # (developer.spotify.com/documentation/web-api/concepts/track-relinking;
        # TrackRestrictionObject in the same OpenAPI file).
        if not self.realism.market:
            return {}
        if self.realism.unplayable(track):
            return {"is_playable": False, "restrictions": {"reason": "market"}}
        return {"is_playable": True}

    def _markets(self, track: dict) -> list[str]:
        if not self.realism.on("unplayable"):
            return MARKETS
        return [m for m in MARKETS if not self.realism.restricted(track["id"], m)]

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
    path_suffix: str = ""


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
        realistic: bool = False,
    ):
        self.mode = mode
        self.host, self.port = host, port
        self.client_id, self.client_secret = client_id, client_secret
        self.latency_ms = latency_ms
        with open(catalog_path or CATALOG_PATH, encoding="utf-8") as handle:
            self.catalog = json.load(handle)
        self._index = Catalog(self.catalog)
        self._indexes = {(frozenset(), 0): self._index}  # (catalog behaviours, namesakes) -> index
        self.behaviours = BEHAVIOURS if realistic else frozenset()
        self._taken_down: set[str] = set()  # artist keys
        self._namesakes: list[dict] = []
        self._restricted: dict[str, set[str]] = {}  # track id -> markets it is unplayable in
        self._generation = 1  # of the namesakes, for the catalog cache
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
    def behaviours(self) -> frozenset:
        return self._behaviours

    @behaviours.setter
    def behaviours(self, value) -> None:
        value = frozenset(value)
        if not value <= BEHAVIOURS:
            raise ValueError(
                f"unknown behaviours {sorted(value - BEHAVIOURS)}; of {sorted(BEHAVIOURS)}"
            )
        self._behaviours = value

    @property
    def realistic(self) -> bool:
        """True when every realistic behaviour is on; setting it turns all on or off."""
        return self._behaviours == BEHAVIOURS

    @realistic.setter
    def realistic(self, value: bool) -> None:
        self.behaviours = BEHAVIOURS if value else frozenset()

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

    # -- realistic data: what the behaviours of the same names act on ----------------------

    def take_down(self, name: str) -> None:
        """The catalog artist `name` is gone (with the "taken_down" behaviour on)."""
        if name not in self._index.by_name:
            raise KeyError(name)
        with self._lock:
            self._taken_down.add(name)

    def add_namesake(self, name: str, tracks: list[str], popularity: int = 5) -> str:
        """Another artist called `name` (with the "namesakes" behaviour on): a profile without
        a picture and few followers, with one single holding `tracks`. Returns its id. The data
        is the caller's, not the catalog's."""
        with self._lock:
            key = f"{name}#{len(self._namesakes) + 2}"
            credits = [key]
            album = {"name": tracks[0], "release_date": "2021-01-01", "album_type": "single"}
            album["tracks"] = [
                {"name": t, "artists": credits, "duration_ms": 180_000, "popularity": popularity}
                for t in tracks
            ]
            artist = {"name": name, "key": key, "no_images": True, "search_aliases": []}
            artist |= {"genres": [], "popularity": popularity, "followers": 40, "related": []}
            self._namesakes.append(artist | {"albums": [album]})
            self._generation += 1
        return spotify_id("artist", key)

    def restrict(self, track_name: str, *markets: str) -> None:
        """Tracks called `track_name` are unplayable in `markets` ("unplayable", "null_items")."""
        tracks = self._catalog_for(CATALOG_BEHAVIOURS).tracks.values()
        ids = [t["id"] for t in tracks if t["name"] == track_name]
        if not ids:
            raise KeyError(track_name)
        with self._lock:
            for track_id in ids:
                self._restricted.setdefault(track_id, set()).update(markets)

    def unplayable(self, track_id: str, market: str) -> bool:
        """Restricted by restrict(): which real tracks cannot play where is not known here, so
        none is unplayable unless a test says so."""
        return market in self._restricted.get(track_id, ())

    def reset_realism(self) -> None:
        """All behaviours off; take-downs, namesakes and restrictions forgotten."""
        with self._lock:
            self._behaviours = frozenset()
            self._taken_down.clear()
            self._namesakes.clear()
            self._restricted.clear()
            self._generation += 1

    def _catalog_for(self, behaviours: frozenset) -> Catalog:
        include = behaviours & CATALOG_BEHAVIOURS
        extra = tuple(self._namesakes) if "namesakes" in behaviours else ()
        with self._lock:
            key = (include, self._generation if extra else 0)
            if key not in self._indexes:
                self._indexes[key] = Catalog(self.catalog, include, extra)
            return self._indexes[key]

    def _realism(self, behaviours: frozenset, params: dict, index: Catalog) -> _Realism:
        hidden = set()
        if "taken_down" in behaviours:
            hidden = {index.by_name[name]["id"] for name in list(self._taken_down)}
        return _Realism(behaviours, params.get("market"), frozenset(hidden), self.unplayable)

    def add_fault(
        self,
        kind: str,
        path_prefix: str = "/v1/",
        count: int | None = None,
        path_suffix: str = "",
        **params,
    ):
        """Misbehave on requests whose path starts with path_prefix (and ends with
        path_suffix: "/top-tracks" of any artist), `count` times (None: until cleared).
        Delays (latency, hang) add up; of the faults that change the answer, the first added
        that matches is used, and only it counts that request."""
        if kind not in FAULT_PARAMS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_PARAMS)}")
        required, optional = FAULT_PARAMS[kind]
        if not required <= params.keys() <= required | optional:
            raise TypeError(f"fault {kind!r} takes {sorted(required)} and maybe {sorted(optional)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None")
        with self._lock:
            self._faults.append(_Fault(kind, path_prefix, count, params, path_suffix))

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
                if not (path.startswith(fault.path_prefix) and path.endswith(fault.path_suffix)):
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
        if fault and fault.kind in ("status", "html", "plain_text"):
            return getattr(self, f"_fault_{fault.kind}")(**fault.params)
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

    @staticmethod
    def _fault_html(status=503):
        # accounts.spotify.com/api/token answering 503 with "an error page that is not valid
        # JSON / OAuth response" (spotify/web-api#1151); api.spotify.com also sent a text/html
        # error page (a 400, ramsayleung/rspotify#7). The page text here is the stub's own.
        phrase = HTTPStatus(status).phrase
        page = f"<html><head><title>{status} {phrase}</title></head><body>{phrase}</body></html>"
        return status, page.encode(), {"Content-Type": HTML_TYPE}

    @staticmethod
    def _fault_plain_text(status=403, text="User not approved for app"):
        # A bare string body instead of the JSON error object: b"User not approved for app"
        # on a 403 (spotipy-dev/spotipy#688, answered by spotipy#689's text fallback). The
        # capture does not give its Content-Type; text/plain is the stub's guess.
        return status, text.encode(), {"Content-Type": TEXT_TYPE}

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
                            self._refuse(path)
                        view = self._view(headers, params)
                        return _json(200, getattr(self, name)(view, params, *match.groups()))
            raise ApiError(404, "Service not found")
        except ApiError as error:
            return _json(error.status, _error(error.status, error.message), error.headers)

    def _refuse(self, path: str) -> None:
        """An endpoint this development-mode app may not use."""
        if "removed_429" in self.behaviours and path.startswith("/v1/browse/"):
            # browse/new-releases (2026) and browse/featured-playlists (2025) answered 429 with
            # Retry-After 11 and 35 s from the first request: "just another way of theirs to
            # say 'this endpoint is no longer available to you'" (michaelherger/Spotty-Plugin
            # #213, #196). The captures log no body: this is the stub's usual 429 body.
            raise ApiError(429, DEFAULT_MESSAGES[429], {"Retry-After": "11"})
        raise ApiError(403, "Forbidden")

    def _view(self, headers, params: dict) -> _View:
        behaviours = self.behaviours
        index = self._catalog_for(behaviours)
        host = headers.get("Host") or f"{self.host}:{self.port}"
        realism = self._realism(behaviours, params, index)
        return _View(index, f"http://{host}", self._extended, realism)

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
        if view.realism.on("query_length") and len(q) > MAX_QUERY:
            raise ApiError(400, QUERY_TOO_LONG)
        types = [t for t in params.get("type", "").split(",") if t]
        if not types:
            raise ApiError(400, "Missing parameter type")
        for kind in types:
            if kind not in SEARCH_TYPES:
                raise ApiError(400, f"Bad search type field {kind}")
        limit = _limit(params, 20 if self._extended else 5, 50 if self._extended else 10)
        offset = _offset(params)
        pages = {}
        for kind in types:
            items, render = _found(view, q, kind)
            query = {"query": q, "type": kind}
            pages[kind + "s"] = view.page("search", query, items, limit, offset, render)
        return pages

    def _artist(self, view: _View, params: dict, artist_id: str) -> dict:
        return view.artist(view.find(view.catalog.artists, artist_id))

    def _artist_albums(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = view.find(view.catalog.artists, artist_id)
        maximum = 50 if self._extended else 10
        # The default is 20, but never above the cap: a bare request should not be a 400.
        limit, offset = _limit(params, min(20, maximum), maximum), _offset(params)
        groups = params.get("include_groups") or "album,single,appears_on,compilation"
        wanted = groups.split(",")
        pairs = [p for p in view.catalog.artist_albums(artist) if p[1] in wanted]
        query = {"include_groups": groups}
        path = f"artists/{artist_id}/albums"
        return view.page(path, query, pairs, limit, offset, lambda p: _grouped(view, *p))

    def _top_tracks(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = view.find(view.catalog.artists, artist_id)
        # With "versions" on, a song out as a single and on an album counts twice: "Duplicate
        # tracks (e.g. the same track from a single and an album) are rated independently"
        # (TrackObject.popularity, sonallux/spotify-web-api fixed-spotify-open-api.yml).
        credits = view.catalog.credits[key_of(artist)]
        tracks = sorted(credits, key=lambda t: -t["popularity"])
        return {"tracks": [view.track(t) for t in tracks[:10]]}

    def _related_artists(self, view: _View, params: dict, artist_id: str) -> dict:
        artist = view.find(view.catalog.artists, artist_id)
        related = [view.catalog.by_name[n] for n in artist["related"]]
        return {"artists": [view.artist(a) for a in related if a["id"] not in view.realism.hidden]}

    def _album(self, view: _View, params: dict, album_id: str) -> dict:
        return view.album(view.find(view.catalog.albums, album_id))

    def _album_tracks(self, view: _View, params: dict, album_id: str) -> dict:
        album = view.find(view.catalog.albums, album_id)
        limit, offset = _limit(params, 20, 50), _offset(params)
        path = f"albums/{album_id}/tracks"
        return view.page(path, {}, album["tracks"], limit, offset, view.track_simple)

    def _track(self, view: _View, params: dict, track_id: str) -> dict:
        return view.track(view.find(view.catalog.tracks, track_id))

    def _several(self, view: _View, params: dict, kind: str) -> dict:
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not ids:
            raise ApiError(400, "invalid id")
        if len(ids) > 50:
            raise ApiError(400, "Too many ids requested")
        table, render = {
            "artists": (view.catalog.artists, view.artist),
            "albums": (view.catalog.albums, view.album),
            "tracks": (view.catalog.tracks, view.track),
        }[kind]
        for item_id in ids:
            if not ID_RE.fullmatch(item_id):
                raise ApiError(400, "Invalid base62 id")
        hidden = view.realism.hidden
        return {kind: [render(table[i]) if i in table and i not in hidden else None for i in ids]}

    def _browse(self, view: _View, params: dict, what: str) -> dict:
        if what != "new-releases":
            raise ApiError(404, "Service not found")
        albums = view.catalog.albums.values()
        albums = sorted(albums, key=lambda a: a["release_date"], reverse=True)
        limit, offset = _limit(params, 20, 50), _offset(params)
        page = view.page("browse/new-releases", {}, albums, limit, offset, view.album_simple)
        return {"albums": page}

    def _markets(self, view: _View, params: dict) -> dict:
        return {"markets": MARKETS}


def _found(view: _View, q: str, kind: str) -> tuple[list, Callable]:
    """A search's results of one kind, and how each is shown."""
    if kind not in ("artist", "album", "track"):
        return [], None
    items = view.catalog.search(q, kind)
    if kind == "artist":
        # Same-name artists come as Spotify orders them: by relevance, then the more popular
        # first (Catalog.search). K-pop alone has "YENA (Choi Yena), Yena (Yang Yena), Yena
        # (Jeong Yena)" and Spotify matching must tell them apart (Brainicism/KMQ_Discord#1587).
        return [a for a in items if a["id"] not in view.realism.hidden], view.artist
    if kind == "album":
        return items, view.album_simple
    if view.realism.on("null_items"):
        # "The Spotify web API does return arrays with null objects in them. Often the reason
        # is because the content is not available in the specified market" (spotipy-dev/
        # spotipy#626, a track search); nulls in search items also in spotify/
        # spotify-web-api-ts-sdk#141 and fondberg/spotcast#616. total still counts them.
        return items, lambda t: None if view.realism.unplayable(t) else view.track(t)
    return items, view.track


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
    parser.add_argument(
        "--realistic", action="store_true", help="turn on every realistic behaviour of the API"
    )
    args = parser.parse_args(argv)
    stub = SpotifyStub(
        mode=args.mode,
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        latency_ms=args.latency_ms,
        realistic=args.realistic,
    ).start()
    print(
        f"Spotify stub ({stub.mode}{', realistic' if stub.realistic else ''}) on {stub.url}:"
        f" API {stub.api_url}, token {stub.token_url}, client id {stub.client_id}",
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
