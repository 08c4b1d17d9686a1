"""Executions that failed outside the Catch path (exhausted retries, time-outs, stops) still get a
ledger entry and give their stack's lock back. Triggered by Step Functions' status-change events.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stepdeploy.aws.accounts import in_stage_of
from stepdeploy.aws.ledger import ledger
from stepdeploy.ghe.deployments import Where, report_finished
from stepdeploy.models import Document
from stepdeploy.observability import deployment_ended, logger, trace_method
from stepdeploy.release.recovery import wake_lock_waiters
from stepdeploy.tasks.advance_release import abandon_release
from stepdeploy.tasks.record_release import stop_unfinished_shifts

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

OUTCOME_BY_STATUS = {"FAILED": "Failed", "TIMED_OUT": "TimedOut", "ABORTED": "Aborted"}


@trace_method
def finalize(detail: dict[str, Any]) -> dict[str, Any]:
    execution_arn = str(detail.get("executionArn", ""))
    status = str(detail.get("status", ""))
    if status not in OUTCOME_BY_STATUS:
        return {"finalized": False, "reason": f"status {status} needs nothing"}
    known = ledger().stack_of_execution(execution_arn)
    if known is None:
        return {"finalized": False, "reason": "the execution never took a stack's lock"}
    stack = known["stack"]
    try:
        trigger = json.loads(detail.get("input") or "{}")
    except ValueError:
        trigger = {}
    push = (trigger.get("event") or {}).get("detail") or {}
    document = last_document(execution_arn)
    request = document.request if document else None
    repository = (request.repository if request else None) or push.get("repository")
    environment = request.target.environment if request and request.target else "default"
    logger.append_keys(execution=execution_arn, stack=stack, repository=repository, commit=known.get("commit"))
    start = detail.get("startDate")
    started_at = _iso_from_epoch_ms(start) if isinstance(start, int | float) else str(start or "")
    record = {
        "execution_arn": execution_arn,
        "execution_name": detail.get("name") or execution_arn.rsplit(":", 1)[-1],
        "stack": stack,
        "repository": repository,
        "environment": environment,
        "commit": known.get("commit"),
        "source": trigger.get("source"),
        "outcome": OUTCOME_BY_STATUS[status],
        "error": detail.get("error"),
        "cause": (detail.get("cause") or "")[:4000],
        "started_at": started_at,
        "ended_at": _iso_from_epoch_ms(detail.get("stopDate")) if detail.get("stopDate") else started_at,
        "redrivable": status in ("FAILED", "TIMED_OUT", "ABORTED"),
    }
    recorded = ledger().record_release(record, only_if_absent=True)
    with in_stage_of(document, execution_arn):
        stopped = stop_unfinished_shifts(document) if document else []
        if document is not None:
            abandon_release(document, execution_arn, f"the execution ended {status}")
    ledger().remember_stopped_deployments(execution_arn, stopped)  # a redrive starts them again
    released = ledger().release_lock(stack, execution_arn)
    ledger().remove_lock_waiter(stack, execution_arn)  # it may have ended while waiting for the lock
    woken = wake_lock_waiters(stack, by=execution_arn, reason=f"{execution_arn} ended {status}") \
        if released or ledger().lock_holder(stack) is None else []  # a retry after the release wakes them again
    if recorded:
        deployment_ended(record)
        report_finished(
            Where(repository, record["commit"], environment, stack, execution_arn),
            record["outcome"],
            f"{record['outcome']}: {record['error'] or ''} {record['cause']}"[:140],
            state="error" if status == "ABORTED" else "failure",
        )
    logger.info("finalized execution", extra={"stack": stack, "recorded": recorded, "lock_released": released,
                                              "stopped_deployments": stopped, "woken": woken})
    return {"finalized": True, "recorded": recorded, "lock_released": released, "stopped_deployments": stopped,
            "woken": woken}


def last_document(execution_arn: str, sfn: SFNClient | None = None) -> Document | None:
    """The document as the last task state received it (the newest TaskStateEntered input); ``sfn``: a
    Step Functions client of the caller's (the CLI's), else the function's own."""
    from stepdeploy.aws.clients import client

    events = (sfn or client("stepfunctions")).get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=200, includeExecutionData=True
    )["events"]
    for event in events:
        if event["type"] == "TaskStateEntered":
            try:
                return Document.model_validate(json.loads(event["stateEnteredEventDetails"]["input"]))
            except ValueError:
                return None
    return None


def stop_unfinished_shifts_of(execution_arn: str) -> list[str]:
    document = last_document(execution_arn)
    if document is None:
        return []
    with in_stage_of(document, execution_arn):
        return stop_unfinished_shifts(document)


def _iso_from_epoch_ms(value: Any) -> str:
    from datetime import UTC, datetime

    from stepdeploy.models import iso

    return iso(datetime.fromtimestamp(float(value) / 1000, UTC))
