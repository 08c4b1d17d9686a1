"""Execute change set against moto."""

from __future__ import annotations

import pytest

from .deploy_support import (
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    packaged,
    run,
)

pytestmark = pytest.mark.handler


def test_execute_twice_executes_once(deploy_aws):
    document = run("check_change_set", run("create_change_set", packaged(deploy_aws)))
    run("execute_change_set", document)
    events = len(deploy_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"])
    again = run("execute_change_set", document)
    assert again["stack"]["status"] == "CREATE_COMPLETE"
    assert len(deploy_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"]) == events
