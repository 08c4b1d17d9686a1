"""Recovery you can trust: what a redrive, a wait for the lock and the last step check.

- ``plan_lock_wait``: Acquire lock found the stack's lock held. The execution waits in the state machine
  ("Lock free?" / "Wait for lock", a task token, no compute) as long as the holder may legitimately hold
  the lock (its lease, which Wait for approval stretches over the approval's time-out and every other
  step renews), asking again at an interval that grows with the wait (bounded); it gives up only when
  the holder still runs past its lease.
- ``wake_lock_waiters``, ``wake_superseded``: whoever frees the lock (Record release, Record failure,
  Record superseded, the finaliser, ``stepdeploy rollback``) completes the waiters' task tokens so that
  they ask again at once; a newer push that registers wakes the waiter it supersedes, which ends
  Superseded at once. A wake is only a hint: Acquire lock decides, and the interval's time-out is the
  reconciling check for a wake that was lost.
- ``refuse_a_stale_redrive``: a redriven execution takes the lock back at its first lock-holding step
  (the finaliser freed it); before it changes anything it runs the checks a fresh start runs (a newer
  push registered for the target, a newer Deployed release, GHE compare) and ends Superseded when
  newer code is live. Replays deploy an older commit on purpose and are exempt.
- ``restart_stopped_shifts``: the finaliser stops a failed execution's traffic shifts (nothing is left
  half shifted); a redrive starts each one again with the same AppSpec instead of ending rolled back.
- ``unserved``: Record release records Deployed only if every managed alias serves its published
  version and the stack still carries this execution's code.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stepdeploy.errors import StackLocked, Superseded
from stepdeploy.models import Document, ExecutionContext, LockWait, ShiftDeployment, iso
from stepdeploy.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from stepdeploy.aws.codedeploy import CodeDeploy
    from stepdeploy.aws.ledger import Ledger

MIN_LOCK_WAIT_SECONDS = 10
MAX_LOCK_WAIT_SECONDS = 600
"""Bounds of the "Wait for lock" interval (AWS seconds). A wait of a week costs about a thousand loops
(well under the 25,000 events of an execution's history); a short one is noticed within seconds."""
LOCK_WAIT_FRACTION = 0.1
"""The interval is this fraction of the time waited so far: the longer the holder takes, the rarer the checks."""


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def lock_wait_seconds(waited_seconds: float) -> int:
    return int(min(MAX_LOCK_WAIT_SECONDS, max(MIN_LOCK_WAIT_SECONDS, waited_seconds * LOCK_WAIT_FRACTION)))


def plan_lock_wait(document: Document, refused: StackLocked) -> None:
    """Set ``document.lock_wait`` so that the state machine waits and tries again; or give up (StackLocked,
    which fails the execution at Acquire lock: redrivable) when the holder outstays its lease."""
    if refused.overdue:
        raise StackLocked(
            f"gave up waiting for the lock: {refused}. Its lease covers every step it may legitimately wait "
            "for (approval, bake); look at that execution, stop it if it is stuck, then redrive this one"
        )
    previous = document.lock_wait
    # Counted in the waits' own seconds (the same on AWS and on an accelerated local clock); a wait cut
    # short by a wake-up adds nothing, so that being woken never lengthens the next interval.
    waited = previous.waited_seconds + (0 if previous.woken else previous.seconds) if previous else 0
    holder = refused.holder or {}
    document.lock_wait = LockWait(
        holder=str(holder["owner"]) if holder.get("owner") else None,
        holder_commit=str(holder["commit"]) if holder.get("commit") else None,
        reason=str(refused),
        since=previous.since if previous else iso(),
        checks=(previous.checks + 1) if previous else 1,
        waited_seconds=waited,
        seconds=lock_wait_seconds(waited),
    )
    logger.info("waiting for the stack's lock", extra={"reason": str(refused), "seconds": document.lock_wait.seconds,
                                                       "waited_seconds": waited})


# --- waking the executions that wait for the lock ------------------------------------------------
GONE_TOKEN_ERRORS = ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken")
"""SendTaskSuccess's answers for a token whose wait is over (it timed out, was woken, or the execution ended)."""


def wake_waiter(stack: str, waiter: dict[str, Any], by: str, reason: str, *, sfn: SFNClient | None = None,
                ledger: Ledger | None = None) -> bool:
    """Complete one waiter's "Wait for lock" token; False when its wait was already over (it is forgotten).
    Never raises: a wake is a hint, the waiter's time-out is the check that does not depend on it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stepdeploy.aws.clients import client, error_code
    from stepdeploy.aws.ledger import ledger as default_ledger

    book = ledger or default_ledger()
    arn, token = str(waiter.get("execution_arn") or ""), str(waiter.get("task_token") or "")
    try:
        (sfn or client("stepfunctions")).send_task_success(
            taskToken=token, output=json.dumps({"by": by, "reason": reason[:500]}))
    except (ClientError, BotoCoreError) as exc:
        if not isinstance(exc, ClientError) or error_code(exc) not in GONE_TOKEN_ERRORS:
            logger.warning("could not wake a waiter; it asks again at its time-out",
                           extra={"waiter": arn, "reason": str(exc)[:300]})
            return False
        book.remove_lock_waiter(stack, arn, token)
        return False
    book.remove_lock_waiter(stack, arn, token)
    logger.info("woke an execution waiting for the lock", extra={"waiter": arn, "by": by, "why": reason})
    return True


def wake_lock_waiters(stack: str, by: str, reason: str, *, sfn: SFNClient | None = None, ledger: Ledger | None = None
                      ) -> list[str]:
    """The lock was freed: wake every superseded-mode waiter (the newest takes the lock, older ones end
    Superseded) and, in queued mode, the first live one in the queue only (the others' turn comes after
    it: each release wakes the next). The executions woken."""
    from stepdeploy.aws.ledger import ledger as default_ledger

    book = ledger or default_ledger()
    woken: list[str] = []
    queued_woken = False
    for waiter in sorted(book.lock_waiters(stack), key=lambda w: str(w.get("requested_at") or "")):
        queued = waiter.get("mode") == "queued"
        if queued and queued_woken:
            continue
        if wake_waiter(stack, waiter, by, reason, sfn=sfn, ledger=book):
            woken.append(str(waiter["execution_arn"]))
            queued_woken = queued_woken or queued
    return woken


def wake_superseded(stack: str, execution_arn: str, by: str) -> bool:
    """A newer push registered for the target: the waiter it replaced asks again now, and ends Superseded."""
    from stepdeploy.aws.ledger import ledger

    if supersede_approval(execution_arn, by):
        return True
    waiter = ledger().lock_waiter(stack, execution_arn)
    return waiter is not None and wake_waiter(stack, waiter, by, "a newer push registered for the target")


def supersede_approval(execution_arn: str, by: str) -> bool:
    """An older commit waiting at a pipeline stage's approval gate ends Superseded when a newer one reaches
    the stage's stack: nobody approves a stale commit into production (superseded mode only: queued mode
    keeps order). A single-stack target's approval is left to its approver, as before."""
    from botocore.exceptions import ClientError

    from stepdeploy.aws.clients import client, error_code
    from stepdeploy.aws.ledger import ledger

    book = ledger()
    approval = book.approval(execution_arn)
    if not approval or not approval.get("task_token") or not approval.get("stage"):
        return False
    try:
        client("stepfunctions").send_task_failure(
            taskToken=str(approval["task_token"]), error="Superseded",
            cause=f"superseded at the approval gate by {by.rsplit(':', 1)[-1]}, a newer push to the same stack")
    except ClientError as exc:
        if error_code(exc) not in GONE_TOKEN_ERRORS:
            raise
    book.remove_approval(execution_arn)
    logger.info("superseded an execution waiting for approval", extra={"waiter": execution_arn, "by": by})
    return True


# --- redrives ------------------------------------------------------------------------------------
def newer_than_this(document: Document, execution_arn: str, started_at: str | None, ledger: Ledger) -> str | None:
    """What makes this execution stale without asking GHE: a newer request registered for the target
    (superseded mode, as a fresh start checks), or a Deployed release of another execution that started
    after this one. None when there is none, or for a replay."""
    request = document.request
    if request is None or request.target is None or document.deliberate:
        return None
    stack = request.target.stack
    if request.target.concurrency == "superseded":
        latest = ledger.latest_request(stack)
        newer_request = latest and str(latest.get("requested_at", "")) > request.requested_at
        if latest and newer_request and latest.get("owner") != execution_arn:
            return (f"a newer push to the same target, commit {str(latest.get('commit') or '?')[:7]} "
                    f"({str(latest.get('owner', '?')).rsplit(':', 1)[-1]}), was registered after this one")
    mine = _parse(started_at)
    for release in ledger.releases_of(stack, limit=20):
        if release.get("outcome") != "Deployed":
            continue
        theirs = _parse(release.get("started_at"))
        if release.get("execution_arn") != execution_arn and mine and theirs and theirs > mine:
            return (f"{release.get('execution_name') or release.get('execution_arn')} (commit "
                    f"{str(release.get('commit') or '?')[:7]}) started after this execution and was deployed to "
                    f"{stack}")
        break  # only the newest Deployed release tells what is live
    return None


def refuse_a_stale_redrive(document: Document, execution: ExecutionContext) -> None:
    """Superseded when newer code is live (or a newer push waits): a redrive must not take production back."""
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.tasks.acquire_lock import refuse_an_outdated_push

    request = document.request
    if request is None or request.target is None or document.deliberate:
        return
    newer = newer_than_this(document, execution.id, execution.start_time, ledger())
    if newer is not None:
        raise Superseded(
            f"redriven after {newer}; not deploying {request.short_commit or 'this artifact'} over it. "
            f"To deploy it anyway: stepdeploy replay {execution.name or execution.id}"
        )
    refuse_an_outdated_push(document, request)  # GHE compare with the newest registered and deployed commits


# --- traffic shifts the finaliser stopped --------------------------------------------------------
def restart_stopped_shifts(
    document: Document, execution: ExecutionContext, deployments: list[ShiftDeployment], cd: CodeDeploy
) -> list[ShiftDeployment]:
    """Deployments the finaliser stopped (recorded in the ledger) are started again with the same AppSpec;
    the new deployment ids replace the old ones. One whose rollback still runs is tried again next check."""
    if not any(d.status in ("Stopped", "Restarting") for d in deployments):
        return deployments
    from stepdeploy.aws.accounts import deploy_names
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.errors import StackBusy

    by_finaliser = ledger().stopped_deployments(execution.id)
    restarted: list[ShiftDeployment] = []
    for deployment in deployments:
        if deployment.status not in ("Stopped", "Restarting") or deployment.deployment_id not in by_finaliser:
            restarted.append(deployment)
            continue
        info = cd.deployment(deployment.deployment_id)
        content = ((info.get("revision") or {}).get("appSpecContent") or {}).get("content")
        if not content:
            restarted.append(deployment)  # nothing to start again with: the check reports it stopped
            continue
        try:
            new_id = cd.create_deployment(
                info.get("applicationName") or deploy_names().codedeploy_application,
                info["deploymentGroupName"],
                info["deploymentConfigName"],
                content,
                hashlib.sha256(content.encode()).hexdigest(),
                f"{info.get('description') or ''} (restarted after redrive; was {deployment.deployment_id})"[:512],
            )
        except StackBusy:  # the stop's rollback deployment still runs: try again at the next check
            restarted.append(deployment.model_copy(update={"status": "Restarting"}))
            continue
        logger.info("restarted a traffic shift the finaliser stopped",
                    extra={"stopped": deployment.deployment_id, "restarted": new_id})
        restarted.append(deployment.model_copy(update={"deployment_id": new_id, "status": "Created"}))
    return restarted


# --- Record release ------------------------------------------------------------------------------
def unserved(document: Document) -> list[str]:
    """Why this execution's release does not serve the traffic (empty: it does)."""
    from botocore.exceptions import ClientError

    from stepdeploy.aws.clients import client
    from stepdeploy.aws.lambda_versions import LambdaVersions

    problems: list[str] = []
    lam = LambdaVersions()
    for function in document.versions.functions if document.versions else []:
        alias = lam.alias(function.function_name, function.alias)
        if alias is None:
            problems.append(f"{function.function_name} has no alias {function.alias}")
            continue
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if str(alias.get("FunctionVersion")) != function.version or weights:
            extra = f" (+{', '.join(f'{v} {w:.0%}' for v, w in weights.items())})" if weights else ""
            problems.append(f"alias {function.function_name}:{function.alias} serves version "
                            f"{alias.get('FunctionVersion')}{extra}, not the published version {function.version}")
    request = document.request
    if document.artifact is not None and request is not None and request.target is not None:
        try:
            stacks = client("cloudformation").describe_stacks(StackName=request.stack)["Stacks"]
        except ClientError:
            stacks = []
        live = {p["ParameterKey"]: p.get("ParameterValue") for p in (stacks[0].get("Parameters") or [])} if stacks \
            else {}
        differ = sorted(k for k, v in document.artifact.parameters.items()
                        if k in live and live[k] not in (v, "****"))
        if differ:
            problems.append(f"stack {request.stack} no longer carries this execution's code "
                            f"(parameter{'s' if len(differ) > 1 else ''} {', '.join(differ)} changed since)")
    return problems
