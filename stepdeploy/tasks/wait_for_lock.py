"""Wait for lock: keep this execution's task token where whoever frees the lock finds it, then sleep.

The state is a ``.waitForTaskToken`` task whose time-out is ``$.lock_wait.seconds`` (Acquire lock's
interval): it ends early when the holder frees the lock or a newer push supersedes this one (they
complete the token: ``stepdeploy.release.recovery.wake_lock_waiters``), else at the time-out; either way
Acquire lock asks again and decides. Registering before the holder's release reads the waiters is what
makes the wake-up reliable; for the other order, the token is written first and the lock read after
(both strongly consistent): if anything changed since Acquire lock looked, this execution wakes itself.
"""

from __future__ import annotations

import json

from stepdeploy.aws.clients import client
from stepdeploy.aws.ledger import ledger
from stepdeploy.models import Document, ExecutionContext, LockWait
from stepdeploy.observability import logger


def changed_since_refused(wait: LockWait, stack: str, execution_arn: str, superseded_mode: bool) -> str | None:
    """What changed since Acquire lock was refused (None: nothing; sleep until woken or timed out)."""
    holder = ledger().lock_holder(stack)
    owner = str(holder["owner"]) if holder else None
    if owner != wait.holder:
        return f"the lock is now {'free' if owner is None else 'held by ' + owner}"
    if superseded_mode:
        latest = ledger().latest_request(stack)
        if latest and latest.get("owner") != execution_arn:
            return f"a newer push registered for the target ({latest.get('owner')})"
    return None


def wait_for_lock(document: Document, execution: ExecutionContext) -> None:
    request = document.require_request()
    wait = document.lock_wait
    if request.target is None or wait is None:
        raise ValueError("Wait for lock runs only after Acquire lock set $.lock_wait")
    if not execution.task_token:
        raise ValueError("Wait for lock must pass $$.Task.Token as execution.task_token")
    stack = request.target.stack
    ledger().add_lock_waiter(stack, execution.id, {
        "task_token": execution.task_token,
        "requested_at": request.requested_at,
        "mode": request.target.concurrency,
        "commit": request.commit or "",
    }, wait.seconds)
    changed = changed_since_refused(wait, stack, execution.id, request.target.concurrency == "superseded")
    if changed is not None:
        logger.info("the lock changed while registering the wait; asking again now", extra={"why": changed})
        client("stepfunctions").send_task_success(
            taskToken=execution.task_token, output=json.dumps({"by": execution.id, "reason": changed}))
        ledger().remove_lock_waiter(stack, execution.id, execution.task_token)
