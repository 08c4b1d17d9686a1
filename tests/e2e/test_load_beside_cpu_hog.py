"""The load scenario, small, while CPU-bound processes compete with the local cloud: nothing lost, nothing overlaps.

20 pushes across 5 repositories (3 superseded, 2 queued), all delivered at once, beside one busy loop
per CPU. Every push the webhook accepted must end in an outcome the stack's ledger recorded, no two
executions may hold one stack's lock at once, and each stack ends on its newest accepted push.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from stepdeploy_dev.bench.cpu_hog import cpu_hog
from stepdeploy_dev.bench.load import run_load

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]
REPOSITORIES, PUSHES_EACH = 5, 4
WAIT_FOR_EXECUTIONS_SECONDS = 1200.0  # a bound on waiting, not a figure the test judges


@pytest.fixture(scope="module")
def load() -> dict[str, Any]:
    with cpu_hog() as hogs:
        assert hogs, "no CPU hog started"
        return run_load(REPOSITORIES, PUSHES_EACH, timeout=WAIT_FOR_EXECUTIONS_SECONDS, log=sys.stderr)


def test_every_accepted_push_ends_in_a_recorded_outcome(load: dict[str, Any]) -> None:
    assert load["pushes"] == REPOSITORIES * PUSHES_EACH
    assert load["all_ended"], load["execution_statuses"]
    assert load["accepted_pushes_lost"] == 0, load["lost"]
    assert load["executions_started"] >= load["pushes_accepted"]
    assert sum(load["ledger_outcomes"].values()) >= load["pushes_accepted"], load["ledger_outcomes"]
    assert load["failures"] == []


def test_no_two_deployments_of_one_stack_overlap(load: dict[str, Any]) -> None:
    assert load["overlapping_stack_changes"] == 0


def test_each_stack_ends_on_its_newest_accepted_push(load: dict[str, Any]) -> None:
    assert load["stacks_on_newest_accepted_commit"] == REPOSITORIES, load["stacks_not_on_newest_commit"]
