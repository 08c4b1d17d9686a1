"""Resume a waiting execution when a service's EventBridge event says its operation ended.

EventBridge rules (template.yaml, ResumeWaitFunction) deliver four event types from the default bus:

- "CodeBuild Build State Change" of the orchestrator's build project, final build-status:
  operation ``build`` keyed by the build id;
- "CloudFormation Stack Status Change" of a managed stack, final status: ``stack`` keyed by the
  stack id and the client-request-token (the ExecuteChangeSet of this execution, not another);
- "CodeDeploy Deployment State-change Notification" of the orchestrator's application:
  ``shift`` keyed by deployment id; SUCCESS completes that deployment (the wait ends when all of
  its deployments have), FAILURE or STOP ends the wait at once;
- "CloudWatch Alarm State Change" into ALARM: ``bake`` keyed by alarm name, ends the wait at once.

The ledger gives out a stored token once and only for a key it was stored under; the function
then calls SendTaskSuccess. An event nobody waits for (another orchestrator's, a late or repeated
one, a wait already resumed or timed out) changes nothing. What the operation's outcome is, the
Check task after the wait reads from the service: an event is a wake-up call, not the truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code
from stepdeploy.aws.ledger import ledger
from stepdeploy.observability import logger

BUILD_FINAL = ("SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT")
DEPLOYMENT_FINAL = {"SUCCESS": False, "FAILURE": True, "STOP": True}
"""CodeDeploy state -> does it end the wait at once."""
GONE_TOKEN_ERRORS = ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken")


@dataclass(frozen=True)
class Ended:
    """An operation that ended, as one event tells it."""

    kind: str
    key: str
    ends_wait: bool
    status: str


def _field(detail: dict[str, Any], *path: str) -> str:
    value: Any = detail
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise ValueError(f"event detail has no {'.'.join(path)} (expected AWS's documented event shape)")
        value = value[name]
    return str(value)


def ended_operation(event: dict[str, Any]) -> Ended | None:
    """The operation an AWS event reports as ended; None for a state that is not final.

    A source or detail-type this function does not handle, or a detail without the fields AWS
    documents, is a wiring error and raises ValueError naming what was expected.
    """
    source, detail_type = event.get("source"), event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValueError(f"event {event.get('id', '?')} has no detail object")
    if (source, detail_type) == ("aws.codebuild", "CodeBuild Build State Change"):
        status = _field(detail, "build-status")
        build_id = _field(detail, "build-id").rsplit("build/", 1)[-1]  # the ARN ends with build/<project>:<uuid>
        return Ended("build", build_id, True, status) if status in BUILD_FINAL else None
    if (source, detail_type) == ("aws.cloudformation", "CloudFormation Stack Status Change"):
        status = _field(detail, "status-details", "status")
        token = str(detail.get("client-request-token") or "")
        if status.endswith("_IN_PROGRESS") or not token:
            return None
        return Ended("stack", f"{_field(detail, 'stack-id')}#{token}", True, status)
    if (source, detail_type) == ("aws.codedeploy", "CodeDeploy Deployment State-change Notification"):
        state = _field(detail, "state")
        if state not in DEPLOYMENT_FINAL:
            return None
        return Ended("shift", _field(detail, "deploymentId"), DEPLOYMENT_FINAL[state], state)
    if (source, detail_type) == ("aws.cloudwatch", "CloudWatch Alarm State Change"):
        state = _field(detail, "state", "value")
        return Ended("bake", _field(detail, "alarmName"), True, state) if state == "ALARM" else None
    raise ValueError(
        f"cannot resume a wait from a {source!r} {detail_type!r} event; expected CodeBuild Build State Change, "
        "CloudFormation Stack Status Change, CodeDeploy Deployment State-change Notification or "
        "CloudWatch Alarm State Change"
    )


def resume_wait(event: dict[str, Any]) -> dict[str, Any]:
    ended = ended_operation(event)
    if ended is None:
        return {"resumed": False, "reason": "not a final state"}
    wait = ledger().resolve_wait(ended.kind, ended.key, ends_wait=ended.ends_wait)
    if wait is None:
        return {"resumed": False, "reason": "no wait for this operation (or not the last one pending)",
                "wait": ended.kind, "key": ended.key}
    output = {"resumed_by": "event", "wait": ended.kind, "key": ended.key, "status": ended.status,
              "event_id": event.get("id"), "event_time": event.get("time")}
    try:
        client("stepfunctions").send_task_success(taskToken=wait["task_token"], output=json.dumps(output))
    except ClientError as exc:
        if error_code(exc) not in GONE_TOKEN_ERRORS:
            raise
        return {"resumed": False, "reason": f"the wait was over already ({error_code(exc)})",
                "wait": ended.kind, "key": ended.key, "execution": wait.get("execution")}
    return {"resumed": True, "wait": ended.kind, "key": ended.key, "execution": wait.get("execution"),
            "state": wait.get("state")}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = resume_wait(event)
    logger.info("resumed a wait" if result["resumed"] else "nothing to resume", extra=result)
    return result
