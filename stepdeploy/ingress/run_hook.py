"""Run an application's traffic hook for CodeDeploy and report its lifecycle status.

The AppSpec of every shift names stepdeploy's runner, not the application's hook: one runner
function per lifecycle event (``LIFECYCLE_EVENT`` in its environment says which). CodeDeploy
invokes the runner with ``{DeploymentId, LifecycleEventHookExecutionId}``. The runner reads which
hook to run from the deployment's description, written by Start traffic shift in the same
CreateDeployment call (so it is there before CodeDeploy can invoke anything)::

    [stepdeploy:<digest>:<logicalId>:<version>] [hooks BeforeAllowTraffic=<fn> AfterAllowTraffic=<fn>] ...

It invokes that function synchronously with the very event CodeDeploy sent, then reports
``Succeeded`` if it returned and ``Failed`` if it raised or timed out. A hook that already called
PutLifecycleEventHookExecutionStatus itself keeps its own answer: CodeDeploy then refuses the
runner's report with LifecycleEventAlreadyCompletedException, which the runner ignores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError, ReadTimeoutError

from stepdeploy.aws.clients import client, error_code
from stepdeploy.observability import logger
from stepdeploy.settings import settings

LIFECYCLE_EVENTS = ("BeforeAllowTraffic", "AfterAllowTraffic")
HOOKS_TOKEN = re.compile(r"^\[stepdeploy:[^\]]*\] \[hooks(?P<hooks>( [A-Za-z]+=[A-Za-z0-9_:.-]+)*)\]")
MARGIN_SECONDS = 10
"""The runner stops waiting for the hook this long before its own timeout, to report Failed in time."""


class HookRunnerError(RuntimeError):
    """The runner cannot tell which hook to run (its environment or the deployment is not as expected)."""


def hooks_token(hooks: dict[str, str]) -> str:
    """``[hooks BeforeAllowTraffic=<fn> ...]``: what Start traffic shift writes after the marker."""
    for event, function in hooks.items():
        if event not in LIFECYCLE_EVENTS or not re.fullmatch(r"[A-Za-z0-9_:.-]+", function):
            raise ValueError(f"hook {event}={function!r}: expected {'/'.join(LIFECYCLE_EVENTS)}=<function name>")
    return "[hooks" + "".join(f" {event}={function}" for event, function in hooks.items()) + "]"


def hooks_in(description: str | None) -> dict[str, str] | None:
    """The hooks a description names; None if it carries no hooks token (not a stepdeploy shift)."""
    found = HOOKS_TOKEN.match(description or "")
    if found is None:
        return None
    pairs = (item.split("=", 1) for item in found.group("hooks").split())
    return {event: function for event, function in pairs}


@dataclass(frozen=True)
class Outcome:
    deployment_id: str
    lifecycle_event: str
    hook: str
    status: str
    """Succeeded or Failed: what the runner reported."""
    reason: str
    reported_by_hook: bool = False
    """The hook had reported itself: its own status stands."""

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def lifecycle_event() -> str:
    event = settings().lifecycle_event
    if event not in LIFECYCLE_EVENTS:
        raise HookRunnerError(
            f"environment variable LIFECYCLE_EVENT: {event!r}; expected one of {', '.join(LIFECYCLE_EVENTS)}"
        )
    return event


def hook_for(deployment_id: str, event: str) -> str:
    """The application's hook for this deployment and event, from the deployment's description.

    A rollback deployment CodeDeploy created carries no description of ours: the hooks are those of
    the deployment that triggered it.
    """
    codedeploy = client("codedeploy")
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    application = settings().codedeploy_application
    if application and info.get("applicationName") != application:
        raise HookRunnerError(
            f"deployment {deployment_id} belongs to application {info.get('applicationName')!r}; "
            f"this runner serves {application!r} only"
        )
    hooks = hooks_in(info.get("description"))
    triggering = (info.get("rollbackInfo") or {}).get("rollbackTriggeringDeploymentId")
    if hooks is None and triggering:
        hooks = hooks_in(codedeploy.get_deployment(deploymentId=triggering)["deploymentInfo"].get("description"))
    if not hooks or event not in hooks:
        raise HookRunnerError(
            f"deployment {deployment_id}: its description names no {event} hook; expected "
            f"'[stepdeploy:...] [hooks {event}=<function>]' as Start traffic shift writes it"
        )
    return hooks[event]


@cache
def _invoker(read_timeout: int) -> Any:
    """A Lambda client that waits for the hook and never invokes it twice (no retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda", config=Config(read_timeout=read_timeout, connect_timeout=5, retries={"max_attempts": 1})
    )


def invoke_hook(function: str, payload: dict[str, str], wait_seconds: int) -> str | None:
    """Run the hook synchronously; None if it returned, else why it failed."""
    try:
        response = _invoker(max(1, wait_seconds)).invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
        )
    except ReadTimeoutError:
        return f"{function} did not return within {wait_seconds} s"
    except ClientError as exc:
        return f"{function} could not be invoked: {error_code(exc)}: {exc}"
    if response.get("FunctionError"):
        body = response["Payload"].read().decode(errors="replace")[:500]
        return f"{function} raised ({response['FunctionError']}): {body}"
    return None


def report(deployment_id: str, execution_id: str, status: str) -> bool:
    """PutLifecycleEventHookExecutionStatus; False if the hook had already reported itself."""
    try:
        client("codedeploy").put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
        )
    except ClientError as exc:
        if error_code(exc) == "LifecycleEventAlreadyCompletedException":
            return False
        raise
    return True


def run_hook(event: dict[str, Any], wait_seconds: int) -> Outcome:
    deployment_id = event.get("DeploymentId")
    execution_id = event.get("LifecycleEventHookExecutionId")
    if not isinstance(deployment_id, str) or not isinstance(execution_id, str):
        raise HookRunnerError(
            f"event {sorted(event)}: expected CodeDeploy's hook event "
            "with DeploymentId and LifecycleEventHookExecutionId"
        )
    name = lifecycle_event()
    hook = hook_for(deployment_id, name)
    failure = invoke_hook(hook, {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id},
                          wait_seconds)
    status = "Failed" if failure else "Succeeded"
    reported = report(deployment_id, execution_id, status)
    return Outcome(deployment_id, name, hook, status, failure or f"{hook} returned", reported_by_hook=not reported)


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wait_seconds = context.get_remaining_time_in_millis() // 1000 - MARGIN_SECONDS
    outcome = run_hook(event, wait_seconds)
    if outcome.reported_by_hook:
        logger.info("the hook had reported its own status; it stands", extra=outcome.as_dict())
    elif outcome.status == "Failed":
        logger.warning("the hook failed; reported Failed", extra=outcome.as_dict())
    else:
        logger.info("the hook returned; reported Succeeded", extra=outcome.as_dict())
    return outcome.as_dict()
