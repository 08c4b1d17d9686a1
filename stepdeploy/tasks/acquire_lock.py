"""Acquire lock: one execution per stack; superseded and queued concurrency modes."""

from __future__ import annotations

from datetime import UTC, datetime

from stepdeploy.aws.executions import execution_is_running
from stepdeploy.aws.ledger import ledger
from stepdeploy.errors import ServiceThrottled, ServiceUnavailable, StackLocked, Superseded
from stepdeploy.ghe.api import GheApi, GheError, ghe_api
from stepdeploy.ghe.deployments import Where, report_started
from stepdeploy.models import DeploymentRequest, Document, ExecutionContext, LockInfo, iso
from stepdeploy.observability import deployment_started, logger
from stepdeploy.release.recovery import plan_lock_wait, wake_superseded
from stepdeploy.settings import settings

# How two commits relate never changes: a warm container asks GHE once per pair, however often Acquire
# lock is retried while it waits for the lock.
_relations: dict[tuple[str, str, str, str], str] = {}
MAX_REMEMBERED_RELATIONS = 1024


def _relation(api: GheApi, repository: str, base: str, head: str) -> str:
    key = (getattr(api, "api_url", ""), repository, base, head)
    if key not in _relations:
        if len(_relations) >= MAX_REMEMBERED_RELATIONS:
            _relations.clear()
        _relations[key] = api.compare(repository, base=base, head=head)
    return _relations[key]


def newer_commit_including(request: DeploymentRequest, candidates: list[str], api: GheApi) -> str | None:
    """A candidate commit that already contains the request's commit (the request is its ancestor)."""
    for commit in candidates:
        if commit == request.commit:
            continue
        try:
            relation = _relation(api, str(request.repository), str(request.commit), commit)
        except (GheError, ServiceUnavailable, ServiceThrottled) as exc:
            logger.warning("cannot compare commits on GHE; not checking whether this push is outdated",
                           extra={"candidate": commit, "problem": str(exc)})
            continue
        if relation == "ahead":
            return commit
    return None


def refuse_an_outdated_push(document: Document, request: DeploymentRequest) -> None:
    """A push delivered late (a redelivery, a reordered burst) must not take a target back to an older
    commit: if what is deployed, or the newest push registered for the target, already includes this
    commit, this execution is superseded. A replay deploys an older commit on purpose and is not checked."""
    if request.source != "ghe" or not request.commit or not request.repository or document.deliberate:
        return
    candidates = ledger().commits_ahead_candidates(request.stack, request.repository)
    if not candidates:
        return
    try:
        api = ghe_api()
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must not stop a deployment
        logger.warning("no GHE token; not checking whether this push is outdated", extra={"problem": str(exc)})
        return
    newer = newer_commit_including(request, candidates, api)
    if newer is not None:
        raise Superseded(
            f"superseded by commit {newer[:7]}, pushed after {request.short_commit} and already including it; "
            f"this push was delivered late. To deploy {request.short_commit} anyway: stepdeploy replay --commit "
            f"{request.short_commit} <execution>"
        )


def acquire_lock(document: Document, execution: ExecutionContext) -> LockInfo | None:
    """The lock, or None with ``document.lock_wait`` set: the state machine waits, then asks again."""
    request = document.require_request()
    target = request.target
    assert target is not None
    refuse_an_outdated_push(document, request)
    try:
        item = ledger().acquire_lock(
            stack=target.stack,
            owner=execution.id,
            commit=request.commit or "",
            requested_at=request.requested_at,
            mode=target.concurrency,
            lease_seconds=settings().lock_lease_seconds,
            is_running=execution_is_running,
            superseding=lambda older: wake_superseded(target.stack, older, by=execution.id),
        )
    except StackLocked as refused:
        plan_lock_wait(document, refused)
        return None
    if document.lock_wait is not None:
        ledger().remove_lock_waiter(target.stack, execution.id)
    document.lock_wait = None
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
