"""A Python function whose code imports a package its requirements.txt forgets builds and deploys
(CloudFormation never runs the code), and then fails as on AWS: its alias's invocation answers
`Runtime.ImportModuleError` naming the module, because the local function sees only its own code,
its layers and what the Lambda runtime provides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import sample_app_on_local_cloud
from stepdeploy_cli.watch import ExecutionView, wait_for_execution
from stepdeploy_localcloud.codebuild.environment import sam_cli

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sam_cli() is None, reason="no SAM CLI for builds (make setup, or STEPDEPLOY_SAM_CLI)"),
]

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "forgotten"
STACK = "sample-forgotten"


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-forgotten-", app=APP) as demo:
        execution = wait_for_execution(
            ExecutionView(demo.sfn, demo.push("First version", {})), console=demo.console, live=False, timeout=300
        )
        found: dict[str, Any] = {"execution": execution}
        if execution["status"] == "SUCCEEDED":
            resources = demo.cloud.client("cloudformation").describe_stack_resources(StackName=STACK)
            [function] = [r["PhysicalResourceId"] for r in resources["StackResources"]
                          if r["LogicalResourceId"] == "OrdersFunction"]
            answer = demo.cloud.client("lambda").invoke(FunctionName=function, Qualifier="live", Payload=b"{}")
            found["invoke"] = {"FunctionError": answer.get("FunctionError"),
                               "payload": json.loads(answer["Payload"].read())}
        yield found


def test_the_app_builds_and_deploys(run):
    assert run["execution"]["status"] == "SUCCEEDED", run["execution"].get("cause")


def test_the_alias_invocation_fails_naming_the_forgotten_module(run):
    assert run["invoke"]["FunctionError"] == "Unhandled"
    payload = run["invoke"]["payload"]
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'requests'" in payload["errorMessage"]
    assert "app" in payload["errorMessage"]
