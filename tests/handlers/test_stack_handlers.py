"""Create change set, Check change set, Execute change set and Check stack handlers against moto."""

from __future__ import annotations

import copy
import time
from datetime import timedelta

import pytest
from moto.cloudformation.models import Event, cloudformation_backends
from moto.core.utils import utcnow

from stepdeploy.errors import ChangeSetFailed, StackBusy, StackNeedsAttention, StackUpdateFailed

from .deploy_support import (
    REGION,
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    document_of,
    execution_of,
    run,
    sample_bundle,
    with_role,
)

pytestmark = pytest.mark.handler
ACCOUNT = "123456789012"


def moto_stack():
    backend = cloudformation_backends[ACCOUNT][REGION]
    return next(s for s in backend.stacks.values() if s.name == STACK)


def packaged(aws) -> dict:
    aws.put_bundle(sample_bundle())
    return run("package_artifact", with_role(document_of("package_artifact"), aws.role_arn))


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
    assert {(c["action"], c["logical_id"]) for c in checked["changes"]} == {("Add", "Greeter"), ("Add", "PreTraffic")}

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


def test_execute_twice_executes_once(deploy_aws):
    document = run("check_change_set", run("create_change_set", packaged(deploy_aws)))
    run("execute_change_set", document)
    events = len(deploy_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"])
    again = run("execute_change_set", document)
    assert again["stack"]["status"] == "CREATE_COMPLETE"
    assert len(deploy_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"]) == events


def test_an_unchanged_app_is_a_successful_no_op_and_its_change_set_is_deleted(deploy_aws):
    deploy_stack(deploy_aws)
    document = deploy_stack(deploy_aws, execution="demo-2")
    changeset = document["changeset"]
    assert changeset["change_set_type"] == "UPDATE"
    assert changeset["done"] and changeset["no_changes"] and changeset["status"] == "FAILED"
    summaries = deploy_aws.client("cloudformation").list_change_sets(StackName=STACK)["Summaries"]
    assert changeset["change_set_id"] not in [s["ChangeSetId"] for s in summaries]


def test_new_code_is_an_update_with_changes(deploy_aws):
    deploy_stack(deploy_aws)
    document = deploy_stack(deploy_aws, "def handler(event, context):\n    return 'bonjour'\n", execution="demo-2")
    assert document["changeset"]["change_set_type"] == "UPDATE" and not document["changeset"]["no_changes"]
    assert document["stack"]["done"] and document["stack"]["status"] == "UPDATE_COMPLETE"


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


def test_a_failed_change_set_names_cloudformation_s_reason(deploy_aws):
    document = run("create_change_set", packaged(deploy_aws))
    change_set = cloudformation_backends[ACCOUNT][REGION].change_sets[document["changeset"]["change_set_id"]]
    change_set.status = "FAILED"
    change_set.status_reason = "Template format error: Unresolved resource dependencies [Nope]"
    with pytest.raises(ChangeSetFailed, match=r"ended FAILED: Template format error: Unresolved resource dependencies"):
        run("check_change_set", document)


def test_a_pending_change_set_is_not_done(deploy_aws):
    document = run("create_change_set", packaged(deploy_aws))
    cloudformation_backends[ACCOUNT][REGION].change_sets[
        document["changeset"]["change_set_id"]
    ].status = "CREATE_IN_PROGRESS"
    changeset = run("check_change_set", document)["changeset"]
    assert not changeset["done"] and changeset["status"] == "CREATE_IN_PROGRESS"


def test_a_rolled_back_update_names_the_first_failed_resource(deploy_aws):
    document = deploy_stack(deploy_aws)
    stack = moto_stack()
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    for logical_id, status, reason in (
        (
            "Greeter",
            "UPDATE_FAILED",
            "Resource handler returned message: The role defined for the function cannot be assumed",
        ),
        ("PreTraffic", "UPDATE_FAILED", "Resource update cancelled"),
    ):
        event = Event(stack.stack_id, STACK, logical_id, "x", "AWS::Lambda::Function", status, reason, None)
        event.timestamp = utcnow() + timedelta(seconds=1)
        stack.events.append(event)
    in_progress = copy.deepcopy(document)
    in_progress["stack"].update(status="UPDATE_IN_PROGRESS", done=False)
    with pytest.raises(StackUpdateFailed) as caught:
        run("check_stack", in_progress, execution_of("check_stack"))
    message = str(caught.value)
    assert "the update failed and was rolled back (UPDATE_ROLLBACK_COMPLETE)" in message
    assert "Greeter (AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: The role" in message
    assert "PreTraffic" not in message


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("UPDATE_ROLLBACK_FAILED", StackNeedsAttention, "ContinueUpdateRollback"),
        ("DELETE_IN_PROGRESS", StackNeedsAttention, "deleting the stack"),
    ],
)
def test_check_stack_names_what_needs_an_operator(deploy_aws, status, error, message):
    document = deploy_stack(deploy_aws)
    moto_stack().status = status
    with pytest.raises(error, match=message):
        run("check_stack", document)


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"])
def test_check_stack_waits_while_in_progress(deploy_aws, status):
    document = deploy_stack(deploy_aws)
    moto_stack().status = status
    stack = run("check_stack", document)["stack"]
    assert not stack["done"] and stack["status"] == status


def test_cleanup_in_progress_counts_as_done(deploy_aws):
    document = deploy_stack(deploy_aws)
    moto_stack().status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
    assert run("check_stack", document)["stack"]["done"]
