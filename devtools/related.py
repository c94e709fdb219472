"""`make related NAME=아이유`: the ranked related artists the store gives NAME, with each
source's contribution, from a machine that reaches the MySQL named by MYSQL_*.

It shows what the store alone says: Spotify's own list, where the app still has it, joins in
answers only. NAME may be misspelled, as users type it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import lambda_function


def main(argv: list[str] | None = None, skill: ModuleType = lambda_function) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m devtools.related NAME", file=sys.stderr)
        return 2
    skill.configure_logging(os.environ.get("LOG_LEVEL", "INFO").strip().upper())
    settings = skill.Settings.from_env(skill.environment_with_secret(dict(os.environ)))
    if not settings.mysql_host:
        print("Set MYSQL_HOST (and MYSQL_*) to read the store.", file=sys.stderr)
        return 2
    return print_related(skill, skill.ArtistStore(settings), args[0])


def print_related(skill: ModuleType, store, name: str) -> int:
    trace, key = skill.Trace(), skill.name_key(name)
    found = key and (store.find_alias(key, trace, None) or store.find_near_alias(key, trace, None))
    if not found:
        print(f"{name!r}: no artist of that name in the store", file=sys.stderr)
        return 1
    knowledge = store.knowledge_of_row(found.row_id, trace)
    if knowledge is None:
        return 2  # the log line says why
    print(f"{found.name} (spotify id {found.spotify_id or 'not yet learned'})")
    print("tags: " + (" ".join(knowledge.tags) or "none"))
    own = {"id": found.spotify_id, "name": found.name}
    print_table(skill, skill.combine_related(own, knowledge.related))
    return 0


def print_table(skill: ModuleType, ranked: list[dict]) -> None:
    sources = list(skill.RELATION_WEIGHTS)
    columns = [source.removeprefix("same_").removeprefix("similar_") for source in sources]
    print(f"{'#':>3}  {'artist':<24}{'score':>7}" + "".join(f"{c:>10}" for c in columns))
    for rank, entry in enumerate(ranked, 1):
        found = entry["sources"]
        cells = "".join(f"{found[s]:>10.2f}" if s in found else f"{'·':>10}" for s in sources)
        print(f"{rank:>3}  {skill.clip(entry['name'], 23):<24}{entry['score']:>7.2f}{cells}")
    if not ranked:
        print("no related artists yet: add tags, or let users ask")


if __name__ == "__main__":
    sys.exit(main())
