"""Waiting costs nothing: the real state machine sleeps on task tokens that the services' events resume.

- A deployment's build, stack update and traffic shift are resumed by CodeBuild's, CloudFormation's
  and CodeDeploy's events (or by the wait's own first check when the operation was over before the
  token was stored); only the bake runs out its time.
- An event that never arrives (the rule is disabled for the test) costs the wait's time-out: then the
  Check task asks the service and the deployment ends as it would have.
- A late or repeated event finds no wait and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import GREETER_V2
from stepdeploy_dev.bench.token_waits import wait_outcomes

from .test_paths import Machine
from .test_paths import machine as machine  # noqa: F401 - the module-scoped fixture: a cloud per module

pytestmark = pytest.mark.statemachine


def history(machine: Machine, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in machine.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def resumed(machine: Machine, arn: str) -> dict[str, list[str]]:
    by_state: dict[str, list[str]] = {}
    for outcome in wait_outcomes(history(machine, arn)):
        by_state.setdefault(outcome.state, []).append(outcome.resumed_by)
    return by_state


def push_code_change(machine: Machine, text: str) -> dict[str, Any]:
    arn = machine.demo.push(text, {"greeter/app.py": GREETER_V2.replace("Welcome back.", text)})
    described = machine.finish(arn, timeout=180)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return described


def test_build_stack_update_and_traffic_shift_are_resumed_by_their_events(machine: Machine) -> None:
    described = push_code_change(machine, "resumed by events")
    waits = resumed(machine, described["executionArn"])

    assert waits["Wait for build"] == ["event"]  # the build outlives the step that stores the token
    assert waits["Wait for traffic shift"] == ["event"]
    assert waits["Wait for stack"] in (["event"], ["check"])  # a quick update may be over before the token
    assert set(waits["Wait while baking"]) == {"timeout"}  # the bake time ran out: no alarm fired
    path = machine.path(described["executionArn"])
    assert path.count("Check build") == path.count("Check stack") == path.count("Check traffic shift") == 1


def test_a_lost_event_costs_the_time_out_then_the_check_reconciles(machine: Machine) -> None:
    events = machine.cloud.client("events")
    rule = machine.function("ResumeWaitFunctionBuildEnded")
    events.disable_rule(Name=rule)  # CodeBuild's events are lost from here on
    try:
        described = push_code_change(machine, "event lost")
    finally:
        events.enable_rule(Name=rule)
    arn = described["executionArn"]
    waits = resumed(machine, arn)
    assert waits["Wait for build"] == ["timeout"]
    assert waits["Wait for traffic shift"] == ["event"]  # the other rules still deliver
    path = machine.path(arn)
    assert path[path.index("Wait for build") + 1] == "Check build"
    assert path.count("Wait for build") == 1  # the check found the build over: no second wait
    assert path[-1] == "Deployed"


def test_a_late_event_finds_no_wait_and_changes_nothing(machine: Machine) -> None:
    described = push_code_change(machine, "late event")
    document = json.loads(described["output"])
    build_id = document["build"]["build_id"]
    late = {
        "version": "0", "id": "late-1", "detail-type": "CodeBuild Build State Change", "source": "aws.codebuild",
        "account": "123456789012", "time": "2026-11-23T18:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:codebuild:us-east-1:123456789012:build/{build_id}"],
        "detail": {"build-status": "SUCCEEDED", "project-name": build_id.split(":")[0],
                   "build-id": f"arn:aws:codebuild:us-east-1:123456789012:build/{build_id}"},
    }
    late_alarm = {
        "version": "0", "id": "late-2", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-11-23T18:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"alarmName": document["bake"]["alarms"][0], "state": {"value": "ALARM", "reason": "late"},
                   "previousState": {"value": "OK", "reason": ""}, "configuration": {}},
    }
    lam = machine.cloud.client("lambda")
    results = [json.loads(lam.invoke(FunctionName=machine.function("ResumeWaitFunction"),
                                     Payload=json.dumps(event).encode())["Payload"].read())
               for event in (late, late_alarm)]

    # The build's wait was resumed and taken out of the ledger: the late event finds none.
    assert results[0]["resumed"] is False and results[0]["key"] == build_id, results[0]
    # The bake's wait ran out its time; its token is gone, so an alarm firing afterwards resumes nothing.
    assert results[1]["resumed"] is False, results[1]
    assert machine.sfn.describe_execution(executionArn=described["executionArn"])["status"] == "SUCCEEDED"
    assert machine.path(described["executionArn"])[-1] == "Deployed"
