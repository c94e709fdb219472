"""The fault matrix (devtools/fault_matrix.py, also `make faults`): each fault alone and each
pair on two services, against the real servers. Every answer valid and in time, the store
whole afterwards."""

from __future__ import annotations

import pytest

from devtools.fault_matrix import FAULTS, GRACE_S, cells, run_matrix

SPOTIFY_ANSWERS = {"spotify 401 expired token", "spotify lost endpoints answer 429"}
SPOTIFY_DOWN = {f.name for f in FAULTS if f.service == "spotify" and f.name not in SPOTIFY_ANSWERS}


@pytest.fixture(scope="module")
def matrix(mysql_config, dynamodb_endpoint):
    return {r.faults: r for r in run_matrix(mysql_config, dynamodb_endpoint, workers=4)}


@pytest.mark.parametrize("faults", cells(), ids=" + ".join)
def test_every_answer_is_valid_in_time_and_the_store_is_whole(matrix, faults):
    result = matrix[faults]
    for answer in result.answers:
        assert answer.status == 200 and answer.valid, (answer.label, answer.problems)
        assert answer.elapsed_ms <= result.budget_ms + GRACE_S * 1000, answer
    assert result.store_problems == []


@pytest.mark.parametrize("faults", cells(), ids=" + ".join)
def test_the_fault_took_effect(matrix, faults):
    """Without Spotify a first-time name cannot get a card; with it, any other fault can."""
    first_time = matrix[faults].answers[0]
    expected = "text" if SPOTIFY_DOWN & set(faults) else "card"
    assert first_time.shows == expected, first_time
