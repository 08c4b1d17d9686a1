"""Wait for build / stack / traffic shift / while baking / for release step: sleep on a task token until
the service's event (or, for a release step, an operator's command).

A ``.waitForTaskToken`` task: the state machine passes its task token and which operation it waits
for (``wait``: build, stack, shift, bake or release). This step stores the token in the ledger keyed by
the operation (build id; stack id and the ClientRequestToken given to ExecuteChangeSet; the CodeDeploy
deployment ids; the alarms watched while baking; the stack whose step release an operator steers) and
returns at once: no compute is spent waiting.
``stepdeploy.ingress.resume_wait`` resumes the token when the operation's EventBridge event arrives.

Then it asks the service once: an operation that ended before the token was stored (its event came
too early to find it), an alarm already in ALARM when the bake starts (no state change, so no
event), or an operator's command written before the token was stored, resumes the token here. The
ledger hands a token out once, so the event and this check never both resume it. The state after
the wait is the step's Check task, which reads the outcome from the service; the wait's timeout
(the bake time for a bake) leads to that same check, which reconciles a lost event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from stepdeploy.aws.accounts import in_stage_of
from stepdeploy.aws.alarms import Alarms
from stepdeploy.aws.clients import client, translate_aws_errors
from stepdeploy.aws.ledger import ledger
from stepdeploy.models import Document, ExecutionContext
from stepdeploy.observability import logger, trace_handler
from stepdeploy.tasks.handler import log_keys

WaitKind = Literal["build", "stack", "shift", "bake", "release"]
BUILD_RUNNING = "IN_PROGRESS"
DEPLOYMENT_ENDED = ("Succeeded", "Failed", "Stopped")


class WaitRequest(BaseModel):
    document: Document
    execution: ExecutionContext
    wait: WaitKind


class Operation(BaseModel):
    """What one wait is keyed by, and whether the service says it is over already."""

    kind: WaitKind
    keys: list[str] = Field(default_factory=list)
    deadline: str | None = None
    also: dict[str, list[str]] = Field(default_factory=dict)
    """Keys of other kinds whose event ends this wait too (a release step's alarms)."""


def stack_key(stack_id: str, client_request_token: str) -> str:
    return f"{stack_id}#{client_request_token}"


def operation_of(document: Document, kind: WaitKind) -> Operation:
    """The keys the events of this wait carry; a document without the step's piece is a contract error."""
    if kind == "build":
        if document.build is None:
            raise ValueError("Wait for build needs the Start build step's result in $.build")
        return Operation(kind=kind, keys=[document.build.build_id])
    if kind == "stack":
        stack = document.stack
        if stack is None or not stack.stack_id or not stack.client_request_token:
            raise ValueError(
                "Wait for stack needs $.stack.stack_id and $.stack.client_request_token from Execute change set"
            )
        return Operation(kind=kind, keys=[stack_key(stack.stack_id, stack.client_request_token)])
    if kind == "shift":
        if document.shift is None:
            raise ValueError("Wait for traffic shift needs the Start traffic shift step's result in $.shift")
        pending = [d.deployment_id for d in document.shift.deployments if d.status not in DEPLOYMENT_ENDED]
        return Operation(kind=kind, keys=pending)
    if kind == "release":
        if document.progress is None:
            raise ValueError("Wait for release step needs the Advance release step's result in $.progress")
        progress = document.progress
        alarms = list(progress.alarms) if progress.status == "running" else []  # an alarm cuts the step short
        return Operation(kind=kind, keys=[document.require_request().stack], also={"bake": alarms} if alarms else {})
    if document.bake is not None:
        return Operation(kind=kind, keys=list(document.bake.alarms), deadline=document.bake.until)
    if document.shift is None:
        raise ValueError("Wait while baking needs the traffic shift's result in $.shift (or a bake in $.bake)")
    return Operation(kind=kind, keys=list(document.shift.alarms))


def _build_over(operation: Operation) -> bool:
    builds = client("codebuild").batch_get_builds(ids=operation.keys)["builds"]
    return not builds or any(b.get("buildStatus", BUILD_RUNNING) != BUILD_RUNNING for b in builds)


def _stack_over(document: Document) -> bool:
    assert document.stack is not None and document.stack.stack_id
    stacks = client("cloudformation").describe_stacks(StackName=document.stack.stack_id)["Stacks"]
    return not stacks or not str(stacks[0]["StackStatus"]).endswith("_IN_PROGRESS")


def _shift_over(operation: Operation) -> bool:
    codedeploy = client("codedeploy")
    statuses = [codedeploy.get_deployment(deploymentId=d)["deploymentInfo"]["status"] for d in operation.keys]
    return all(s in DEPLOYMENT_ENDED for s in statuses) or any(s in ("Failed", "Stopped") for s in statuses)


def _alarm_firing(operation: Operation) -> bool:
    return bool(operation.keys) and bool(Alarms(client("cloudwatch")).in_alarm(operation.keys))


def _command_pending(operation: Operation, execution_arn: str) -> bool:
    control = ledger().progress(operation.keys[0]) or {}
    return control.get("execution_arn") == execution_arn and bool(control.get("command"))


def already_over(document: Document, operation: Operation, execution_arn: str = "") -> bool:
    """One look at the service: did the operation end (or an alarm fire) before the token was stored?"""
    if not operation.keys:
        return operation.kind != "bake"  # nothing left to wait for; a bake without alarms waits out its time
    checks: dict[str, Callable[[], bool]] = {
        "build": lambda: _build_over(operation),
        "stack": lambda: _stack_over(document),
        "shift": lambda: _shift_over(operation),
        "bake": lambda: _alarm_firing(operation),
        "release": lambda: _command_pending(operation, execution_arn),
    }
    return checks[operation.kind]()


def resume(task_token: str, *, by: str, operation: Operation) -> None:
    client("stepfunctions").send_task_success(
        taskToken=task_token,
        output=json.dumps({"resumed_by": by, "wait": operation.kind, "keys": operation.keys}),
    )


def wait_for_event(request: WaitRequest) -> dict[str, Any]:
    execution = request.execution
    if not execution.task_token:
        raise ValueError(f"{execution.state or 'a wait'} must pass $$.Task.Token as execution.task_token")
    operation = operation_of(request.document, request.wait)
    store = ledger()
    wait_id = store.put_wait(
        kind=operation.kind,
        keys=operation.keys,
        task_token=execution.task_token,
        execution_arn=execution.id,
        state=execution.state,
        deadline=operation.deadline,
        also=operation.also,
    )
    if already_over(request.document, operation, execution.id) and store.consume_wait(wait_id) is not None:
        resume(execution.task_token, by="check", operation=operation)
        return {"waiting": False, **operation.model_dump(exclude=set() if operation.also else {"also"})}
    return {"waiting": True, **operation.model_dump(exclude=set() if operation.also else {"also"})}


@logger.inject_lambda_context(clear_state=True)
@trace_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WaitRequest.model_validate(event)
    logger.append_keys(**log_keys(request.document, request.execution))
    with translate_aws_errors(request.execution.state or "wait_for_event"), \
            in_stage_of(request.document, request.execution.id):
        result = wait_for_event(request)
    logger.info("waiting for the service's event" if result["waiting"] else "already over: resumed", extra=result)
    return result
