"""Create change set refuses stacks the repository does not own (DESIGN invariant 4), against moto.

The first change set tags the stack ``stepdeploy:repository``; another repository, an untagged stack
(not created by stepdeploy) or the orchestrator's own stack is refused before any change set.
"""

from __future__ import annotations

import json

import pytest

from stepdeploy.errors import RequestRejected
from stepdeploy.ownership import OWNER_TAG

from .deploy_support import (
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    document_of,
    run,
    sample_bundle,
    with_role,
)

pytestmark = pytest.mark.handler
FOREIGN_TEMPLATE = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
)


def packaged(aws, repository: str = "platform/sample-app") -> dict:
    aws.put_bundle(sample_bundle())
    document = run("package_artifact", with_role(document_of("package_artifact"), aws.role_arn))
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
        run("create_change_set", packaged(deploy_aws, "platform/intruder"))
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
