"""Check stage gates: may the promotion into this stage of the pipeline start now?

Runs inside the pipeline's Map, once per stage, before the stage's child execution. A newer commit
reaching the same gate supersedes this one (superseded mode). Open gates give the child's name (the
parent's name and the stage) and input: the same event and the same build, so the stage deploys the
artifact built once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stepdeploy.aws.accounts import deploying_into, stage_of
from stepdeploy.aws.alarms import Alarms, resolve_alarm_names
from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.ledger import ledger
from stepdeploy.errors import StageGateFailed
from stepdeploy.models import Document, ExecutionContext, GateInfo, StagePlan, utc_now
from stepdeploy.release.stage_gates import Decision, soak_decision, verdict_of_test, window_decision
from stepdeploy.settings import settings

MAX_EXECUTION_NAME = 80
Clock = Callable[[], datetime]
clock: Clock = utc_now


def child_name(parent: str, stage: str) -> str:
    """``<parent execution>-<stage>``: the stage stays readable when the parent's name is cut."""
    return f"{parent[: MAX_EXECUTION_NAME - len(stage) - 1]}-{stage}"


def _deployed_at(stack: str, commit: str | None) -> datetime | None:
    for release in ledger().releases_of(stack, limit=20):
        if release.get("commit") == commit and release.get("outcome") in ("Deployed", "NoChanges"):
            return datetime.fromisoformat(str(release["ended_at"]).replace("Z", "+00:00"))
    return None


def _firing(previous: StagePlan, alarms: list[str]) -> dict[str, str]:
    """The previous stage's deployment alarms (stepdeploy.yml's names or logical ids) that are in ALARM."""
    names = resolve_alarm_names(CloudFormation(), previous.stack, alarms)
    return Alarms().in_alarm(names) if names else {}


def _run_test(stage: str, previous: StagePlan, function: str, document: Document) -> str:
    request = document.require_request()
    cfn = CloudFormation()
    resource = cfn.resource(previous.stack, function)
    name = str(resource["PhysicalResourceId"]) if resource and resource.get("ResourceType") in (
        "AWS::Lambda::Function", "AWS::Serverless::Function") else function
    stack = cfn.describe_stack(previous.stack) or {}
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}
    payload = {"repository": request.repository, "commit": request.commit, "stage": previous.name,
               "stack": previous.stack, "outputs": outputs}
    answer = client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    body = answer["Payload"].read()
    if answer.get("FunctionError"):
        raise StageGateFailed(f"stage {stage}: test {function} raised: {body[:500].decode(errors='replace')}")
    try:
        verdict = json.loads(body)
    except ValueError:
        verdict = body[:200].decode(errors="replace")
    return verdict_of_test(stage, previous.name, function, verdict)


def _child_input(document: Document, stage: str, execution: ExecutionContext) -> dict[str, Any]:
    child: dict[str, Any] = {
        "source": document.source,
        "event": document.event,
        "stage": stage,
        "parent_execution": execution.id,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": execution.id,
    }
    if document.build is not None:
        child["build"] = document.build.model_dump(mode="json", exclude_none=True)
    return child


def _gates_after(plan: StagePlan, previous: StagePlan, document: Document, commit: str | None,
                 now: datetime) -> tuple[Decision | None, list[str]]:
    """The soak and the automated test, both read from the stage before."""
    waiting: Decision | None = None
    passed: list[str] = []
    if plan.gates.soak_minutes:
        firing = _firing(previous, previous.alarms) if previous.alarms else {}
        deployed_at = _deployed_at(previous.stack, commit)
        # The soak runs on the same clock as the state machine's waits (settings().poll.speed: 1 on AWS).
        soaked = deployed_at + (now - deployed_at) * settings().poll.speed if deployed_at else now
        waiting = soak_decision(plan.gates, plan.name, previous.name, deployed_at, soaked, firing)
    if waiting is None and plan.gates.test is not None:
        passed.append(_run_test(plan.name, previous, plan.gates.test.function, document))
    return waiting, passed


def check_stage_gates(document: Document, execution: ExecutionContext) -> GateInfo:
    request = document.require_request()
    if request.pipeline is None or execution.stage is None:
        raise ValueError("Check stage gates runs in the pipeline's Map: request.pipeline and execution.stage")
    stages = request.pipeline.stages
    index = next((i for i, s in enumerate(stages) if s.name == execution.stage), None)
    if index is None:
        raise ValueError(f"stage {execution.stage!r} is not in the pipeline ({', '.join(s.name for s in stages)})")
    plan = stages[index]
    assert request.target is not None
    if request.target.concurrency == "superseded":
        ledger().register_at_gate(plan.stack, execution.id, request.commit or "", request.requested_at)
    now = clock()
    waiting = window_decision(plan.gates, plan.name, now)
    passed: list[str] = []
    if waiting is None and index > 0:
        previous = stages[index - 1]
        with deploying_into(stage_of(previous, execution.id)):  # the stage before may live in another account
            waiting, passed = _gates_after(plan, previous, document, request.commit, now)
    if waiting is not None:
        return GateInfo(stage=plan.name, wait_seconds=waiting.wait_seconds, reason=waiting.reason,
                        waiting_at=waiting.gate)
    return GateInfo(stage=plan.name, reason="gates open", passed=passed,
                    child_name=child_name(execution.name, plan.name),
                    child_input=_child_input(document, plan.name, execution))

