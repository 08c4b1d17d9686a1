"""The shape every task handler shares: parse the document, run the step, return the document.

A step is a function ``(document, execution) -> piece``; ``task_handler(step, "piece")`` makes the
Lambda handler that stores the returned piece under ``document.<piece>``. Logging keys (execution,
repository, commit, stack) are on every line; AWS's transient errors become retryable classes. A target
in another account or region runs the step there (``stepdeploy.aws.accounts``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from stepdeploy.aws.accounts import in_stage_of
from stepdeploy.aws.clients import translate_aws_errors
from stepdeploy.models import Document, ExecutionContext, dump
from stepdeploy.observability import annotate, logger, trace_handler
from stepdeploy.polling import keep_polling
from stepdeploy.settings import settings

Step = Callable[[Document, ExecutionContext], BaseModel | None]


def log_keys(document: Document, execution: ExecutionContext) -> dict[str, str]:
    keys = {"execution": execution.id, "state": execution.state}
    request = document.request
    if request is not None:
        keys.update(
            {
                k: v
                for k, v in {
                    "repository": request.repository,
                    "commit": request.commit,
                    "branch": request.branch,
                    "stack": request.target.stack if request.target else None,
                }.items()
                if v
            }
        )
    return keys


def _poll(
    step: Step, piece: str, document: Document, execution: ExecutionContext, first: BaseModel | None,
    context: LambdaContext,
) -> BaseModel | None:
    latest = first

    def check_again() -> bool:
        nonlocal latest
        setattr(document, piece, latest)
        latest = step(document, execution)
        return latest is None or bool(getattr(latest, "done", True))

    if first is not None and not getattr(first, "done", True):
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        keep_polling(check_again, settings=settings().poll, remaining_ms=remaining)
    return latest


def keep_lock(document: Document, execution: ExecutionContext) -> None:
    """Renew the stack lock's lease, or take it back after a redrive (the finaliser freed it): then check,
    as a fresh start would, that no newer code went live meanwhile (Superseded if it did)."""
    if document.lock is None:
        return
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.release.recovery import refuse_a_stale_redrive

    if ledger().ensure_lock(document.lock.stack, execution.id, settings().lock_lease_seconds):
        refuse_a_stale_redrive(document, execution)


def task_handler(
    step: Step, piece: str, *, holds_lock: bool = True, polls: bool = False
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """``holds_lock``: the step changes the stack, so it must own the stack's lock to run.

    ``polls``: the step checks a service; it is repeated within the invocation until its piece is
    ``done`` (see stepdeploy.polling), so the state machine loops once per budget, not once per poll.
    """
    if piece not in Document.model_fields:
        raise ValueError(f"unknown document piece {piece!r}")

    @logger.inject_lambda_context(clear_state=True)
    @trace_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        document = Document.model_validate(event["document"])
        execution = ExecutionContext.model_validate(event.get("execution") or {"Id": "unknown"})
        keys = log_keys(document, execution)
        logger.append_keys(**keys)
        # X-Ray annotations: traces searchable by deployment
        annotate(**{key: keys[key] for key in ("repository", "stack", "commit") if key in keys})
        with translate_aws_errors(execution.state or step.__name__), in_stage_of(document, execution.id):
            if holds_lock:
                keep_lock(document, execution)
            result = step(document, execution)
            if polls:
                result = _poll(step, piece, document, execution, result, context)
        if result is not None:
            setattr(document, piece, result)
        return dump(document)

    handler.__wrapped_step__ = step  # type: ignore[attr-defined]  # for tests: the step behind the handler
    return cast("Callable[[dict[str, Any], LambdaContext], dict[str, Any]]", handler)
