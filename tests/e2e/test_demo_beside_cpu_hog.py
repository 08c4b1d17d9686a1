"""The demo's six scenarios while CPU-bound processes compete with the local cloud: the same outcomes.

On a busy machine the "alarm during canary" scenario used to end with the alarm seen during the bake
(AlarmDuringBake) when the canary's few real seconds ran out before the alarm fired. The scenario now
raises the alarm at the canary's first traffic step (stepdeploy_cli/demo/canary_alarm.py), so the shift
itself is rolled back, however slow the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import sample_app_on_local_cloud, scenarios
from stepdeploy_dev.bench.cpu_hog import cpu_hog

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def busy_run() -> Iterator[dict[str, Any]]:
    with cpu_hog() as hogs, sample_app_on_local_cloud("stepdeploy-e2e-busy-") as demo:
        assert hogs, "no CPU hog started"
        results = {r["name"]: r for r in scenarios(demo)}
        sfn = demo.cloud.client("stepfunctions")
        histories = {name: sfn.get_execution_history(executionArn=r["execution_arn"], maxResults=1000)["events"]
                     for name, r in results.items()}
        yield {"results": results, "histories": histories}


def test_every_scenario_ends_as_expected_on_a_busy_machine(busy_run: dict[str, Any]) -> None:
    unexpected = {name: (r["status"], r["error"], r["alias_versions"])
                  for name, r in busy_run["results"].items() if not r["as_expected"]}
    assert unexpected == {}


def test_the_canary_alarm_rolls_the_shift_back_before_any_bake(busy_run: dict[str, Any]) -> None:
    result = busy_run["results"]["alarm during canary (rollback)"]
    assert (result["status"], result["error"]) == ("FAILED", "DeploymentRolledBack"), result.get("cause")
    entered = [e["stateEnteredEventDetails"]["name"] for e in busy_run["histories"]["alarm during canary (rollback)"]
               if e["type"].endswith("StateEntered")]
    assert "Check traffic shift" in entered and "Bake" not in entered
