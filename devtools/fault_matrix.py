"""`make faults`: the fault matrix. Every Kakao request must get HTTP 200 and a valid 2.0 body
within the answer budget + 0.3 s, whatever breaks, and the store must hold no half-written
artist afterwards.

Faults: the Spotify-compatible stub's own (latency, 429 Retry-After 3600, 500, 502, reset,
truncated JSON, 401 expired token, 403 premium, hang), and a TCP fault proxy in front of the
real MariaDB and DynamoDB Local (stopped, connections cut between invocations, slow). Each
fault alone, and every pair of faults on two different services. Each cell runs in its own
Lambda-like container with its own stub, proxies, database and table, in worker processes:

    python -m devtools.fault_matrix [--workers N] [--budget-ms MS]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import itertools
import json
import multiprocessing
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator

import boto3
import pymysql

from devtools.admin import create_cache_table
from devtools.containers import new_container, reset_store, sealed_extra
from devtools.fault_proxy import FaultProxy
from devtools.kakao_limits import validate_skill_response
from devtools.local_gateway import LambdaContext, kakao_request, proxy_event
from devtools.services import MySQLConfig, dynamodb_local, fresh_database, mysql_server
from devtools.spotify_stub import SpotifyStub

CLIENT_ID, CLIENT_SECRET = "faults-client-id", "faults-client-secret"
DEFAULT_BUDGET_MS = 1500
GRACE_S = 0.3  # what the issue allows past the budget: rendering, logging, returning
SLOW_S = 0.8  # per forwarded chunk when a service is "slow"


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    service: str  # spotify, mysql or dynamodb
    apply: Callable[[Rig], None]
    early: bool = False  # on before the warm-up request: a fault the bot would learn from


def _stub_fault(kind: str, **params) -> Callable[[Rig], None]:
    return lambda rig: rig.stub.add_fault(kind, **params)


def _token_down(rig: Rig) -> None:
    """The warm token runs out and the token endpoint answers an HTML error page."""
    rig.stub.add_fault("expired_token", count=1)
    rig.stub.add_fault("html", path_prefix="/api/token", status=503)


def _lost_as_429(rig: Rig) -> None:
    """Development mode answering the endpoints it took away with 429 instead of 403
    (michaelherger/Spotty-Plugin#213, #196): the bot never learns they are lost."""
    for endpoint in ("/top-tracks", "/related-artists"):
        rig.stub.add_fault(
            "status", path_prefix="/v1/artists/", path_suffix=endpoint, status=429, retry_after=11
        )


def _proxy_mode(service: str, mode: str) -> Callable[[Rig], None]:
    return lambda rig: setattr(rig.proxies[service], "mode", mode)


FAULTS = [
    Fault("spotify latency 2 s", "spotify", _stub_fault("latency", ms=2000)),
    Fault(
        "spotify 429 Retry-After 3600",
        "spotify",
        _stub_fault("status", status=429, retry_after=3600, reason="QUOTA_EXCEEDED"),
    ),
    Fault("spotify 500", "spotify", _stub_fault("status", status=500)),
    Fault("spotify 502", "spotify", _stub_fault("status", status=502)),
    Fault("spotify connection reset", "spotify", _stub_fault("reset")),
    Fault("spotify truncated JSON", "spotify", _stub_fault("truncated")),
    Fault("spotify 401 expired token", "spotify", _stub_fault("expired_token", count=1)),
    Fault(
        "spotify 403 premium required", "spotify", _stub_fault("status", status=403, premium=True)
    ),
    Fault("spotify hangs", "spotify", _stub_fault("hang", seconds=10)),
    Fault("spotify token endpoint 503 (HTML)", "spotify", _token_down),
    Fault("spotify lost endpoints answer 429", "spotify", _lost_as_429, early=True),
    Fault("mysql stopped", "mysql", _proxy_mode("mysql", "down")),
    Fault("mysql connection killed", "mysql", _proxy_mode("mysql", "cut")),
    Fault("mysql slow", "mysql", _proxy_mode("mysql", "slow")),
    Fault("dynamodb stopped", "dynamodb", _proxy_mode("dynamodb", "down")),
    Fault("dynamodb slow", "dynamodb", _proxy_mode("dynamodb", "slow")),
]


def cells() -> list[tuple[str, ...]]:
    """Each fault alone, then each pair of faults on two different services."""
    single = [(fault.name,) for fault in FAULTS]
    pairs = [
        (a.name, b.name) for a, b in itertools.combinations(FAULTS, 2) if a.service != b.service
    ]
    return single + pairs


@dataclasses.dataclass
class Answer:
    label: str
    status: int
    valid: bool
    elapsed_ms: float
    problems: list[str]
    shows: str = ""  # "card" when an artist card came back, else "text"


@dataclasses.dataclass
class CellResult:
    faults: tuple[str, ...]
    budget_ms: int
    answers: list[Answer]
    store_problems: list[str]

    @property
    def all_valid(self) -> bool:
        return all(a.status == 200 and a.valid for a in self.answers)

    @property
    def max_ms(self) -> float:
        return max(a.elapsed_ms for a in self.answers)

    @property
    def in_time(self) -> bool:
        return self.max_ms <= self.budget_ms + GRACE_S * 1000

    @property
    def ok(self) -> bool:
        return self.all_valid and self.in_time and not self.store_problems


class Rig:
    """One worker's real servers: its own stub, proxies, database and table."""

    def __init__(self, server: MySQLConfig, dynamodb_endpoint: str, budget_ms: int):
        self._stack = contextlib.ExitStack()
        self.mysql = self._stack.enter_context(fresh_database(server, "kakao_music_faults"))
        self.stub = self._stack.enter_context(
            SpotifyStub(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, realistic=True)
        )
        host, port = dynamodb_endpoint.removeprefix("http://").split(":")
        self.proxies = {
            "mysql": self._stack.enter_context(
                FaultProxy(self.mysql.host, self.mysql.port, SLOW_S)
            ),
            "dynamodb": self._stack.enter_context(FaultProxy(host, int(port), SLOW_S)),
        }
        self.dynamodb_endpoint = dynamodb_endpoint
        self.table = f"kakao-music-faults-{os.getpid()}-{secrets.token_hex(3)}"
        self.budget_ms = budget_ms
        os.environ.update(
            {
                "SPOTIFY_CLIENT_ID": CLIENT_ID,
                "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
                "SPOTIFY_API_URL": self.stub.api_url,
                "SPOTIFY_TOKEN_URL": self.stub.token_url,
                **self.mysql.env(),
                "MYSQL_HOST": "127.0.0.1",
                "MYSQL_PORT": str(self.proxies["mysql"].port),
                "DYNAMODB_TABLE": self.table,
                "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{self.proxies['dynamodb'].port}",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": "ap-northeast-2",
                "ANSWER_BUDGET_MS": str(budget_ms),
                "LOG_LEVEL": "CRITICAL",
                # Every request here comes from one user id: the per-minute budgets are not
                # what is measured (tests/integration/test_trust.py tests them).
                "USER_REQUESTS_PER_MINUTE": "1000000",
                "SPOTIFY_REQUESTS_PER_MINUTE": "1000000",
            }
        )
        for name in ("SKILL_API_KEY", "SECRET_ARN", "SECRET_PARAMETER", "AWS_PROFILE"):
            os.environ.pop(name, None)
        skill = new_container()
        settings = skill.Settings.from_env()
        skill.ArtistStore(settings).create_schema()
        create_cache_table(self.table)

    def close(self) -> None:
        self._stack.close()

    def reset(self) -> None:
        """No faults, the starter data only, an empty cache table."""
        self.stub.clear_faults()
        for proxy in self.proxies.values():
            proxy.mode = "pass"
        skill = new_container()
        with self.mysql_connection() as conn:
            reset_store(skill, skill.Settings.from_env(), conn)
        client = boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint)
        for page in client.get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                client.delete_item(TableName=self.table, Key={"pk": item["pk"]})

    def mysql_connection(self) -> pymysql.Connection:
        """Straight to MariaDB, around the proxy."""
        m = self.mysql
        return pymysql.connect(
            host=m.host, port=m.port, user=m.user, password=m.password, database=m.database,
            charset="utf8mb4", autocommit=True,
        )  # fmt: skip

    def store_problems(self) -> list[str]:
        """What a half-written artist would leave behind."""
        checks = {
            "aliases without their artist": "SELECT COUNT(*) FROM aliases al"
            " LEFT JOIN artists a ON a.id = al.artist_id WHERE a.id IS NULL",
            "artists with neither an alias nor a relation": "SELECT COUNT(*) FROM artists a"
            " WHERE NOT EXISTS (SELECT 1 FROM aliases al WHERE al.artist_id = a.id)"
            " AND NOT EXISTS (SELECT 1 FROM related_artists r WHERE r.related_id = a.id)",
            "co-credits stored one way only": "SELECT COUNT(*) FROM related_artists r"
            " WHERE r.source = 'cocredit' AND NOT EXISTS (SELECT 1 FROM related_artists b"
            " WHERE b.artist_id = r.related_id AND b.related_id = r.artist_id"
            " AND b.source = 'cocredit')",
            "artists sharing a Spotify id": "SELECT COUNT(*) - COUNT(DISTINCT spotify_id)"
            " FROM artists WHERE spotify_id IS NOT NULL",
        }
        problems = []
        with self.mysql_connection() as conn, conn.cursor() as cursor:
            for name, sql in checks.items():
                cursor.execute(sql)
                count = cursor.fetchone()[0]
                if count:
                    problems.append(f"{count} {name}")
        return problems


def ask(container, label: str, utterance: str, extra: dict | None, budget_ms: int) -> Answer:
    event = proxy_event(
        json.dumps(kakao_request(utterance, extra), ensure_ascii=False),
        {"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        response = container.lambda_handler(event, LambdaContext(timeout_ms=6000))
    except Exception as error:  # the matrix reports it; the handler must never raise
        return Answer(label, 0, False, (time.monotonic() - started) * 1000, [repr(error)])
    elapsed_ms = (time.monotonic() - started) * 1000
    problems: list[str] = []
    shows = "text"
    try:
        body = json.loads(response["body"])
        problems = validate_skill_response(body)
        if any("basicCard" in output for output in body["template"]["outputs"]):
            shows = "card"
    except (KeyError, TypeError, ValueError) as error:
        problems = problems or [f"body is not a Kakao answer: {error}"]
    status = response.get("statusCode", 0)
    return Answer(label, status, not problems, elapsed_ms, problems, shows)


def run_cell(rig: Rig, faults: tuple[str, ...]) -> CellResult:
    rig.reset()
    container = new_container()
    budget = rig.budget_ms
    twice = sealed_extra({"artist_id": rig.stub.artist_id("TWICE"), "artist_name": "TWICE"})
    chosen = [fault for fault in FAULTS if fault.name in faults]
    for fault in chosen:
        if fault.early:
            fault.apply(rig)
    ask(container, "warm-up", "아이유", None, budget)  # connections, token, a cached answer
    for fault in chosen:
        if not fault.early:
            fault.apply(rig)
    answers = [
        ask(container, "curated alias, first time", "뉴진스", None, budget),
        ask(container, "quick-reply tap", "TWICE", twice, budget),
        ask(container, "asked before the fault", "아이유", None, budget),
        ask(container, "unknown name", "쀍뛝퀣", None, budget),
    ]
    rig.stub.clear_faults()
    for proxy in rig.proxies.values():
        proxy.mode = "pass"
    store = container.skill_app().store
    if store is not None:  # its notes written now: checked here, never into the next reset
        store.close()
    return CellResult(faults, budget, answers, rig.store_problems())


# -- worker processes: one rig each, kept for all the cells the worker runs

_rig: Rig | None = None


def _start_worker(server: MySQLConfig, dynamodb_endpoint: str, budget_ms: int) -> None:
    global _rig
    _rig = Rig(server, dynamodb_endpoint, budget_ms)
    import atexit

    atexit.register(_rig.close)


def _run_in_worker(faults: tuple[str, ...]) -> CellResult:
    assert _rig is not None
    return run_cell(_rig, faults)


def run_matrix(
    server: MySQLConfig,
    dynamodb_endpoint: str,
    *,
    budget_ms: int = DEFAULT_BUDGET_MS,
    workers: int = 4,
    only: list[tuple[str, ...]] | None = None,
) -> Iterator[CellResult]:
    """Results in matrix order, computed by `workers` processes."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(server, dynamodb_endpoint, budget_ms),
    ) as pool:
        yield from pool.map(_run_in_worker, only or cells())


def table(results: list[CellResult]) -> str:
    rows = [("fault(s)", "answers valid", "within budget", "max ms", "store intact")]
    for r in results:
        valid = sum(a.status == 200 and a.valid for a in r.answers)
        timely = sum(a.elapsed_ms <= r.budget_ms + GRACE_S * 1000 for a in r.answers)
        rows.append(
            (
                " + ".join(r.faults),
                f"{valid}/{len(r.answers)}",
                f"{timely}/{len(r.answers)}",
                f"{r.max_ms:.0f}",
                "yes" if not r.store_problems else "; ".join(r.store_problems),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget-ms", type=int, default=DEFAULT_BUDGET_MS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with mysql_server("kakao_music_faults") as server, dynamodb_local() as endpoint:
        results = list(run_matrix(server, endpoint, budget_ms=args.budget_ms, workers=args.workers))
    print(table(results))
    failed = [r for r in results if not r.ok]
    slowest = max(results, key=lambda r: r.max_ms)
    print(
        f"\n{len(results)} cells, {sum(len(r.answers) for r in results)} answers, budget "
        f"{args.budget_ms} ms (+{GRACE_S * 1000:.0f} ms allowed); slowest "
        f"{slowest.max_ms:.0f} ms ({' + '.join(slowest.faults)}); {len(failed)} cells failed; "
        f"{time.monotonic() - started:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
