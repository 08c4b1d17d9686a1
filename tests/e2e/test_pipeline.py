"""The whole pipeline on the local cloud, through the real entry points (signed HTTP push, S3 upload).

One local cloud for the module; the demo's scenarios run in order, then each test checks what a
user would: execution status, error and cause, the aliases, the stack and the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import STACK, sample_app_on_local_cloud, scenarios
from stepdeploy_cli.demo.stages import NAME as STAGES
from stepdeploy_cli.demo.stages import PRODUCTION_ACCOUNT, STAGE_STACKS

from ..conftest import record_execution

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-e2e-") as demo:
        cloud = demo.cloud
        try:
            results = {r["name"]: r for r in scenarios(demo)}
        except Exception as exc:  # noqa: BLE001 - each test reports it
            results = {"error": {"name": "error", "status": "ERROR", "cause": repr(exc)}}
        sfn = cloud.client("stepfunctions")
        runs = [push for result in results.values() for push in result.get("pushes") or [result]]
        for result in runs:
            if "execution_arn" not in result:
                continue
            history = sfn.get_execution_history(executionArn=result["execution_arn"], maxResults=1000)["events"]
            record_execution(history)
        if demo.traffic:
            demo.traffic.stop()
        yield {"cloud": cloud, "results": results, "demo": demo}


def test_first_push_creates_stack_versions_and_aliases(run):
    result = run["results"]["first push"]
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert result["alias_versions"] == {"GreeterFunction": "1", "CounterFunction": "1", "NotifierFunction": "1"}
    stack = run["cloud"].client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def test_every_role_of_the_app_stack_carries_the_orchestrators_boundary(run):
    cloud = run["cloud"]
    boundary = cloud.orchestrator.resources["ApplicationBoundaryPolicy"]
    assert boundary.startswith("arn:aws:iam::") and ":policy/" in boundary
    cfn, iam = cloud.client("cloudformation"), cloud.client("iam")
    roles = [r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]
             if r["ResourceType"] == "AWS::IAM::Role"]
    assert len(roles) == 3  # the three functions' roles SAM generates
    for name in roles:
        described = iam.get_role(RoleName=name)["Role"]
        assert described.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") == boundary, name


def test_code_change_shifts_only_the_changed_function(run):
    result = run["results"]["code change (canary)"]
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert result["alias_versions"] == {"GreeterFunction": "2", "CounterFunction": "1", "NotifierFunction": "1"}


def test_alarm_during_canary_rolls_back(run):
    result = run["results"]["alarm during canary (rollback)"]
    assert result["status"] == "FAILED"
    assert result["error"] == "DeploymentRolledBack"
    assert "GreeterErrorsAlarm" in result["cause"] or "Errors" in result["cause"]
    assert result["alias_versions"]["GreeterFunction"] == "2"


def test_no_deployable_change_is_a_successful_noop(run):
    result = run["results"]["nothing deployable changed (no-op)"]
    assert result["status"] == "SUCCEEDED"
    assert result["outcome"] == "NoChanges"
    history = run["cloud"].client("stepfunctions").get_execution_history(
        executionArn=result["execution_arn"], maxResults=1000
    )["events"]
    entered = {e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")}
    assert "Publish versions" not in entered and "Record no-op" in entered


def test_s3_upload_deploys_without_build(run):
    result = run["results"]["prebuilt artifact uploaded to S3"]
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert result["alias_versions"]["GreeterFunction"] == "4"
    history = run["cloud"].client("stepfunctions").get_execution_history(
        executionArn=result["execution_arn"], maxResults=1000
    )["events"]
    entered = {e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")}
    assert "Start build" not in entered


def test_failed_build_deploys_nothing_and_links_the_log(run):
    result = run["results"]["build fails"]
    assert result["status"] == "FAILED"
    assert result["error"] == "BuildFailed"
    assert "Logs:" in result["cause"]
    assert result["alias_versions"] == run["results"]["prebuilt artifact uploaded to S3"]["alias_versions"]


def test_ledger_records_every_outcome(run):
    from stepdeploy.aws.ledger import Ledger

    cloud = run["cloud"]
    ledger = Ledger(cloud.orchestrator.table_name, dynamodb_resource=cloud.resource("dynamodb"))
    outcomes = [r["outcome"] for r in reversed(ledger.releases_of(STACK))]
    assert outcomes[:6] == ["Deployed", "Deployed", "DeploymentRolledBack", "NoChanges", "Deployed", "BuildFailed"]
    regression = [] if run["results"]["steps: a function regresses, all roll back"].get("skipped") else [
        "DeploymentRolledBack"]
    assert outcomes[6:] == [*regression, "Deployed", "DeploymentRolledBack"]  # the step engine's releases
    assert ledger.lock_holder(STACK) is None


def test_commit_statuses_reach_ghe(run):
    from stepdeploy.aws.ledger import Ledger

    cloud = run["cloud"]
    releases = Ledger(cloud.orchestrator.table_name, dynamodb_resource=cloud.resource("dynamodb")).releases_of(STACK)
    by_outcome = {r["outcome"]: r for r in releases if r.get("commit")}
    deployed = cloud.ghe.statuses("platform", "sample-app", by_outcome["Deployed"]["commit"])
    assert [s["state"] for s in deployed][:2] == ["success", "pending"]  # newest first
    assert deployed[0]["context"] == "stepdeploy/production"
    assert deployed[0]["target_url"].startswith(f"{cloud.url}/dashboard/#execution=")  # the local dashboard
    # The step engine's scenarios upload artifacts of that same commit afterwards: their statuses come later.
    failed = cloud.ghe.statuses("platform", "sample-app", by_outcome["BuildFailed"]["commit"])
    assert any(s["state"] == "failure" and "BuildFailed" in s["description"] for s in failed), failed


# --- stepdeploy's step engine: the three functions released together --------------------------------
def test_steps_a_regression_rolls_every_function_back_together(run):
    result = run["results"]["steps: a function regresses, all roll back"]
    if result.get("skipped"):
        pytest.skip(result["skipped"])
    assert result["status"] == "FAILED" and result["error"] == "DeploymentRolledBack", result.get("cause")
    assert "release judged at 50%: Fail" in result["cause"]
    assert result["cause"].count(":live -> ") == 3  # every function went back, not only the one that regressed
    assert result["as_expected"], result


def test_steps_inconclusive_pauses_until_an_operator_promotes(run):
    result = run["results"]["steps: inconclusive, paused, promoted by an operator"]
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert result["operator"]["verb"] == "promote" and result["operator"]["status"] == "paused"
    assert result["as_expected"], result


def test_steps_an_abort_mid_release_rolls_every_function_back(run):
    result = run["results"]["steps: aborted mid-release by an operator"]
    assert result["status"] == "FAILED" and result["error"] == "DeploymentRolledBack", result.get("cause")
    assert "release aborted by demo-operator at 50%" in result["cause"] and result["cause"].count(":live -> ") == 3
    before = run["results"]["steps: inconclusive, paused, promoted by an operator"]["alias_versions"]
    assert result["alias_versions"] == before


# --- the app as a pipeline of stages, production in the second account --------------------------------
def test_stages_one_build_promoted_then_a_failed_test_leaves_staging_and_production_untouched(run):
    result = run["results"][STAGES]
    promoted, stopped = result["pushes"]
    assert promoted["status"] == "SUCCEEDED", promoted.get("cause")
    assert (stopped["status"], stopped["error"]) == ("FAILED", "StageGateFailed"), stopped.get("cause")
    assert "test SmokeTestFunction failed against stage dev" in stopped["cause"]
    assert "Service unavailable" in stopped["cause"]  # the smoke test's own message
    live = {row["stage"]: row["commit"] for row in result["stages"]}
    good, broken = result["commits"]["promoted"], result["commits"]["stopped"]
    assert live == {"dev": broken, "staging": good, "production": good}
    assert {row["stage"]: row["account"] for row in result["stages"]} == {
        "dev": None, "staging": None, "production": PRODUCTION_ACCOUNT}
    assert result["approval"]["approved"] and "demo-approver" in result["approval"]["by"]
    assert result["approval"]["stack"] == STAGE_STACKS["production"]
    cloud = run["cloud"]
    production = cloud.account_client("cloudformation", PRODUCTION_ACCOUNT).describe_stacks(
        StackName=STAGE_STACKS["production"])["Stacks"][0]
    assert production["StackId"].split(":")[4] == PRODUCTION_ACCOUNT
    assert STAGE_STACKS["production"] not in [s["StackName"] for s in cloud.client("cloudformation").describe_stacks()[
        "Stacks"]]
    assert result["as_expected"], result
