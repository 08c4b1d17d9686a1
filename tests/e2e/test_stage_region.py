"""A target in another account and region: the local cloud deploys the stage template in its second
account (222222222222) in the orchestrator's region and again in eu-west-1 (``LocalCloud.stage_regions``),
where it makes the code bucket of that region. A push whose target names both deploys the sample app in
eu-west-1: the packaged code and template are copied into that bucket (Lambda reads code only from a
bucket of its own region), the function answers through its alias there, and the waits resume on the
events that the stage's rule in eu-west-1 forwards to the orchestrator's bus in us-east-1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy_cli.demo import GREETER_V2, STACK, sample_app_on_local_cloud
from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.cloud import STAGE_ACCOUNT, STAGE_REGION

from .test_stage_account import history, waits

pytestmark = pytest.mark.e2e

CODE_BUCKET = f"stepdeploy-code-{STAGE_ACCOUNT}-{STAGE_REGION}"
CONFIG = f"""version: 1
targets:
  - branch: main
    stack: {STACK}
    environment: staging
    account: "{STAGE_ACCOUNT}"
    region: {STAGE_REGION}
    parameters:
      Greeting: Hello
    deployment:
      alias: live
      strategy: LambdaCanary10Percent5Minutes  # the shift lasts: its end comes as an event
      alarms: [GreeterErrorsAlarm]
      bake_minutes: 1
"""


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-region-") as demo:
        cloud = demo.cloud
        results: dict[str, Any] = {}
        results["deploy"] = demo.run(
            "deploy into eu-west-1 of the stage account",
            lambda: demo.push(f"Deploy to {STAGE_ACCOUNT} in {STAGE_REGION}", {"stepdeploy.yml": CONFIG}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["deploy"]["history"] = history(demo, results["deploy"]["execution_arn"])
        results["shift"] = demo.run(
            "code change shifted in eu-west-1",
            lambda: demo.push("Greeter v2", {"greeter/app.py": GREETER_V2}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["shift"]["history"] = history(demo, results["shift"]["execution_arn"])
        results["unprovisioned"] = demo.run(
            "a region without the stage template",
            lambda: demo.push("To ap-south-1", {"stepdeploy.yml": CONFIG.replace(STAGE_REGION, "ap-south-1")}),
            lambda r: r["status"] == "FAILED",
        )
        results["unprovisioned"]["history"] = history(demo, results["unprovisioned"]["execution_arn"])
        yield {"cloud": cloud, "demo": demo, **results}


def test_the_stack_lives_in_the_stage_region_only(run):
    assert run["deploy"]["status"] == "SUCCEEDED", run["deploy"].get("cause")
    cloud = run["cloud"]
    stack = cloud.account_client("cloudformation", STAGE_ACCOUNT, STAGE_REGION).describe_stacks(
        StackName=STACK)["Stacks"][0]
    assert stack["StackId"].split(":")[3:5] == [STAGE_REGION, STAGE_ACCOUNT]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"  # created by the first push, updated by the second
    for account in (endpoint.ACCOUNT_ID, STAGE_ACCOUNT):  # nowhere in the orchestrator's region
        names = [s["StackName"] for s in cloud.account_client("cloudformation", account).describe_stacks()["Stacks"]]
        assert STACK not in names, account


def test_the_code_is_read_from_the_bucket_of_the_stages_region(run):
    cloud = run["cloud"]
    assert cloud.regional_stages[(STAGE_ACCOUNT, STAGE_REGION)]["CodeBucketName"] == CODE_BUCKET
    stack = cloud.account_client("cloudformation", STAGE_ACCOUNT, STAGE_REGION).describe_stacks(
        StackName=STACK)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["StepdeployArtifactBucket"] == CODE_BUCKET
    regional = cloud.account_client("s3", STAGE_ACCOUNT, STAGE_REGION)
    home = cloud.client("s3")
    for name, key in parameters.items():
        if name.endswith("CodeKey"):  # the very bytes the orchestrator packaged, under the same key
            copied = regional.get_object(Bucket=CODE_BUCKET, Key=key)["Body"].read()
            assert copied == home.get_object(Bucket=cloud.orchestrator.artifact_bucket, Key=key)["Body"].read()


def test_the_function_answers_through_its_alias_in_the_stage_region(run):
    cloud = run["cloud"]
    resources = cloud.account_client("cloudformation", STAGE_ACCOUNT, STAGE_REGION).describe_stack_resources(
        StackName=STACK)["StackResources"]
    greeter = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "GreeterFunction")
    lam = cloud.account_client("lambda", STAGE_ACCOUNT, STAGE_REGION)
    assert run["shift"]["status"] == "SUCCEEDED", run["shift"].get("cause")
    alias = lam.get_alias(FunctionName=greeter, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert alias["AliasArn"].startswith(f"arn:aws:lambda:{STAGE_REGION}:{STAGE_ACCOUNT}:function:")
    answer = lam.invoke(FunctionName=f"{greeter}:live", Payload=json.dumps({"name": "Ada"}).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert "Hello, Ada! Welcome back." in answer["Payload"].read().decode()


def test_the_forwarded_events_of_the_stage_region_resume_the_waits(run):
    created = {w["wait"]: w["resumed_by"] for w in waits(run["deploy"]["history"])}
    assert created.get("stack") == "event", created  # a CloudFormation event of eu-west-1, forwarded
    shifted = {w["wait"]: w["resumed_by"] for w in waits(run["shift"]["history"])}
    assert shifted.get("shift") == "event", shifted  # a CodeDeploy event of eu-west-1, forwarded
    assert shifted.get("stack") == "event", shifted


def test_a_region_without_the_stage_template_is_refused_before_the_build(run):
    refused = run["unprovisioned"]
    assert (refused["status"], refused["error"]) == ("FAILED", "RequestRejected")
    cause = str(refused["cause"])
    assert f"no stage template is deployed in ap-south-1 of account {STAGE_ACCOUNT}" in cause
    assert f"stepdeploy-code-{STAGE_ACCOUNT}-ap-south-1" in cause and "OrchestratorRegion=us-east-1" in cause
    entered = {e["stateEnteredEventDetails"]["name"] for e in refused["history"] if e["type"].endswith("StateEntered")}
    assert "Start build" not in entered
