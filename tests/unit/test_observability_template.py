"""template.yaml's dashboard and notification rules, checked without a cloud.

The dashboard body must be JSON once !Sub has filled it, show every metric the code emits and every
function's errors; the notification rules must match failed executions and rollbacks of this
orchestrator only, and render a message that says what failed, where, with the console link.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from stepdeploy import observability
from stepdeploy.template import cfn_yaml
from stepdeploy_localcloud.events.patch import render_input_template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn_yaml.load((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PSEUDO = {"AWS::StackName": "stepdeploy", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
          "AWS::Partition": "aws"}
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:stepdeploy-deploy"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:stepdeploy-deploy:sample-app-main-f2375f7-fd3dcd"


def substituted(value: Any) -> Any:
    """Fn::Sub and Ref filled as CloudFormation would: pseudo parameters, resources by logical id."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        assert isinstance(text, str), "only the string form of Fn::Sub is used here"

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in PSEUDO:
                return PSEUDO[name]
            logical = name.split(".")[0]
            assert logical in RESOURCES or logical in TEMPLATE["Parameters"], f"${{{name}}} names nothing"
            return f"{logical}-physical"

        return re.sub(r"\$\{([^}!]+)\}", fill, text)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"{value['Ref']}-ref" if value["Ref"] not in PSEUDO else PSEUDO[value["Ref"]]
    if isinstance(value, dict):
        return {k: substituted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substituted(v) for v in value]
    return value


def dashboard() -> dict[str, Any]:
    (name,) = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    return dict(json.loads(substituted(RESOURCES[name]["Properties"]["DashboardBody"])))


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for w in body["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def test_dashboard_shows_every_metric_the_pipeline_emits():
    text = json.dumps(dashboard())
    emitted = [*observability.OUTCOME_COUNTERS, observability.STARTED, observability.DURATION, observability.LEAD_TIME,
               observability.GHE_UNAVAILABLE, observability.GHE_REJECTED, *observability.PHASE_METRICS.values()]
    missing = [name for name in emitted if f'"{name}"' not in text and f'MetricName=\\"{name}\\"' not in text]
    assert missing == []


def test_dashboard_metric_rows_are_well_formed_and_use_the_emitted_namespace():
    rows = metric_rows(dashboard())
    for row in rows:
        if isinstance(row[0], dict):
            assert "expression" in row[0] and "{stepdeploy,repository,service,stack}" in row[0]["expression"]
        else:
            names = [item for item in row if not isinstance(item, dict)]
            assert names[0] == "..." or len(names) % 2 == 0, row  # namespace, metric, then name/value pairs
    namespaces = {row[0] for row in rows if isinstance(row[0], str) and row[0] not in (".", "...")}
    assert namespaces == {observability.NAMESPACE, "AWS/States", "AWS/Lambda", "AWS/SQS"}
    assert any(MACHINE in row for row in rows)


def test_dashboard_shows_errors_of_every_function():
    functions = {n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    shown = {str(row[3]).removesuffix("-physical") for row in metric_rows(dashboard())
             if not isinstance(row[0], dict) and row[1] in ("Errors", ".") and len(row) > 3}
    assert functions <= shown, f"add to the dashboard's Function errors widget: {sorted(functions - shown)}"


def rule(name: str) -> dict[str, Any]:
    resource = RESOURCES[name]
    assert resource["Type"] == "AWS::Events::Rule" and resource["Condition"] == "HasTopic"
    return dict(substituted(resource["Properties"]))


def status_event(status: str, *, machine: str = MACHINE, error: str | None = None, cause: str | None = None
                 ) -> dict[str, Any]:
    detail = {"executionArn": EXECUTION, "stateMachineArn": machine, "name": EXECUTION.rsplit(":", 1)[-1],
              "status": status, "startDate": 1795460640000, "stopDate": 1795460660000}
    if error is not None:
        detail.update(error=error, cause=cause or "")
    return {"version": "0", "id": "e", "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": "123456789012", "time": "2026-11-23T18:04:20Z",
            "region": "eu-west-1", "resources": [EXECUTION], "detail": detail}


def matches(properties: dict[str, Any], event: dict[str, Any]) -> bool:
    pattern = properties["EventPattern"]
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)


def rendered(properties: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    (target,) = properties["Targets"]
    assert target["Arn"] == "NotificationTopicArn-ref"
    transformer = target["InputTransformer"]
    text = render_input_template(transformer["InputTemplate"], transformer["InputPathsMap"], event,
                                 rule_name="r", rule_arn="arn:aws:events:eu-west-1:123456789012:rule/r")
    return dict(json.loads(text))


def test_failed_timed_out_and_aborted_executions_of_this_orchestrator_notify():
    properties = rule("ExecutionFailedNotification")
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        assert matches(properties, status_event(status))
    assert not matches(properties, status_event("SUCCEEDED"))
    assert not matches(properties, status_event("FAILED", machine=MACHINE.replace("stepdeploy-deploy", "other")))


def test_failure_message_says_what_failed_where_and_links_the_execution():
    cause = 'Alarm "GreeterErrorsAlarm" fired during the canary; traffic moved back to version 2'
    message = rendered(rule("ExecutionFailedNotification"),
                       status_event("FAILED", error="DeploymentRolledBack", cause=cause))
    assert "sample-app-main-f2375f7-fd3dcd" in message["subject"] and "FAILED" in message["subject"]
    assert "DeploymentRolledBack" in message["what"]
    assert message["cause"] == cause  # quotes in the cause keep the message valid JSON
    assert "stepdeploy-deploy" in message["where"] and "eu-west-1" in message["where"]
    assert message["link"] == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" + EXECUTION
    )


def test_codedeploy_rollbacks_of_our_application_notify_with_a_link():
    properties = rule("RollbackNotification")
    event = {"version": "0", "id": "e", "detail-type": "CodeDeploy Deployment State-change Notification",
             "source": "aws.codedeploy", "account": "123456789012", "time": "2026-11-23T18:04:20Z",
             "region": "eu-west-1", "resources": [],
             "detail": {"application": "DeployApplication-ref", "deploymentId": "d-ABC123",
                        "deploymentGroup": "sample-prod-GreeterFunction", "state": "STOP"}}
    assert matches(properties, event)
    assert not matches(properties, {**event, "detail": {**event["detail"], "state": "SUCCESS"}})
    assert not matches(properties, {**event, "detail": {**event["detail"], "application": "someone-else"}})
    message = rendered(properties, event)
    assert "sample-prod-GreeterFunction" in message["subject"] and "d-ABC123" in message["what"]
    assert message["link"].endswith("/codesuite/codedeploy/deployments/d-ABC123?region=eu-west-1")
