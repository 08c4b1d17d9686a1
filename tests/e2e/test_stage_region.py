"""A target in another region, in another account or in the orchestrator's own: the local cloud deploys
the stage template in its second account (222222222222) in the orchestrator's region and again in
eu-west-1 (``LocalCloud.stage_regions``), where it makes the code bucket of that region; for the
orchestrator's own account (then listed in its StageAccounts), in eu-west-1 only. A push whose target
names the region deploys the sample app in eu-west-1: the packaged code and template are copied into that
bucket (Lambda reads code only from a bucket of its own region), the function answers through its alias
there, and the waits resume on the events that the stage's rule in eu-west-1 forwards to the
orchestrator's bus in us-east-1. A region without the stage template is refused before the build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import GREETER_V2, STACK, sample_app_on_local_cloud
from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.cloud import STAGE_ACCOUNT, STAGE_REGION

from .test_stage_account import history, slow_stack_operations, waits

pytestmark = pytest.mark.e2e

HOME = endpoint.ACCOUNT_ID
PLACEMENTS: dict[str, dict[str, Any]] = {
    # the account -> the local cloud's options: the second account (its roles made in us-east-1, at start),
    # or the orchestrator's own account, listed in StageAccounts, with the stage template in eu-west-1 only
    STAGE_ACCOUNT: {},
    HOME: {"stage_accounts": (STAGE_ACCOUNT, HOME), "stage_regions": ((HOME, STAGE_REGION),)},
}
CONFIG = """version: 1
targets:
  - branch: main
    stack: {stack}
    environment: staging
    account: "{account}"
    region: {region}
    parameters:
      Greeting: Hello
    deployment:
      alias: live
      strategy: LambdaCanary10Percent5Minutes  # the shift lasts: its end comes as an event
      alarms: [GreeterErrorsAlarm]
      bake_minutes: 1
"""


@pytest.fixture(scope="module", params=list(PLACEMENTS), ids=["stage-account", "own-account"])
def run(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    account = request.param
    config = CONFIG.format(stack=STACK, account=account, region=STAGE_REGION)
    with sample_app_on_local_cloud("stepdeploy-region-", cloud_options=PLACEMENTS[account]) as demo:
        cloud = demo.cloud
        slow_stack_operations()
        results: dict[str, Any] = {"account": account, "bucket": f"stepdeploy-code-{account}-{STAGE_REGION}"}
        results["deploy"] = demo.run(
            f"deploy into {STAGE_REGION} of account {account}",
            lambda: demo.push(f"Deploy to {account} in {STAGE_REGION}", {"stepdeploy.yml": config}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["deploy"]["history"] = history(demo, results["deploy"]["execution_arn"])
        results["shift"] = demo.run(
            f"code change shifted in {STAGE_REGION}",
            lambda: demo.push("Greeter v2", {"greeter/app.py": GREETER_V2}),
            lambda r: r["status"] == "SUCCEEDED",
        )
        results["shift"]["history"] = history(demo, results["shift"]["execution_arn"])
        results["unprovisioned"] = demo.run(
            "a region without the stage template",
            lambda: demo.push("To ap-south-1", {"stepdeploy.yml": config.replace(STAGE_REGION, "ap-south-1")}),
            lambda r: r["status"] == "FAILED",
        )
        results["unprovisioned"]["history"] = history(demo, results["unprovisioned"]["execution_arn"])
        yield {"cloud": cloud, "demo": demo, **results}


def in_stage(run: dict[str, Any], service: str) -> Any:
    return run["cloud"].account_client(service, run["account"], STAGE_REGION)


def test_the_stack_lives_in_the_stage_region_only(run):
    assert run["deploy"]["status"] == "SUCCEEDED", run["deploy"].get("cause")
    stack = in_stage(run, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackId"].split(":")[3:5] == [STAGE_REGION, run["account"]]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"  # created by the first push, updated by the second
    for account in (HOME, STAGE_ACCOUNT):  # nowhere in the orchestrator's region
        cfn = run["cloud"].account_client("cloudformation", account)
        assert STACK not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]], account


def test_the_code_is_read_from_the_bucket_of_the_stages_region(run):
    cloud, bucket = run["cloud"], run["bucket"]
    assert cloud.regional_stages[(run["account"], STAGE_REGION)]["CodeBucketName"] == bucket
    stack = in_stage(run, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["StepdeployArtifactBucket"] == bucket
    regional, home = in_stage(run, "s3"), cloud.client("s3")
    keys = [key for name, key in parameters.items() if name.endswith("CodeKey")]
    assert keys
    for key in keys:  # the very bytes the orchestrator packaged, under the same key
        copied = regional.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert copied == home.get_object(Bucket=cloud.orchestrator.artifact_bucket, Key=key)["Body"].read()


def test_the_function_answers_through_its_alias_in_the_stage_region(run):
    resources = in_stage(run, "cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    greeter = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "GreeterFunction")
    lam = in_stage(run, "lambda")
    assert run["shift"]["status"] == "SUCCEEDED", run["shift"].get("cause")
    alias = lam.get_alias(FunctionName=greeter, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert alias["AliasArn"].startswith(f"arn:aws:lambda:{STAGE_REGION}:{run['account']}:function:")
    answer = lam.invoke(FunctionName=f"{greeter}:live", Payload=json.dumps({"name": "Ada"}).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert "Hello, Ada! Welcome back." in answer["Payload"].read().decode()


def test_application_roles_carry_the_stage_boundary_which_in_the_own_account_denies_the_orchestrator(run):
    boundary = f"arn:aws:iam::{run['account']}:policy/stepdeploy-stage-boundary"
    iam = run["cloud"].account_client("iam", run["account"])
    resources = in_stage(run, "cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    roles = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::Role"]
    assert roles
    for name in roles:
        assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    version = iam.get_policy(PolicyArn=boundary)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=boundary, VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    sids = {s.get("Sid") for s in document["Statement"]}
    assert ("NeverTheOrchestrator" in sids) == (run["account"] == HOME), sids


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
    assert f"no stage template is deployed in ap-south-1 of account {run['account']}" in cause
    assert f"stepdeploy-code-{run['account']}-ap-south-1" in cause and "OrchestratorRegion=us-east-1" in cause
    entered = {e["stateEnteredEventDetails"]["name"] for e in refused["history"] if e["type"].endswith("StateEntered")}
    assert "Start build" not in entered
