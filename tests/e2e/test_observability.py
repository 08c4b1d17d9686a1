"""Observability end to end on the local cloud: what GHE, the logs, the ledger and the topic receive.

One local cloud for the module and three real pushes through the webhook: a first deployment; a code
change during whose build GHE goes down (it still deploys, and the failed GHE call is counted); a push
whose build fails. The template's failure notification rule is installed with a topic (the local
cloud provisions the orchestrator without one) that an SQS queue listens to.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdeploy.template import cfn_yaml
from stepdeploy_cli.demo.runner import (
    FAILING_TEST,
    GREETER_FIXED,
    GREETER_V2,
    OWNER,
    REPO,
    STACK,
    git,
    sample_app_on_local_cloud,
)
from stepdeploy_cli.main import app
from stepdeploy_localcloud.cloud import PROJECT_ROOT, LocalCloud

pytestmark = pytest.mark.e2e

REPOSITORY = f"{OWNER}/{REPO}"


def wait_until_entered(cloud: LocalCloud, execution_arn: str, state: str, timeout: float = 120.0) -> None:
    sfn = cloud.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events):
            return
        if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            raise AssertionError(f"{execution_arn} ended before entering {state!r}")
        time.sleep(0.05)
    raise TimeoutError(f"{execution_arn} did not enter {state!r} within {timeout:.0f}s")


def install_failure_notification(cloud: LocalCloud) -> str:
    """The template's ExecutionFailedNotification rule, aimed at a new topic; returns the listening queue's URL."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="deployments")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="deployment-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    names = {"AWS::StackName": cloud.stack_name, "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
             "AWS::Partition": "aws", "NotificationTopicArn": topic}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return names[value["Ref"]]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    template = cfn_yaml.load((PROJECT_ROOT / "template.yaml").read_text())
    rule = resolve(template["Resources"]["ExecutionFailedNotification"]["Properties"])
    events = cloud.client("events")
    events.put_rule(Name="deployment-failed", EventPattern=json.dumps(rule["EventPattern"]))
    events.put_targets(Rule="deployment-failed", Targets=rule["Targets"])
    return str(queue_url)


@pytest.fixture(scope="module")
def story() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-observability-") as demo:
        cloud, worktree = demo.cloud, demo.worktree
        queue_url = install_failure_notification(cloud)
        runs: dict[str, dict[str, Any]] = {}

        runs["first"] = demo.run("first", lambda: demo.push("First version", {}), lambda r: True)
        runs["first"]["commit"] = git(worktree, "rev-parse", "HEAD")

        def push_then_ghe_goes_down() -> str:
            arn = demo.push("Greeter says welcome back", {"greeter/app.py": GREETER_V2})
            wait_until_entered(cloud, arn, "Start build")  # pending status and deployment record are posted
            cloud.ghe.set_outage(True)
            return arn

        try:
            runs["outage"] = demo.run("outage", push_then_ghe_goes_down, lambda r: True)
        finally:
            cloud.ghe.set_outage(False)
        runs["outage"]["commit"] = git(worktree, "rev-parse", "HEAD")

        failing = {"greeter/app.py": GREETER_FIXED, "tests/test_polite.py": FAILING_TEST}
        runs["failed"] = demo.run("failed", lambda: demo.push("A failing test", failing), lambda r: True)
        runs["failed"]["commit"] = git(worktree, "rev-parse", "HEAD")
        yield {"cloud": cloud, "runs": runs, "queue_url": queue_url}


def emf(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    """The EMF blobs a function printed, read back from its CloudWatch Logs group."""
    group = f"/aws/lambda/{cloud.orchestrator.resources[logical_id]}"  # type: ignore[union-attr]
    pages = cloud.client("logs").get_paginator("filter_log_events").paginate(logGroupName=group)
    messages = [event["message"] for page in pages for event in page["events"]]
    return [json.loads(m) for m in messages if m.startswith('{"_aws"')]


def test_the_three_runs_ended_as_expected(story):
    runs = story["runs"]
    assert (runs["first"]["status"], runs["first"]["outcome"]) == ("SUCCEEDED", "Deployed"), runs["first"]
    assert (runs["outage"]["status"], runs["outage"]["outcome"]) == ("SUCCEEDED", "Deployed"), runs["outage"]
    assert (runs["failed"]["status"], runs["failed"]["error"]) == ("FAILED", "BuildFailed")


def test_ghe_got_pending_then_success_and_a_deployment_record_with_its_statuses(story):
    ghe, run = story["cloud"].ghe, story["runs"]["first"]
    statuses = ghe.statuses(OWNER, REPO, run["commit"])
    assert [(s["state"], s["context"]) for s in statuses] == [
        ("success", "stepdeploy/production"), ("pending", "stepdeploy/production")
    ]
    # On the local cloud the link is the local dashboard's page of the execution.
    assert statuses[0]["target_url"].endswith("/dashboard/#execution=" + run["execution_arn"].rsplit(":", 1)[-1])
    (deployment,) = [d for d in ghe.deployments(OWNER, REPO) if d["sha"] == run["commit"]]
    assert deployment["environment"] == "production"
    assert deployment["payload"]["execution"] == run["execution_arn"] and deployment["payload"]["stack"] == STACK
    assert [s["state"] for s in ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["success", "in_progress"]


def test_a_failed_build_is_a_failure_status_and_a_failed_deployment_record(story):
    ghe, run = story["cloud"].ghe, story["runs"]["failed"]
    latest = ghe.statuses(OWNER, REPO, run["commit"])[0]
    assert latest["state"] == "failure" and "BuildFailed" in latest["description"]
    (deployment,) = [d for d in ghe.deployments(OWNER, REPO) if d["sha"] == run["commit"]]
    assert ghe.deployment_statuses(OWNER, REPO, deployment["id"])[0]["state"] == "failure"


def test_a_ghe_outage_never_fails_the_deployment_and_is_counted(story):
    cloud, run = story["cloud"], story["runs"]["outage"]
    assert run["status"] == "SUCCEEDED"
    # GHE heard of the start only: the outcome could not be posted while it was down.
    assert [s["state"] for s in cloud.ghe.statuses(OWNER, REPO, run["commit"])] == ["pending"]
    (deployment,) = [d for d in cloud.ghe.deployments(OWNER, REPO) if d["sha"] == run["commit"]]
    assert [s["state"] for s in cloud.ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["in_progress"]
    outages = [b for b in emf(cloud, "RecordReleaseFunction") if "GheUnavailable" in b]
    assert len(outages) == 1  # one failed call, then the step stopped calling GHE
    assert outages[0]["GheUnavailable"] == [1.0] and outages[0]["repository"] == REPOSITORY
    assert outages[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


def test_emf_metric_lines_for_every_start_and_outcome(story):
    cloud, runs = story["cloud"], story["runs"]
    started = [b for b in emf(cloud, "AcquireLockFunction") if "DeploymentStarted" in b]
    assert sorted(b["execution"] for b in started) == sorted(r["execution_arn"] for r in runs.values())
    assert all((b["repository"], b["stack"], b["DeploymentStarted"]) == (REPOSITORY, STACK, [1.0]) for b in started)

    ended = {b["execution"]: b for b in emf(cloud, "RecordReleaseFunction") if "DeploymentDuration" in b}
    assert set(ended) == {r["execution_arn"] for r in runs.values()}
    first, failed = ended[runs["first"]["execution_arn"]], ended[runs["failed"]["execution_arn"]]
    assert (first["DeploymentSucceeded"], first["DeploymentFailed"]) == ([1.0], [0.0])
    assert (failed["DeploymentSucceeded"], failed["DeploymentFailed"]) == ([0.0], [1.0])
    assert failed["outcome"] == "BuildFailed"
    assert first["LeadTime"][0] >= first["DeploymentDuration"][0] > 0 and "LeadTime" not in failed
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "stepdeploy"
    assert directive["Dimensions"] == [["repository", "stack", "service"], ["service"]]


def test_stepdeploy_metrics_gives_the_dora_counts(story):
    cloud = story["cloud"]
    env = {"AWS_ENDPOINT_URL": cloud.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PROFILE": None,
           "STEPDEPLOY_STACK": cloud.stack_name}
    result = CliRunner().invoke(app, ["metrics", "--since", "1d", "--json"], env=env)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["figures"]
    assert (row["repository"], row["stack"]) == (REPOSITORY, STACK)
    assert row["outcomes"] == {"BuildFailed": 1, "Deployed": 2}
    assert (row["deployments"], row["changes"], row["change_failures"]) == (2, 2, 0)
    assert row["change_failure_rate"] == 0.0 and row["lead_time_samples"] == 2
    assert row["lead_time_median_seconds"] > 0 and row["deployments_per_day"] == 2.0

    table = CliRunner().invoke(app, ["metrics", "--stack", STACK], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0 and STACK in table.stdout and "0% (0/2)" in table.stdout
    empty = CliRunner().invoke(app, ["metrics", "--stack", "no-such-stack"], env=env)
    assert empty.exit_code == 0 and "no releases ended since" in empty.stdout
    wrong = CliRunner().invoke(app, ["metrics", "--since", "yesterday"], env=env)
    assert wrong.exit_code == 1 and "--since: expected a duration" in wrong.output


def test_a_failed_deployment_reaches_the_notification_topic_with_what_where_and_a_link(story):
    cloud, run = story["cloud"], story["runs"]["failed"]
    sqs = cloud.client("sqs")
    deadline, messages = time.monotonic() + 20, []
    while not messages and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=story["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = [json.loads(json.loads(m["Body"])["Message"]) for m in received.get("Messages", [])]
    (message,) = messages  # the two successful runs sent nothing
    name = run["execution_arn"].rsplit(":", 1)[-1]
    assert name in message["subject"] and "FAILED" in message["subject"]
    assert "BuildFailed" in message["what"] and "Logs:" in message["cause"]
    assert message["execution"] == run["execution_arn"]
    assert message["link"].endswith(f"#/v2/executions/details/{run['execution_arn']}")


def test_the_dashboard_is_deployed_with_the_real_names(story):
    cloud = story["cloud"]
    body = cloud.client("cloudwatch").get_dashboard(DashboardName=f"{cloud.stack_name}-deployments")["DashboardBody"]
    text = json.dumps(json.loads(body))
    assert cloud.orchestrator.state_machine_arn in text
    assert cloud.orchestrator.resources["RecordReleaseFunction"] in text
    assert "${" not in text
