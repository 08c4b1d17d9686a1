"""Create change set against moto: a CREATE change set first, an UPDATE after, and stacks it must not touch.

Ownership (DESIGN invariant 4): the first change set tags the stack ``stepdeploy:repository``; another
repository, an untagged stack (not created by stepdeploy) or the orchestrator's own stack is refused
before any change set. Redriven after a newer release (it takes the lock back), it ends Superseded
before touching anything.
"""

from __future__ import annotations

import json
import time

import pytest

from stepdeploy.errors import RequestRejected, StackBusy, StackNeedsAttention, Superseded
from stepdeploy.guards.ownership import OWNER_TAG

from .conftest import Context, load_event, load_handler
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
    # Each function comes with the version and the alias its event sources invoke (stepdeploy.template.alias_wiring).
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


FOREIGN_TEMPLATE = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
)


def packaged_for(aws, repository: str) -> dict:
    document = packaged(aws)
    document["request"]["repository"] = repository
    return document


def change_sets(aws, stack: str = STACK) -> list[dict]:
    return aws.client("cloudformation").list_change_sets(StackName=stack)["Summaries"]


def test_the_first_change_set_tags_the_stack_with_its_repository(deploy_aws):
    deploy_stack(deploy_aws)
    stack = deploy_aws.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert {"Key": OWNER_TAG, "Value": "platform/sample-app"} in stack["Tags"]


def test_another_repository_cannot_change_the_stack(deploy_aws, monkeypatch):
    deploy_stack(deploy_aws)
    before = change_sets(deploy_aws)
    with pytest.raises(RequestRejected, match=r"belongs to repository platform/sample-app .* platform/intruder"):
        run("create_change_set", packaged_for(deploy_aws, "platform/intruder"))
    assert change_sets(deploy_aws) == before


def test_a_stack_stepdeploy_did_not_create_is_refused_unless_adopted(deploy_aws, monkeypatch):
    from stepdeploy.settings import settings

    cfn = deploy_aws.client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=FOREIGN_TEMPLATE)
    with pytest.raises(RequestRejected, match=r"stepdeploy did not create it .* :adopt"):
        run("create_change_set", packaged(deploy_aws))
    assert change_sets(deploy_aws) == []

    monkeypatch.setenv("ALLOWED_REPOSITORIES", "platform/sample-app:sample-*:adopt")
    settings.cache_clear()
    sent: list[dict] = []
    from stepdeploy.aws.clients import client

    client("cloudformation").meta.events.register(
        "provide-client-params.cloudformation.CreateChangeSet", lambda params, **_: sent.append(dict(params))
    )
    document = run("create_change_set", packaged(deploy_aws))
    assert document["changeset"]["change_set_type"] == "UPDATE"
    # The adopting change set tags the stack (moto drops an UPDATE's tags; the local cloud applies them).
    assert {"Key": OWNER_TAG, "Value": "platform/sample-app"} in sent[0]["Tags"]


def test_the_orchestrators_own_stack_is_always_refused(deploy_aws, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("ORCHESTRATOR_STACK", STACK)
    monkeypatch.setenv("ALLOWED_REPOSITORIES", "platform/sample-app:*:adopt")
    settings.cache_clear()
    with pytest.raises(RequestRejected, match="orchestrator's own stack"):
        run("create_change_set", packaged(deploy_aws))
    assert deploy_aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_redrive_that_takes_the_lock_back_after_a_newer_release_is_superseded(orchestrator):
    from stepdeploy.aws.ledger import ledger

    locked = load_handler("acquire_lock").handler(load_event("acquire_lock"), Context())
    execution = load_event("acquire_lock")["execution"]
    renew = load_handler("create_change_set").handler  # any lock-holding step
    ledger().release_lock("sample-prod", execution["Id"])  # the finaliser, when the execution failed
    ledger().record_release({"stack": "sample-prod", "execution_arn": "arn:aws:states:us-east-1:1:execution:m:newer",
                             "execution_name": "newer", "started_at": "2999-01-01T00:00:00.000Z",
                             "repository": "platform/sample-app", "commit": "d" * 40, "outcome": "Deployed"})
    with pytest.raises(Superseded, match="redriven after newer .* was deployed to sample-prod"):
        renew({"document": locked, "execution": {**execution, "state": "Create change set"}}, Context())
    holder = ledger().lock_holder("sample-prod")
    assert holder is not None and holder["owner"] == execution["Id"]  # Record superseded frees it
    assert holder["lease_expires_at"] > time.time()



def test_a_template_packaged_for_another_account_is_refused_before_its_change_set(deploy_aws, monkeypatch):
    from stepdeploy.aws.accounts import deploying_into, stage_of
    from stepdeploy.errors import ArtifactRejected
    from stepdeploy.models import DeploymentRequest
    from stepdeploy.settings import settings
    from stepdeploy.tasks.create_change_set import check_boundary_of_account

    own = "arn:aws:iam::123456789012:policy/stepdeploy-ApplicationBoundaryPolicy"
    for name, value in {"PERMISSIONS_BOUNDARY_ARN": own, "ORCHESTRATOR_ACCOUNT": "123456789012",
                        "STAGE_ACCOUNTS": "222222222222"}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    request = DeploymentRequest.model_validate(packaged(deploy_aws)["request"])
    template = {"Resources": {"Fn": {"Type": "AWS::Serverless::Function",
                                     "Properties": {"Handler": "app.handler", "PermissionsBoundary": own}}}}
    check_boundary_of_account(request, template)  # packaged for the orchestrator's account, deployed there
    stage_request = request.model_copy(update={"target": request.target.model_copy(update={"account": "222222222222"})})
    with deploying_into(stage_of(stage_request.target, "demo-1")), pytest.raises(
        ArtifactRejected, match=r"packaged for another account than the target's: package it for the target's "
        r"account \(its boundary is arn:aws:iam::222222222222:policy/stepdeploy-stage-boundary\)",
    ):
        check_boundary_of_account(stage_request, template)
