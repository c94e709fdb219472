"""What importing the module leaves behind for the container's life."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fresh_interpreter(code: str) -> str:
    """What `code` prints in a fresh interpreter, as a cold container: nothing imported yet."""
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return run.stdout


def test_the_imported_libraries_are_frozen_out_of_garbage_collection():
    out = fresh_interpreter(
        "import gc, lambda_function;"
        "print(gc.get_freeze_count(), len(gc.get_objects()), int(gc.isenabled()))"
    )
    frozen, still_tracked, collecting = map(int, out.split())
    # boto3, spotipy and requests are tens of thousands of objects; a full collection
    # walks only what came after.
    assert frozen > 20_000
    assert still_tracked < frozen / 10
    assert collecting  # what requests allocate is still collected


def test_a_host_that_turned_collection_off_finds_it_still_off():
    out = fresh_interpreter(
        "import gc; gc.disable(); import lambda_function; print(int(gc.isenabled()))"
    )
    assert out.split() == ["0"]
