"""A target in another account: the local cloud's second account (222222222222) holds the stage
template (templates/stage-account.yaml, deployed by ``LocalCloud.start``); a push whose target names it
deploys the sample app there through the assumed stage role, its waits resume on the events that the
stage's rule forwards to the orchestrator's bus, and a role that cannot be assumed refuses the push
before anything is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import GREETER_V2, STACK, Demo, sample_app_on_local_cloud
from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.cloud import STAGE_ACCOUNT
from stepdeploy_localcloud.cloudformation import api as cloudformation

pytestmark = pytest.mark.e2e

CONFIG = f"""version: 1
targets:
  - branch: main
    stack: {STACK}
    environment: staging
    account: "{STAGE_ACCOUNT}"
    parameters:
      Greeting: Hello
    deployment:
      alias: live
      strategy: LambdaCanary10Percent5Minutes  # the shift lasts: its end comes as an event
      alarms: [GreeterErrorsAlarm]
      bake_minutes: 1
"""


def history(demo: Demo, execution_arn: str) -> list[dict[str, Any]]:
    return list(demo.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])


STACK_BUSY_VIRTUAL_SECONDS = 300.0
"""How long a stack operation lasts in these tests: long enough (5 s at the demo's speed) that the wait has
stored its token when the operation ends, so the end comes as an event even on a busy machine. (With the
local cloud's usual 30, a slow Lambda start could find the stack already done and resume by its check.)"""


def slow_stack_operations() -> None:
    cloudformation.STACK_OPERATION_VIRTUAL_SECONDS = STACK_BUSY_VIRTUAL_SECONDS  # the cloud resets it at stop


def waits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each resumed wait said: {"resumed_by": "event" | "check", "wait": ..., "keys": [...]}."""
    outputs = [json.loads(e["taskSucceededEventDetails"]["output"]) for e in events if e["type"] == "TaskSucceeded"]
    return [o for o in outputs if isinstance(o, dict) and "resumed_by" in o]


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-accounts-") as demo:
        cloud = demo.cloud
        slow_stack_operations()
        results: dict[str, Any] = {}
        results["deploy"] = demo.run(
            "deploy into the stage account", lambda: demo.push("Deploy to 222222222222", {"stepdeploy.yml": CONFIG}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["deploy"]["history"] = history(demo, results["deploy"]["execution_arn"])
        results["shift"] = demo.run(
            "code change shifted in the stage account",
            lambda: demo.push("Greeter v2", {"greeter/app.py": GREETER_V2}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["shift"]["history"] = history(demo, results["shift"]["execution_arn"])
        stage_iam = cloud.account_client("iam", STAGE_ACCOUNT)
        trust = stage_iam.get_role(RoleName="stepdeploy-stage")["Role"]["AssumeRolePolicyDocument"]
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = "another-orchestrator"
        stage_iam.update_assume_role_policy(RoleName="stepdeploy-stage", PolicyDocument=json.dumps(trust))
        results["refused"] = demo.run(
            "stage role cannot be assumed",
            lambda: demo.push("Greeting change", {"stepdeploy.yml": CONFIG.replace("Hello", "Howdy")}),
            lambda r: r["status"] == "FAILED",
        )
        results["refused"]["history"] = history(demo, results["refused"]["execution_arn"])
        yield {"cloud": cloud, "demo": demo, **results}


def test_the_stack_lives_in_the_stage_account_only(run):
    assert run["deploy"]["status"] == "SUCCEEDED", run["deploy"].get("cause")
    cloud = run["cloud"]
    stage_cfn = cloud.account_client("cloudformation", STAGE_ACCOUNT)
    stack = stage_cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackId"].split(":")[4] == STAGE_ACCOUNT
    assert stack["StackStatus"] == "UPDATE_COMPLETE"  # created by the first push, updated by the second
    own = [s["StackName"] for s in cloud.client("cloudformation").describe_stacks()["Stacks"]]
    assert STACK not in own  # never in the orchestrator's account


def test_the_function_runs_in_the_stage_account_behind_its_alias(run):
    cloud = run["cloud"]
    resources = cloud.account_client("cloudformation", STAGE_ACCOUNT).describe_stack_resources(
        StackName=STACK)["StackResources"]
    greeter = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "GreeterFunction")
    lam = cloud.account_client("lambda", STAGE_ACCOUNT)
    assert run["shift"]["status"] == "SUCCEEDED", run["shift"].get("cause")
    assert lam.get_alias(FunctionName=greeter, Name="live")["FunctionVersion"] == "2"
    answer = lam.invoke(FunctionName=f"{greeter}:live", Payload=json.dumps({"name": "Ada"}).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert "Hello, Ada! Welcome back." in answer["Payload"].read().decode()


def test_application_roles_carry_the_stage_accounts_boundary(run):
    cloud = run["cloud"]
    boundary = f"arn:aws:iam::{STAGE_ACCOUNT}:policy/stepdeploy-stage-boundary"
    assert cloud.stages[STAGE_ACCOUNT]["PermissionsBoundaryArn"] == boundary
    resources = cloud.account_client("cloudformation", STAGE_ACCOUNT).describe_stack_resources(
        StackName=STACK)["StackResources"]
    iam = cloud.account_client("iam", STAGE_ACCOUNT)
    roles = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::Role"]
    assert roles
    for name in roles:
        assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_the_stage_accounts_forwarded_events_resume_the_waits(run):
    created = {w["wait"]: w["resumed_by"] for w in waits(run["deploy"]["history"])}
    assert created.get("stack") == "event", created  # a CloudFormation event of account 222222222222
    shifted = {w["wait"]: w["resumed_by"] for w in waits(run["shift"]["history"])}
    assert shifted.get("shift") == "event", shifted  # a CodeDeploy event of account 222222222222
    assert shifted.get("stack") == "event", shifted


def test_a_role_that_cannot_be_assumed_refuses_before_the_build(run):
    refused = run["refused"]
    assert refused["status"] == "FAILED"
    assert refused["error"] == "RequestRejected"
    cause = str(refused["cause"])
    assert f"arn:aws:iam::{STAGE_ACCOUNT}:role/stepdeploy-stage" in cause
    assert f"account {STAGE_ACCOUNT}" in cause and "templates/stage-account.yaml" in cause
    assert f"OrchestratorAccount={endpoint.ACCOUNT_ID}" in cause
    entered = {e["stateEnteredEventDetails"]["name"] for e in refused["history"] if e["type"].endswith("StateEntered")}
    assert "Start build" not in entered
