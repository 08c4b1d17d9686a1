"""Acquire lock: one execution per stack; superseded and queued concurrency modes."""

from __future__ import annotations

from datetime import UTC, datetime

from stepdeploy.aws.executions import execution_is_running
from stepdeploy.aws.ledger import ledger
from stepdeploy.commit_status import post_commit_status
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
    post_commit_status(
        repository=request.repository,
        commit=request.commit,
        environment=target.environment,
        state="pending",
        description=f"deploying to {target.stack}",
        execution_arn=execution.id,
    )
    return LockInfo(
        stack=target.stack,
        owner=execution.id,
        acquired_at=iso(datetime.fromtimestamp(item["acquired_at"], UTC)),
        lease_expires_at=iso(datetime.fromtimestamp(item["lease_expires_at"], UTC)),
    )
