"""A canary carries real traffic: an app shaped like the public SAM samples (HTTP API + REST API +
DynamoDB, a function URL, SQS + DLQ, EventBridge Scheduler and a schedule rule, a layer), deployed by
the whole pipeline on the local cloud. Traffic goes through each event source and is counted by the version
that answered or processed it.

1. first push: every source reaches version 1 through the alias;
2. new code with a 30 % canary: about 30 % of each source's invocations reach version 2 (tolerance
   of five binomial deviations for the sample size); the deployment is then stopped with rollback
   and every source is back on version 1;
3. a push that changes nothing deployable: a no-op, and every source still invokes the alias.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo import traffic
from stepdeploy_cli.demo.runner import Demo, sample_app_on_local_cloud
from stepdeploy_cli.watch import ExecutionView, wait_for_execution
from stepdeploy_localcloud.events.schedules import fire_rule, fire_schedule

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "shop"
STACK = "sample-shop"
FUNCTIONS = ("ApiFunction", "WorkerFunction", "TickFunction")
WEIGHT = 0.30
SAMPLES = 120


def wait(demo: Demo, execution_arn: str) -> dict[str, Any]:
    view = ExecutionView(demo.sfn, execution_arn)
    return wait_for_execution(view, console=demo.console, live=False, timeout=300)


class Shop:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        cloud = demo.cloud
        cfn = cloud.client("cloudformation")
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        self.resources = {
            r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        }
        self.table = cloud.resource("dynamodb").Table(self.outputs["TableName"])
        self.sqs = cloud.client("sqs")
        self.lam = cloud.client("lambda")

    def physical(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["PhysicalResourceId"])

    def of_type(self, resource_type: str) -> list[str]:
        return [str(r["PhysicalResourceId"]) for r in self.resources.values() if r["ResourceType"] == resource_type]

    def splits(self, samples: int) -> dict[str, traffic.Split]:
        url = self.demo.cloud.url
        schedule = next(s for s in self.of_type("AWS::Scheduler::Schedule"))
        rule = next(r for r in self.of_type("AWS::Events::Rule"))
        return {
            "http api": traffic.through_api(traffic.api_url(url, self.outputs["HttpApiId"], "/hello"), samples),
            "rest api": traffic.through_api(traffic.api_url(url, self.outputs["RestApiId"], "/hello", "Prod"), samples),
            "function url": traffic.through_api(
                f"{url}/_aws/lambda-url/{self.outputs['ApiFunctionName']}/hello", samples
            ),
            "sqs": traffic.through_queue(self.sqs, self.outputs["QueueUrl"], self.table, samples),
            "scheduler": traffic.through_schedule(
                lambda: fire_schedule(schedule), self.table, samples, "tick-scheduler"
            ),
            "schedule rule": traffic.through_schedule(
                lambda: fire_rule(rule.split("|")[-1]), self.table, samples // 2, "tick-rule"
            ),
        }

    def routing(self) -> dict[str, dict[str, Any]]:
        return {f: self.lam.get_alias(FunctionName=self.physical(f), Name="live") for f in FUNCTIONS}


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    random.seed(13)  # the local alias routing draws from random: the same draws on every run
    with sample_app_on_local_cloud("stepdeploy-canary-", app=APP) as demo:
        found: dict[str, Any] = {}
        first = wait(demo, demo.push("First version", {}))
        found["first"] = first
        if first["status"] != "SUCCEEDED":
            yield found
            return
        shop = Shop(demo)
        found["shop"] = shop
        found["first_split"] = shop.splits(20)

        edits = {
            f"{d}/app.py": (APP / d / "app.py").read_text().replace('"r1"', '"r2"') for d in ("api", "worker", "tick")
        }
        canary_arn = demo.push("Release 2", edits)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            aliases = shop.routing()
            if all((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") for a in aliases.values()):
                break
            time.sleep(0.2)
        found["canary_aliases"] = shop.routing()
        found["canary_split"] = shop.splits(SAMPLES)
        print("canary split:", {source: dict(split) for source, split in found["canary_split"].items()})
        codedeploy = demo.cloud.client("codedeploy")
        for deployment_id in codedeploy.list_deployments(includeOnlyStatuses=["InProgress"])["deployments"]:
            codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        found["canary"] = wait(demo, canary_arn)
        found["rolled_back_split"] = shop.splits(20)
        found["rolled_back_aliases"] = shop.routing()

        found["noop"] = wait(demo, demo.push("Docs only", {"README.md": "The shop.\n"}))
        shop = Shop(demo)
        found["noop_split"] = shop.splits(10)
        found["noop_shop"] = shop
        yield found


def only(split: traffic.Split, version: str) -> bool:
    return sum(split.values()) > 0 and set(split) == {version}


def test_first_deploy_puts_every_source_on_the_alias(run):
    assert run["first"]["status"] == "SUCCEEDED", run["first"].get("cause")
    for source, split in run["first_split"].items():
        assert only(split, "1"), f"{source}: {dict(split)}"


def test_a_canary_carries_its_share_of_every_sources_real_traffic(run):
    for function, alias in run["canary_aliases"].items():
        assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": WEIGHT}, function
    for source, split in run["canary_split"].items():
        samples = sum(split.values())
        assert samples >= SAMPLES // 2, f"{source}: only {samples} invocations counted"
        assert set(split) <= {"1", "2"}, f"{source}: {dict(split)}"
        measured = traffic.share(split, "2")
        assert abs(measured - WEIGHT) <= traffic.tolerance(WEIGHT, samples), (
            f"{source}: version 2 served {measured:.1%} of {samples} invocations; the canary is {WEIGHT:.0%}"
        )


def test_a_rollback_returns_every_source_to_the_old_version(run):
    assert run["canary"]["status"] == "FAILED" and run["canary"]["error"] == "DeploymentRolledBack", run["canary"]
    for function, alias in run["rolled_back_aliases"].items():
        assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights"
        ), function
    for source, split in run["rolled_back_split"].items():
        assert only(split, "1"), f"{source}: {dict(split)}"


def test_a_noop_deploy_leaves_every_source_on_the_alias(run):
    assert run["noop"]["status"] == "SUCCEEDED", run["noop"].get("cause")
    shop: Shop = run["noop_shop"]
    for source, split in run["noop_split"].items():
        assert only(split, "1"), f"{source}: {dict(split)}"
    queue_arn = shop.sqs.get_queue_attributes(QueueUrl=shop.outputs["QueueUrl"], AttributeNames=["QueueArn"])
    mappings = shop.lam.list_event_source_mappings(EventSourceArn=queue_arn["Attributes"]["QueueArn"])
    assert [m["FunctionArn"] for m in mappings["EventSourceMappings"]] == [
        f"arn:aws:lambda:us-east-1:123456789012:function:{shop.physical('WorkerFunction')}:live"
    ]
