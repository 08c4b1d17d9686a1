"""A SAM app with no buildspec (stepdeploy's default one runs the pinned `sam build` in the build's own
environment): a Node.js function behind an HTTP API and a Python function using a layer that
`sam build` builds (BuildMethod python3.12) deploy through the whole pipeline and answer through the
local API Gateway, each on its declared runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo import traffic
from stepdeploy_cli.demo.runner import sample_app_on_local_cloud
from stepdeploy_cli.watch import ExecutionView, wait_for_execution
from stepdeploy_localcloud.codebuild.environment import sam_cli

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sam_cli() is None, reason="no SAM CLI for builds (make setup, or STEPDEPLOY_SAM_CLI)"),
]

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "polyglot"
STACK = "sample-polyglot"


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    assert not (APP / "buildspec.yml").exists(), "this app must use stepdeploy's default buildspec"
    with sample_app_on_local_cloud("stepdeploy-polyglot-", app=APP) as demo:
        execution = wait_for_execution(
            ExecutionView(demo.sfn, demo.push("First version", {})), console=demo.console, live=False, timeout=300
        )
        found: dict[str, Any] = {"execution": execution}
        if execution["status"] == "SUCCEEDED":
            cloudformation = demo.cloud.client("cloudformation")
            stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
            api = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["HttpApiId"]
            found["node"] = traffic.get_json(traffic.api_url(demo.cloud.url, api, "/node"))
            found["py"] = traffic.get_json(traffic.api_url(demo.cloud.url, api, "/py"))
            found["layers"] = demo.cloud.client("lambda").list_layers()["Layers"]
        yield found


def test_the_app_deploys_with_the_default_buildspec(run):
    assert run["execution"]["status"] == "SUCCEEDED", run["execution"].get("cause")


def test_the_node_function_answers_through_the_http_api_on_node_20(run):
    assert run["node"] == {"runtime": "node", "major": "20", "path": "/node"}


def test_the_python_function_imports_the_layer_sam_build_built(run):
    assert run["py"] == {"runtime": "python", "python": "3.12", "greeting": "hello from the layer"}
    assert [layer["LayerName"] for layer in run["layers"] if "DepsLayer" in layer["LayerName"]], run["layers"]
