"""Check stack: wait for the change set's execution to end; name the outcome of each end state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.errors import StackNeedsAttention, StackUpdateFailed
from stepdeploy.models import Document, ExecutionContext, StackInfo, iso, utc_now

SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "IMPORT_COMPLETE")
ROLLED_BACK = ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
NEEDS_ATTENTION = {
    "UPDATE_ROLLBACK_FAILED": (
        "the update failed and so did its rollback; run ContinueUpdateRollback on the stack (skip the "
        "resources that cannot roll back), then replay the deployment"
    ),
    "ROLLBACK_FAILED": "the create failed and so did its rollback; delete the stack, then replay",
    "CREATE_FAILED": "the create failed without rollback; delete the stack, then replay",
    "UPDATE_FAILED": "the update failed without rollback; roll back the stack (RollbackStack), then replay",
    "DELETE_IN_PROGRESS": "someone is deleting the stack during the deployment",
    "DELETE_COMPLETE": "someone deleted the stack during the deployment",
    "DELETE_FAILED": "someone tried to delete the stack during the deployment and it failed; finish the delete",
    "IMPORT_ROLLBACK_FAILED": "a resource import failed to roll back; fix the stack",
}
REVIEW_GRACE = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def first_failure(events: list[dict[str, Any]], stack_name: str) -> str | None:
    """The first resource that failed (oldest first): the cause; the rest fail because of it."""
    for event in events:
        status = str(event.get("ResourceStatus", ""))
        if status.endswith("_FAILED") and event.get("LogicalResourceId") != stack_name:
            return (
                f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}) {status}: "
                f"{event.get('ResourceStatusReason') or 'no reason given'}"
            )
    return None


def check_stack(document: Document, execution: ExecutionContext) -> StackInfo:
    info = document.stack
    if info is None:
        raise ValueError("Check stack needs the Execute change set step's result in $.stack")
    cfn = CloudFormation(client("cloudformation"))
    stack = cfn.describe_stack(info.stack_name)
    if stack is None:
        raise StackNeedsAttention(
            f"stack {info.stack_name} no longer exists: someone deleted it during the deployment; replay"
        )
    status = str(stack["StackStatus"])
    if status in SUCCEEDED:
        return info.model_copy(update={"status": status, "done": True, "finished_at": iso()})
    if status in ROLLED_BACK:
        since = _parse(document.changeset.started_at if document.changeset else info.started_at) - CLOCK_SKEW
        cause = first_failure(cfn.events_since(info.stack_name, since), info.stack_name)
        what = "create" if status == "ROLLBACK_COMPLETE" else "update"
        raise StackUpdateFailed(
            f"stack {info.stack_name}: the {what} failed and was rolled back ({status}): "
            f"{cause or stack.get('StackStatusReason') or 'no failed resource found in the stack events'}"
        )
    if status in NEEDS_ATTENTION:
        raise StackNeedsAttention(f"stack {info.stack_name} is {status}: {NEEDS_ATTENTION[status]}")
    if status == "REVIEW_IN_PROGRESS" and utc_now() - _parse(info.started_at) > REVIEW_GRACE:
        raise StackNeedsAttention(
            f"stack {info.stack_name} is still REVIEW_IN_PROGRESS {REVIEW_GRACE} after the change set was "
            "executed; the execution did not start. Replay the deployment"
        )
    return info.model_copy(update={"status": status, "done": False})
