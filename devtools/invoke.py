"""`make invoke EVENT=events/<name>.json`: `sam local invoke -e` without Docker.

Runs lambda_function.lambda_handler on one API Gateway event file and prints the Kakao JSON
it answers (the proxy response's body, parsed). What it runs against:
- Spotify: the real one when SPOTIFY_CLIENT_ID/SECRET are set, else the offline demo stub.
- MySQL and DynamoDB: those named by MYSQL_* / DYNAMODB_TABLE when set; otherwise a local
  MariaDB database and DynamoDB Local started for this one run (as `make test` does), so
  that the Korean names the bot learned from data/artists.csv work. `--memory-only` skips them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator

import pymysql

from devtools.local_gateway import LambdaContext, prepare_layers, start_demo_spotify
from devtools.services import dynamodb_local, mysql_server

LOCAL_TABLE = "kakao-music-local"


def note(text: str) -> None:
    print(f"# {text}", file=sys.stderr)


@contextlib.contextmanager
def local_layers(memory_only: bool) -> Iterator[None]:
    """MySQL and DynamoDB for one run, unless configured already or not wanted."""
    with contextlib.ExitStack() as stack:
        if not memory_only and not os.environ.get("MYSQL_HOST"):
            try:
                os.environ.update(stack.enter_context(mysql_server("kakao_music_invoke")).env())
            except (RuntimeError, OSError, pymysql.MySQLError) as error:
                note(f"no local MySQL ({error}); answering without the store")
        if not memory_only and not os.environ.get("DYNAMODB_TABLE"):
            try:
                endpoint = stack.enter_context(dynamodb_local())
            except (RuntimeError, OSError) as error:
                note(f"no DynamoDB Local ({error}); answering without the cache table")
            else:
                os.environ.update(
                    DYNAMODB_TABLE=LOCAL_TABLE,
                    AWS_ENDPOINT_URL_DYNAMODB=endpoint,
                    AWS_ACCESS_KEY_ID="local",
                    AWS_SECRET_ACCESS_KEY="local",
                    AWS_DEFAULT_REGION="ap-northeast-2",
                )
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", help="an API Gateway event JSON file (see events/)")
    parser.add_argument(
        "--spotify-mode", default="development-2026", choices=["development-2026", "extended"]
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="no MySQL or DynamoDB unless configured"
    )
    args = parser.parse_args(argv)
    with open(args.event, encoding="utf-8") as handle:
        event = json.load(handle)

    os.environ.setdefault("LOG_LEVEL", "WARNING")  # keep stdout for the answer
    with contextlib.ExitStack() as stack:
        if not (os.environ.get("SPOTIFY_CLIENT_ID") and os.environ.get("SPOTIFY_CLIENT_SECRET")):
            stack.callback(start_demo_spotify(args.spotify_mode).stop)
            note(
                "Spotify: the offline demo catalog (set SPOTIFY_CLIENT_ID/SECRET for the real one)"
            )
        stack.enter_context(local_layers(args.memory_only))
        note("layers: " + ", ".join(prepare_layers()))
        import lambda_function

        with contextlib.redirect_stdout(sys.stderr):  # its log lines: stdout is the answer's
            response = lambda_function.lambda_handler(event, LambdaContext())
    try:
        body = json.loads(response["body"])
    except (KeyError, TypeError, ValueError):
        body = response
    note(f"HTTP {response.get('statusCode')}")
    print(json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if response.get("statusCode") == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
