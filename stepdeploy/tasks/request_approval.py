"""Wait for approval: keep the task token where `stepdeploy approve|reject` finds it; notify."""

from __future__ import annotations

import json

from stepdeploy.aws.clients import client
from stepdeploy.aws.ledger import ledger
from stepdeploy.models import Document, ExecutionContext
from stepdeploy.settings import settings


def request_approval(document: Document, execution: ExecutionContext) -> None:
    request = document.require_request()
    if not execution.task_token:
        raise ValueError("Wait for approval must pass $$.Task.Token as execution.task_token")
    changes = document.changeset.changes if document.changeset else []
    item = {
        "execution_arn": execution.id,
        "task_token": execution.task_token,
        "stack": request.stack,
        "repository": request.repository,
        "branch": request.branch,
        "commit": request.commit,
        "stage": request.stage,
        "changes": changes[:50],
    }
    ledger().put_approval(execution.id, item, request.approval_timeout_seconds)
    if document.lock is not None:  # the lease covers the whole wait: a queued push waits as long, no longer
        ledger().ensure_lock(document.lock.stack, execution.id,
                             request.approval_timeout_seconds + settings().lock_lease_seconds)
    topic = settings().notification_topic_arn
    if topic:
        client("sns").publish(
            TopicArn=topic,
            Subject=f"stepdeploy: approve {request.stack} at {request.short_commit}?"[:100],
            Message=json.dumps(
                {
                    "message": f"{request.repository}@{request.short_commit} wants to update {request.stack}. "
                    f"Run: stepdeploy approve {execution.id}  (or reject)",
                    **{k: v for k, v in item.items() if k != "task_token"},
                },
                indent=2,
            ),
        )
