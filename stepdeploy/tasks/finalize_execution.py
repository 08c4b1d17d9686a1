"""Executions that failed outside the Catch path (exhausted retries, time-outs, stops) still get a
ledger entry and give their stack's lock back. Triggered by Step Functions' status-change events.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from stepdeploy.aws.ledger import ledger
from stepdeploy.commit_status import post_commit_status
from stepdeploy.models import Document
from stepdeploy.tasks.record_release import stop_unfinished_shifts

logger = Logger(service="stepdeploy")

OUTCOME_BY_STATUS = {"FAILED": "Failed", "TIMED_OUT": "TimedOut", "ABORTED": "Aborted"}


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
    start = detail.get("startDate")
    started_at = _iso_from_epoch_ms(start) if isinstance(start, int | float) else str(start or "")
    record = {
        "execution_arn": execution_arn,
        "execution_name": detail.get("name") or execution_arn.rsplit(":", 1)[-1],
        "stack": stack,
        "repository": push.get("repository"),
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
    stopped = stop_unfinished_shifts_of(execution_arn)
    released = ledger().release_lock(stack, execution_arn)
    if recorded:
        post_commit_status(
            repository=record["repository"], commit=record["commit"], environment="default",
            state="error" if status == "ABORTED" else "failure",
            description=f"{record['outcome']}: {record['error'] or ''} {record['cause']}"[:140],
            execution_arn=execution_arn,
        )
    logger.info("finalized execution", extra={"stack": stack, "recorded": recorded, "lock_released": released,
                                              "stopped_deployments": stopped})
    return {"finalized": True, "recorded": recorded, "lock_released": released, "stopped_deployments": stopped}


def last_document(execution_arn: str, sfn: Any = None) -> Document | None:
    """The document as the last task state received it (the newest TaskStateEntered input)."""
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
    return stop_unfinished_shifts(document) if document else []


def _iso_from_epoch_ms(value: Any) -> str:
    from datetime import UTC, datetime

    from stepdeploy.models import iso

    return iso(datetime.fromtimestamp(float(value) / 1000, UTC))
