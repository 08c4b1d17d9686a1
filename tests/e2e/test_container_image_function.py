"""A container-image function, as the SAM image samples build it: the app's buildspec runs `docker build`
and `docker push` with a unique tag in the local CodeBuild (no Docker engine: the build's `docker`
emulates the Dockerfile on AWS's Lambda base image), the image lands in the local ECR, and the pipeline
deploys the function from that ImageUri; its alias then answers from the image's handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import sample_app_on_local_cloud
from stepdeploy_cli.watch import ExecutionView, wait_for_execution

pytestmark = [pytest.mark.e2e]

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "image"
STACK = "sample-image"
ALLOWED = "platform/sample-app:sample-*:privileged"


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    # `docker build` needs CodeBuild's privileged mode: the platform team opts this repository in.
    with sample_app_on_local_cloud("stepdeploy-image-", app=APP, allowed_repositories=ALLOWED) as demo:
        demo.cloud.client("ecr").create_repository(repositoryName="hello-image")
        execution = wait_for_execution(
            ExecutionView(demo.sfn, demo.push("First version", {})), console=demo.console, live=False, timeout=300
        )
        found: dict[str, Any] = {"execution": execution}
        if execution["status"] == "SUCCEEDED":
            stack = demo.cloud.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
            function = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["FunctionName"]
            client = demo.cloud.client("lambda")
            found["config"] = client.get_function(FunctionName=function, Qualifier="live")
            answer = client.invoke(FunctionName=function, Qualifier="live", Payload=b"{}")
            found["answer"] = (answer.get("FunctionError"), json.loads(answer["Payload"].read()))
            found["images"] = demo.cloud.client("ecr").describe_images(repositoryName="hello-image")["imageDetails"]
        yield found


def test_the_image_is_built_pushed_and_deployed(run):
    assert run["execution"]["status"] == "SUCCEEDED", run["execution"].get("cause")
    [image] = run["images"]
    [tag] = image["imageTags"]
    assert run["config"]["Configuration"]["PackageType"] == "Image"
    assert run["config"]["Code"]["ImageUri"].endswith(f"/hello-image:{tag}")


def test_the_alias_answers_from_the_image_handler(run):
    assert run["answer"] == (None, {"image": True, "python": "3.12", "release": "r1"})
