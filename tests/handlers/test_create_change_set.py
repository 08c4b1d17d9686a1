"""Create change set against moto: a CREATE change set first, an UPDATE after, and stacks it must not touch."""

from __future__ import annotations

import time

import pytest

from stepdeploy.errors import StackBusy, StackNeedsAttention

from .deploy_support import (
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    moto_stack,
    packaged,
    run,
)

pytestmark = pytest.mark.handler


def test_first_deploy_creates_the_stack_through_a_create_change_set(deploy_aws):
    document = run("create_change_set", packaged(deploy_aws))
    changeset = document["changeset"]
    assert changeset["change_set_type"] == "CREATE"
    assert changeset["change_set_name"].startswith("stepdeploy-6113728-")
    cfn = deploy_aws.client("cloudformation")
    described = cfn.describe_change_set(StackName=STACK, ChangeSetName=changeset["change_set_id"])
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    # Only the parameters the template declares; the code location is a parameter.
    assert set(params) == {
        "StepdeployArtifactBucket",
        "GreeterCodeKey",
        "PreTrafficCodeKey",
        "Greeting",
        "FunctionRole",
    }
    assert params["GreeterCodeKey"] == document["artifact"]["parameters"]["GreeterCodeKey"]

    checked = run("check_change_set", document)["changeset"]
    assert checked["done"] and not checked["no_changes"] and checked["status"] == "CREATE_COMPLETE"
    # Each function comes with the version and the alias its event sources invoke (stepdeploy.alias_wiring).
    assert {(c["action"], c["logical_id"]) for c in checked["changes"]} == {
        ("Add", logical_id)
        for function in ("Greeter", "PreTraffic")
        for logical_id in (function, f"{function}Versionstepdeploy", f"{function}Aliaslive")
    }

    executed = run("execute_change_set", {**document, "changeset": checked})
    assert executed["stack"]["stack_name"] == STACK
    stack = run("check_stack", executed)["stack"]
    assert stack["done"] and stack["status"] == "CREATE_COMPLETE"
    functions = [
        r
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == 2


def test_create_change_set_twice_reuses_the_change_set(deploy_aws):
    document = packaged(deploy_aws)
    first = run("create_change_set", document)["changeset"]
    second = run("create_change_set", document)["changeset"]
    assert second["change_set_id"] == first["change_set_id"]
    # moto would make a second REVIEW_IN_PROGRESS stack of the same name for a second CREATE change set.
    summaries = deploy_aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackName"] for s in summaries if s.get("StackStatus") != "DELETE_COMPLETE"] == [STACK]


def test_a_rollback_complete_stack_is_deleted_and_the_step_retried(deploy_aws):
    deploy_stack(deploy_aws)
    moto_stack().status = "ROLLBACK_COMPLETE"
    document = packaged(deploy_aws)
    with pytest.raises(StackBusy, match="ROLLBACK_COMPLETE"):
        run("create_change_set", document)
    summaries = deploy_aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s.get("StackStatus") for s in summaries] in (["DELETE_COMPLETE"], ["DELETE_IN_PROGRESS"])
    for _ in range(50):  # the state machine's retry of StackBusy, until the delete has finished
        try:
            changeset = run("create_change_set", document)["changeset"]
            break
        except StackBusy:
            time.sleep(0.1)
    assert changeset["change_set_type"] == "CREATE"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("UPDATE_ROLLBACK_FAILED", StackNeedsAttention, "ContinueUpdateRollback"),
        ("UPDATE_IN_PROGRESS", StackBusy, "UPDATE_IN_PROGRESS"),
        ("DELETE_FAILED", StackNeedsAttention, "delete it again"),
    ],
)
def test_stack_states_that_block_a_change_set(deploy_aws, status, error, message):
    deploy_stack(deploy_aws)
    moto_stack().status = status
    with pytest.raises(error, match=message):
        run("create_change_set", packaged(deploy_aws))
