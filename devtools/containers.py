"""Lambda-like containers for tests and tools: lambda_function imported afresh, with nothing in
memory, as a new container would be; and containers in separate processes, started together."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
_counter = itertools.count()


def new_container() -> ModuleType:
    """lambda_function imported afresh: a new Lambda container with nothing in memory."""
    name = f"lambda_function_container_{os.getpid()}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, REPO / "lambda_function.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def sealed_extra(values: dict[str, str], user_id: str = "local-user") -> dict[str, str]:
    """A quick reply's `extra` as the skill signs it for this user, with the keys of the
    environment now set: a tap on a button the bot sent (see lambda_function.Seal)."""
    import lambda_function as skill

    keys = skill.Keys.from_settings(skill.Settings.from_env())
    user = skill.user_hash(user_id, keys.pepper)
    return skill.Seal(keys.extras, user, time.time()).close(values)


def close_containers() -> None:
    """Close the MySQL connections of every container made so far, so that hundreds of
    test containers in one process stay within the server's connection limit."""
    for name, module in list(sys.modules.items()):
        if name.startswith(f"lambda_function_container_{os.getpid()}_"):
            app = getattr(module, "_app", None)
            if app is not None and app.store is not None:
                app.store.close()


def answer_in_new_process(env: dict, event: dict, start, results) -> None:
    """Run in a child process: one container answering one event once all are ready.

    `start` is a multiprocessing Barrier, `results` a Queue; puts (status, body, ms, log).
    """
    import contextlib
    import io

    from devtools.local_gateway import LambdaContext

    os.environ.update(env)
    container = new_container()
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # before set-up: the log handler binds stdout then
        container.skill_app()  # settings and clients first: the race is on the look-up itself
        start.wait(timeout=30)
        started = time.monotonic()
        response = container.lambda_handler(event, LambdaContext())
        elapsed_ms = (time.monotonic() - started) * 1000
    results.put((response["statusCode"], json.loads(response["body"]), elapsed_ms, log.getvalue()))


def reset_store(skill: ModuleType, settings, conn) -> list[str]:
    """Empty the store's tables (through `conn`, a pymysql connection straight to MySQL) and
    load data/artists.csv again: the clean start of each test, fault-matrix cell and bench
    run. Returns the rows the file had to reject."""
    with conn.cursor() as cursor:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        tables = ("alias_votes", "co_asks", "recent_asks", "related_artists", "tags", "aliases")
        for table in (*tables, "artists"):
            cursor.execute(f"TRUNCATE TABLE {table}")
        cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
    with open(REPO / "data" / "artists.csv", encoding="utf-8", newline="") as handle:
        rows, rejected = skill.read_curated_csv(handle)
    skill.ArtistStore(settings).load_artists(rows)
    return rejected
