"""Acquire lock: one execution per stack; superseded and queued concurrency modes."""

from __future__ import annotations

from datetime import UTC, datetime

from stepdeploy.aws.executions import execution_is_running
from stepdeploy.aws.ledger import ledger
from stepdeploy.ghe_deployments import Where, report_started
from stepdeploy.metrics import deployment_started
from stepdeploy.models import Document, ExecutionContext, LockInfo, iso
from stepdeploy.settings import settings


def acquire_lock(document: Document, execution: ExecutionContext) -> LockInfo:
    request = document.require_request()
    target = request.target
    assert target is not None
    item = ledger().acquire_lock(
        stack=target.stack,
        owner=execution.id,
        commit=request.commit or "",
        requested_at=request.requested_at,
        mode=target.concurrency,
        lease_seconds=settings().lock_lease_seconds,
        is_running=execution_is_running,
    )
    deployment_started(repository=request.repository, stack=target.stack, execution=execution.id,
                       commit=request.commit, environment=target.environment)
    report_started(
        Where(request.repository, request.commit, target.environment, target.stack, execution.id),
        f"deploying to {target.stack}",
    )
    return LockInfo(
        stack=target.stack,
        owner=execution.id,
        acquired_at=iso(datetime.fromtimestamp(item["acquired_at"], UTC)),
        lease_expires_at=iso(datetime.fromtimestamp(item["lease_expires_at"], UTC)),
    )
