"""Check change set against moto: its changes, a change set with none (a successful no-op), failures."""

from __future__ import annotations

import pytest
from moto.cloudformation.models import cloudformation_backends

from stepdeploy.errors import ChangeSetFailed

from .deploy_support import (
    ACCOUNT,
    REGION,
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    packaged,
    run,
)

pytestmark = pytest.mark.handler


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
