"""Publish versions handler against moto's CloudFormation and Lambda."""

from __future__ import annotations

import pytest

from stepdeploy.errors import ConfigurationError

from .deploy_support import (
    NEW_CODE,
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    execution_of,
    run,
)

pytestmark = pytest.mark.handler


def function_names(aws) -> dict[str, str]:
    resources = aws.client("cloudformation").list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def publish(document: dict, execution: str = "demo-1") -> dict:
    return run("publish_versions", document, execution_of("publish_versions", execution))


def by_id(versions: dict) -> dict[str, dict]:
    return {f["logical_id"]: f for f in versions["functions"]}


def test_first_deploy_finds_the_stacks_aliases_on_version_1_and_needs_no_shift(deploy_aws):
    versions = publish(deploy_stack(deploy_aws))["versions"]
    assert versions["shift_needed"] is False
    releases = by_id(versions)
    assert set(releases) == {"Greeter", "PreTraffic"}  # no hooks configured: every function
    greeter = releases["Greeter"]
    # The stack made version 1 and the alias (stepdeploy.template.alias_wiring): nothing to publish or shift.
    assert greeter["version"] == "1" and greeter["previous_version"] == "1" and greeter["changed"] is False
    alias = deploy_aws.client("lambda").get_alias(FunctionName=function_names(deploy_aws)["Greeter"], Name="live")
    assert alias["FunctionVersion"] == "1"


def test_changed_code_publishes_a_version_and_needs_a_shift_unchanged_does_not(deploy_aws):
    hooks = {"hooks": {"before_allow_traffic": "PreTraffic"}}
    publish(deploy_stack(deploy_aws, **hooks))
    document = deploy_stack(deploy_aws, NEW_CODE, execution="demo-2", **hooks)
    versions = publish(document, "demo-2")["versions"]
    releases = by_id(versions)
    assert set(releases) == {"Greeter"}  # the hook is not released
    assert releases["Greeter"] == {
        "logical_id": "Greeter",
        "function_name": function_names(deploy_aws)["Greeter"],
        "alias": "live",
        "version": "2",
        "previous_version": "1",
        "changed": True,
        "alias_created": False,
    }
    assert versions["shift_needed"] is True
    # The alias is CodeDeploy's to move: still on the previous version.
    lam = deploy_aws.client("lambda")
    assert lam.get_alias(FunctionName=releases["Greeter"]["function_name"], Name="live")["FunctionVersion"] == "1"


def test_publishing_twice_reuses_the_identical_version(deploy_aws):
    publish(deploy_stack(deploy_aws))
    document = deploy_stack(deploy_aws, NEW_CODE, execution="demo-2")
    first = publish(document, "demo-2")["versions"]
    second = publish(document, "demo-2")["versions"]
    assert second == first
    name = function_names(deploy_aws)["Greeter"]
    listed = deploy_aws.client("lambda").list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]


def test_a_configuration_only_change_publishes_a_version(deploy_aws):
    publish(deploy_stack(deploy_aws))
    name = function_names(deploy_aws)["Greeter"]
    lam = deploy_aws.client("lambda")
    lam.update_function_configuration(FunctionName=name, MemorySize=512)
    release = by_id(publish(deploy_stack(deploy_aws, execution="demo-2"), "demo-2")["versions"])["Greeter"]
    assert release["changed"] and release["version"] == "2" and release["previous_version"] == "1"
    assert lam.get_function_configuration(FunctionName=name, Qualifier="2")["MemorySize"] == 512


def test_unchanged_functions_publish_nothing(deploy_aws):
    publish(deploy_stack(deploy_aws))
    versions = publish(deploy_stack(deploy_aws, execution="demo-2"), "demo-2")["versions"]
    assert versions["shift_needed"] is False
    assert all(not f["changed"] and f["version"] == f["previous_version"] == "1" for f in versions["functions"])


def test_configured_functions_that_the_template_lacks_are_refused_before_the_stack_changes(deploy_aws):
    with pytest.raises(ConfigurationError, match=r"deployment.functions: expected logical ids .* found 'Missing'"):
        deploy_stack(deploy_aws, functions=["Greeter", "Missing"])
    assert deploy_aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_publishing_deletes_no_version_retention_waits_for_the_release(deploy_aws, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "1")
    settings.cache_clear()
    publish(deploy_stack(deploy_aws, functions=["Greeter"]))  # v1, alias live -> 1
    lam = deploy_aws.client("lambda")
    name = function_names(deploy_aws)["Greeter"]
    for memory in (256, 384, 512):  # v2..v4 published by someone else
        lam.update_function_configuration(FunctionName=name, MemorySize=memory)
        lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, MemorySize=640)
    release = by_id(publish(deploy_stack(deploy_aws, execution="demo-2", functions=["Greeter"]), "demo-2")["versions"])
    assert release["Greeter"]["version"] == "5" and release["Greeter"]["previous_version"] == "1"
    left = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert left == ["$LATEST", "1", "2", "3", "4", "5"]
