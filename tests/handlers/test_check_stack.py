"""Check stack against moto: done, still in progress, rolled back, or waiting for an operator."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from moto.cloudformation.models import Event
from moto.core.utils import utcnow

from stepdeploy.errors import StackNeedsAttention, StackUpdateFailed

from .deploy_support import (
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    execution_of,
    moto_stack,
    run,
)

pytestmark = pytest.mark.handler


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
