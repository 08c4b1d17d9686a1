"""Which versions retention keeps, and why (stepdeploy/release/retention.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stepdeploy.release import retention
from stepdeploy_cli import releases as cli_releases

pytestmark = pytest.mark.unit

FN = "sample-prod-Greeter-1"


def record(name: str, version: str, previous: str | None, outcome: str = "Deployed", **extra: Any) -> dict[str, Any]:
    return {
        "execution_name": name,
        "outcome": outcome,
        "versions": [{"function_name": FN, "alias": "live", "version": version, "previous_version": previous}],
        **extra,
    }


def alias(name: str, version: str, weights: dict[str, float] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"Name": name, "FunctionVersion": version}
    if weights:
        found["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return found


# newest first, as the ledger gives them
LEDGER = [
    record("r5", "9", "7"),
    record("r4", "8", "7", outcome="AlarmFired"),  # rolled back by CodeDeploy: not a release
    record("r3", "7", "7"),  # unchanged: not a release of this function
    record("r2", "7", "4"),
    record("r1", "4", None),
]


def verdicts(plan: retention.FunctionPlan) -> dict[str, tuple[bool, str]]:
    return {v.version: (v.keep, v.reason) for v in plan.verdicts}


def test_the_last_n_distinct_released_versions_stay_the_rest_goes() -> None:
    versions = [str(n) for n in range(1, 11)]
    plan = retention.plan_function(FN, versions, [alias("live", "9")], LEDGER, retain=2)
    found = verdicts(plan)
    assert plan.kept == ["7", "9", "10"]
    assert plan.deletions == ["1", "2", "3", "4", "5", "6", "8"]
    assert found["9"] == (True, "alias live points to it")
    assert found["7"] == (True, "release r3 (one of its last 2)")  # r3 served it too (unchanged)
    assert found["10"] == (True, "newer than every release in the ledger (a deployment may use it)")
    assert found["4"] == (False, "release r1, beyond the last 2")
    assert found["8"] == (False, "never served by a recorded release")


def test_alias_targets_stay_whatever_their_weight() -> None:
    aliases = [alias("live", "9", {"2": 0.1}), alias("beta", "1")]
    found = verdicts(retention.plan_function(FN, ["1", "2", "3", "9"], aliases, LEDGER, retain=1))
    assert found["2"] == (True, "alias live routes 10% of its traffic to it")
    assert found["9"] == (True, "alias live points to it (90% of its traffic)")
    assert found["1"] == (True, "alias beta points to it")
    assert found["3"][0] is False


def test_the_rollback_target_stays_even_beyond_n() -> None:
    plan = retention.plan_function(FN, ["4", "7", "9"], [alias("live", "9")], LEDGER, retain=1, rollback_version="7")
    assert verdicts(plan)["7"] == (True, "stepdeploy rollback would go back to it")
    assert plan.deletions == ["4"]


def test_nothing_goes_without_a_release_in_the_ledger_or_with_retention_off() -> None:
    assert retention.plan_function(FN, ["1", "2"], [], [], retain=3).deletions == []
    assert retention.plan_function("other", ["1", "2"], [], LEDGER, retain=3).deletions == []
    assert retention.plan_function(FN, ["1", "2"], [], LEDGER, retain=0).deletions == []


def test_a_rolled_back_release_counts_and_its_target_stays() -> None:
    ledger = [
        record("rollback-sample-prod-1", "7", "9", outcome="RolledBack", rolled_back_to="r2"),
        *LEDGER,
    ]
    functions = {FN: ([str(n) for n in range(1, 11)], [alias("live", "7")])}
    (plan,) = retention.plan_stack(ledger, functions, retain=1)
    found = verdicts(plan)
    assert found["7"][0] and found["9"][0] is False
    # the aliases serve r2's version 7: `stepdeploy rollback` would go back to r1 (version 4)
    assert found["4"] == (True, "stepdeploy rollback would go back to it")


@pytest.mark.parametrize(
    "ledger",
    [
        LEDGER,
        [record("rollback-x", "7", "9", outcome="RolledBack", rolled_back_to="r2"), *LEDGER],
        [record("r9", "9", "9"), *LEDGER],
        LEDGER[:1],
    ],
)
def test_the_rollback_target_is_the_one_the_cli_chooses(ledger: list[dict[str, Any]]) -> None:
    live = {FN: str(ledger[0]["versions"][0]["version"])}
    ours = retention.rollback_target(ledger, live)
    try:
        theirs = cli_releases.choose_release(ledger, live, "sample-prod")
    except Exception:  # the CLI refuses: nothing to roll back to
        theirs = None
    assert ours == theirs


def test_functions_of_the_newest_release() -> None:
    assert retention.functions_of(LEDGER) == [FN]
    assert retention.functions_of([]) == []
