"""`make invoke EVENT=events/<name>.json`: `sam local invoke` without Docker.

Runs lambda_function.lambda_handler on one event file and prints the Kakao JSON it answers
(the proxy response's body, parsed), with the demo Spotify when no credentials are set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from devtools.local_gateway import LambdaContext, prepare_layers, start_demo_spotify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", help="an API Gateway event JSON file (see events/)")
    parser.add_argument(
        "--spotify-mode", default="development-2026", choices=["development-2026", "extended"]
    )
    args = parser.parse_args(argv)
    with open(args.event, encoding="utf-8") as handle:
        event = json.load(handle)

    stub = None
    if not (os.environ.get("SPOTIFY_CLIENT_ID") and os.environ.get("SPOTIFY_CLIENT_SECRET")):
        stub = start_demo_spotify(args.spotify_mode)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # keep stdout for the answer
    try:
        prepare_layers()
        import lambda_function

        response = lambda_function.lambda_handler(event, LambdaContext())
    finally:
        if stub is not None:
            stub.stop()
    try:
        body = json.loads(response["body"])
    except (KeyError, TypeError, ValueError):
        body = response
    print(f"HTTP {response.get('statusCode')}", file=sys.stderr)
    print(json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if response.get("statusCode") == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
