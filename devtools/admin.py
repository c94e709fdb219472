"""Operator commands from a machine that reaches the MySQL / DynamoDB named by MYSQL_* and
DYNAMODB_TABLE (`make init-db`, `make load-artists`, `make export-entity`):

    python -m devtools.admin init-db               the MySQL schema and the DynamoDB table
    python -m devtools.admin load-artists FILE.csv curated artists (running it twice is harmless)
    python -m devtools.admin export-entity FILE    every artist name as an OpenBuilder entity

Inside AWS, where the database is private, the function does the first two itself:
`{"operator": "init-db"}` and `{"operator": "load-artists"}` (docs/operations.md).
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3

import lambda_function


def main(argv: list[str] | None = None, skill: ModuleType = lambda_function) -> int:
    args = sys.argv[1:] if argv is None else argv
    skill.configure_logging(os.environ.get("LOG_LEVEL", "INFO").strip().upper())
    name, *rest = args or [""]
    arity, command = COMMANDS.get(name, (-1, None))
    if command is None or len(rest) != arity:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = skill.read_settings()
    except skill.SecretUnavailable as unread:
        print(f"Cannot read the secret named by {unread}: see the log line above.", file=sys.stderr)
        return 2
    return command(skill, settings, *rest)


def init_db(skill: ModuleType, settings: Any) -> int:
    if not settings.mysql_host and not settings.dynamodb_table:
        print("Nothing to do: set MYSQL_HOST and/or DYNAMODB_TABLE.", file=sys.stderr)
        return 2
    if settings.mysql_host:
        skill.ArtistStore(settings).create_schema()
        where = f"{settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}"
        print(f"MySQL: schema ready in {where}")
    if settings.dynamodb_table:
        outcome = create_cache_table(settings.dynamodb_table)
        print(f"DynamoDB: table {settings.dynamodb_table} {outcome}, TTL on expires_at")
    return 0


def load_artists(skill: ModuleType, settings: Any, path: str) -> int:
    if not settings.mysql_host:
        print("Set MYSQL_HOST (and MYSQL_*) to load artists.", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows, rejected = skill.read_curated_csv(handle)
    store = skill.ArtistStore(settings)
    counts = store.load_artists(rows)
    store.close()
    print(f"loaded {len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for reason in rejected:
        print(f"rejected {reason}")
    return 1 if rejected else 0


def export_entity(skill: ModuleType, settings: Any, path: str) -> int:
    """Every artist name the bot knows (the curated file, and the store's names when MYSQL_*
    is set) as an entity for OpenBuilder's "나의 엔티티" upload: a row per artist, its Korean
    name as 대표어 and its other names as 동의어."""
    entities = artist_entities(skill, settings)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["대표어", "동의어"])
        for head, synonyms in sorted(entities.items()):
            writer.writerow([head, ", ".join(sorted(synonyms - {head}))])
    print(f"{path}: {len(entities)} artists, {sum(map(len, entities.values()))} names")
    return 0


def artist_entities(skill: ModuleType, settings: Any) -> dict[str, set[str]]:
    """Artist name -> every name it is known by, the Korean one first in line as the head."""
    names: dict[str, set[str]] = {}
    for row in skill.read_curated_file():
        names.setdefault(row.name, set()).update((row.name, *row.aliases))
    if settings.mysql_host:
        store = skill.ArtistStore(settings)
        for alias, name in store.all_aliases(skill.Trace(), None) or []:
            names.setdefault(name, {name}).add(alias)
        store.close()
    heads = {
        name: next((n for n in sorted(known) if skill.has_hangul(n)), name)
        for name, known in names.items()
    }
    return {heads[name]: known for name, known in names.items()}


def create_cache_table(table: str) -> str:
    """The cache table with its TTL setting, where it does not exist yet (the template makes
    it on AWS; this is for DynamoDB Local and hand-made set-ups)."""
    client = boto3.client("dynamodb")
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table)
        outcome = "created"
    except client.exceptions.ResourceInUseException:
        outcome = "exists"
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    return outcome


COMMANDS: dict[str, tuple[int, Callable[..., int]]] = {
    "init-db": (0, init_db),
    "load-artists": (1, load_artists),
    "export-entity": (1, export_entity),
}

if __name__ == "__main__":
    sys.exit(main())
