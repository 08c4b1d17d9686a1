"""Record release / no-op / superseded / failure: the ledger entry and the lock's release.

One function serves the four end states; the state's name says which outcome it records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from stepdeploy.aws.ledger import ledger
from stepdeploy.errors import ReleaseNotServed
from stepdeploy.ghe.deployments import Where, report_finished
from stepdeploy.models import Document, ErrorInfo, ExecutionContext, ReleaseInfo, iso, utc_now
from stepdeploy.observability import deployment_ended
from stepdeploy.release.recovery import unserved, wake_lock_waiters
from stepdeploy.tasks.advance_release import abandon_release

OUTCOME_BY_STATE = {
    "Record release": "Deployed",
    "Record no-op": "NoChanges",
    "Record superseded": "Superseded",
}


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None


def phase_durations(document: Document) -> dict[str, float]:
    phases = {
        "build": (document.build.started_at, document.build.finished_at) if document.build else (None, None),
        "stack": (document.stack.started_at, document.stack.finished_at) if document.stack else (None, None),
        "traffic_shift": (document.shift.started_at, document.shift.finished_at) if document.shift else (None, None),
    }
    return {name: s for name, (a, b) in phases.items() if (s := _seconds_between(a, b)) is not None}


def committed_at(document: Document) -> str | None:
    """When the pushed commit was made (GHE's head_commit timestamp), in UTC: lead time starts there."""
    detail = document.event.get("detail") if document.source == "ghe" else None
    stamp = detail.get("head_commit_timestamp") if isinstance(detail, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return iso(moment.astimezone(UTC)) if moment.tzinfo else None


def release_record(document: Document, execution: ExecutionContext, outcome: str) -> dict[str, Any]:
    request = document.request
    target = request.target if request else None
    ended = iso()
    versions = document.versions.functions if document.versions else []
    started = execution.start_time or (request.requested_at if request else ended)
    pipeline = request.pipeline if request else None
    stack = f"pipeline:{pipeline.name}" if pipeline else target.stack if target else "(none)"
    return {
        "execution_arn": execution.id,
        "execution_name": execution.name or execution.id.rsplit(":", 1)[-1],
        "stack": stack,
        "environment": pipeline.name if pipeline else target.environment if target else None,
        "pipeline": pipeline.name if pipeline else request.pipeline_name if request else None,
        "stage": request.stage if request else None,
        "stages": [{"name": s.name, "stack": s.stack, "account": s.account, "region": s.region}
                   for s in pipeline.stages] if pipeline else None,
        # Where the stack lives when the target names another account or region (None: the orchestrator's);
        # the CLI acts there (stepdeploy_cli/placement.py).
        "account": target.account if target and not pipeline else None,
        "region": target.region if target and not pipeline else None,
        "promotion": document.promotion,
        "artifact_digest": document.artifact.digest if document.artifact else None,
        "bundle": document.artifact.bundle.model_dump(mode="json", exclude_none=True) if document.artifact else None,
        "build": document.build.model_dump(mode="json", exclude_none=True) if document.build else None,
        "promoted_by": document.promoted_by,
        "repository": request.repository if request else None,
        "branch": request.branch if request else None,
        "commit": request.commit if request else None,
        "source": document.source,
        "pusher": request.pusher if request else None,
        "committed_at": committed_at(document),
        "outcome": outcome,
        "error": document.error.error if document.error else None,
        "cause": (document.error.cause[:4000] if document.error else None),
        "started_at": started,
        "ended_at": ended,
        "duration_seconds": _seconds_between(started.replace("Z", "+00:00"), utc_now().isoformat()),
        "phases": phase_durations(document),
        "versions": [f.model_dump(mode="json") for f in versions],
        "build_logs_url": document.build.logs_url if document.build else None,
        "change_set_id": document.changeset.change_set_id if document.changeset else None,
        "deployments": [d.deployment_id for d in document.shift.deployments] if document.shift else [],
    }


def stop_unfinished_shifts(document: Document) -> list[str]:
    """A failed execution leaves no traffic shift running: stop them, CodeDeploy rolls them back."""
    if document.shift is None or document.shift.done:
        return []
    from stepdeploy.aws.codedeploy import CodeDeploy

    codedeploy = CodeDeploy()
    return [d.deployment_id for d in document.shift.deployments if codedeploy.stop(d.deployment_id)]


def readable_error(error: ErrorInfo) -> ErrorInfo:
    """A Catch gives Lambda's error payload as the cause; keep the message a person acts on. A stage's
    child execution that failed gives its DescribeExecution: name it, with its error and cause."""
    try:
        payload = json.loads(error.cause)
    except ValueError:
        return error
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        return ErrorInfo(Error=error.error, Cause=payload["errorMessage"])
    if isinstance(payload, dict) and payload.get("ExecutionArn") and payload.get("Status"):
        child = f"stage execution {payload.get('Name')} ended {payload['Status']}"
        detail = ": ".join(str(payload[k]) for k in ("Error", "Cause") if payload.get(k))
        return ErrorInfo(Error=error.error, Cause=f"{child}: {detail}" if detail else child)
    return error


def _status_description(outcome: str, record: dict[str, Any]) -> str:
    if outcome == "Deployed":
        return f"deployed to {record['stack']}"
    if outcome == "NoChanges":
        return f"{record['stack']} already up to date"
    return f"{outcome}: {record['cause'] or ''}"[:140]


def record_release(document: Document, execution: ExecutionContext) -> ReleaseInfo:
    if document.error is not None:
        # The Fail state after this step reads $.error: give it the readable cause.
        document.error = readable_error(document.error)
    if execution.state == "Record failure":
        outcome = document.error.error if document.error else "Failed"
        stop_unfinished_shifts(document)
        abandon_release(document, execution.id, f"the execution failed: {outcome}")
    else:
        outcome = OUTCOME_BY_STATE.get(execution.state, "Deployed")
        if outcome == "Superseded":  # the newer code starts from the previous versions, not half-way
            abandon_release(document, execution.id, "superseded by a newer push")
    not_served = unserved(document) if outcome == "Deployed" else []
    if not_served:  # never Deployed unless its versions serve the traffic
        outcome = "NotServed"
        document.error = ErrorInfo(Error="ReleaseNotServed", Cause=(
            f"{'; '.join(not_served)}. Recorded NotServed, not Deployed: what serves the traffic is not this "
            "execution's release (a newer deployment or a person moved it)"))
    record = release_record(document, execution, outcome)
    if record["stack"] != "(none)":
        ledger().record_release(record)
    if document.lock is not None:
        stack = document.lock.stack
        released = ledger().release_lock(stack, execution.id)
        if released or ledger().lock_holder(stack) is None:  # a retry after the release wakes them again
            wake_lock_waiters(stack, by=execution.id, reason=f"{execution.id} ended {outcome}")
    elif document.lock_wait is not None and record["stack"] != "(none)":  # it ended while waiting
        ledger().remove_lock_waiter(record["stack"], execution.id)
    deployment_ended(record)
    report_finished(
        Where(record["repository"], record["commit"], record["environment"] or "default", record["stack"],
              execution.id),
        outcome,
        _status_description(outcome, record),
    )
    if not_served and document.error is not None:
        raise ReleaseNotServed(document.error.cause)
    served = {}
    for function in document.versions.functions if document.versions else []:
        served[function.function_name] = function.version if outcome == "Deployed" else (
            function.previous_version or function.version
        )
    return ReleaseInfo(outcome=outcome, stack=record["stack"], commit=record["commit"], versions=served)
