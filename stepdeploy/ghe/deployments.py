"""What GHE is told about a deployment: the commit's status and a Deployments record per environment.

When the stack's lock is taken: the commit's ``pending`` status, then a deployment of the commit to
the target's environment (payload: stack and execution) with an ``in_progress`` status linking the
execution. At the end: the commit's outcome status, then the deployment's final status (``success``,
``failure`` or ``error``). The deployment is found again by the execution's ARN in its payload, or
created at the end if GHE was down at the start (a superseded execution gets none).

GHE being down never fails a deployment: a call that fails is logged and counted
(stepdeploy.observability.ghe_failure), and once one failed the step makes no further GHE call, so an
unreachable GHE costs one time-out per step, not one per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from stepdeploy.aws.executions import console_url
from stepdeploy.ghe.api import GheApi, ghe_api
from stepdeploy.ghe.statuses import outcome_state, post_commit_status
from stepdeploy.observability import ghe_failure, logger

T = TypeVar("T")


@dataclass(frozen=True)
class Where:
    """The deployment GHE hears about: whose commit, to which environment and stack, run by which execution."""

    repository: str | None
    commit: str | None
    environment: str
    stack: str | None
    execution_arn: str

    @property
    def trackable(self) -> bool:
        """A Deployments record needs a repository, a commit and a real stack."""
        return bool(self.repository and self.commit and self.stack and self.stack != "(none)")


class _Failed(Exception):
    """A GHE call failed (already logged and counted)."""


def _call(operation: str, where: Where, call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - GHE being down must never fail a deployment
        logger.warning(f"GHE {operation} failed", extra={"reason": str(exc)[:300]})
        ghe_failure(operation, exc, repository=where.repository)
        raise _Failed from None


def _status(state: str, description: str, where: Where) -> bool:
    return post_commit_status(
        repository=where.repository, commit=where.commit, environment=where.environment, state=state,
        description=description, execution_arn=where.execution_arn,
    )


def _create(api: GheApi, where: Where, description: str) -> dict[str, Any]:
    payload = {"stack": where.stack, "execution": where.execution_arn, "tool": "stepdeploy"}
    return _call(
        "create deployment", where,
        lambda: api.create_deployment(
            where.repository or "", where.commit or "", where.environment, description=description, payload=payload
        ),
    )


def _find(api: GheApi, where: Where) -> dict[str, Any] | None:
    found = _call(
        "list deployments", where,
        lambda: api.deployments(where.repository or "", sha=where.commit or "", environment=where.environment),
    )
    for deployment in found:
        payload = deployment.get("payload")
        if isinstance(payload, dict) and payload.get("execution") == where.execution_arn:
            return deployment
    return None


def report_started(where: Where, description: str) -> None:
    """Pending commit status, and a deployment record ``in_progress``."""
    if not _status("pending", description, where) or not where.trackable:
        return
    try:
        api = _call("read token", where, ghe_api)
        deployment = _create(api, where, description)
        _call(
            "deployment status", where,
            lambda: api.create_deployment_status(
                where.repository or "", deployment["id"], "in_progress", description, console_url(where.execution_arn)
            ),
        )
    except _Failed:
        return


def report_finished(where: Where, outcome: str, description: str, *, state: str | None = None) -> None:
    """The outcome as the commit's status and as the final status of the execution's deployment."""
    final = state or outcome_state(outcome)
    if not _status(final, description, where) or not where.trackable:
        return
    try:
        api = _call("read token", where, ghe_api)
        deployment = _find(api, where)
        if deployment is None:
            if outcome == "Superseded":
                return
            deployment = _create(api, where, description)
        _call(
            "deployment status", where,
            lambda: api.create_deployment_status(
                where.repository or "", deployment["id"], final, description, console_url(where.execution_arn)
            ),
        )
    except _Failed:
        return
