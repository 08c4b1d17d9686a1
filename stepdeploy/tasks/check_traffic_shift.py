"""Check traffic shift: follow the deployments; one failure stops the others so that all roll back.

A rollback (CodeDeploy's rollbackInfo, or ALARM_ACTIVE) raises DeploymentRolledBack naming the
alarms in ALARM and the version each alias is back on; any other failure raises DeploymentFailed
with CodeDeploy's error code and message.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stepdeploy.aws.alarms import Alarms, resolve_alarm_names
from stepdeploy.aws.clients import client, error_code
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.codedeploy import CodeDeploy
from stepdeploy.errors import DeploymentFailed, DeploymentRolledBack
from stepdeploy.models import Document, ExecutionContext, ShiftDeployment, ShiftInfo, iso
from stepdeploy.observability import logger
from stepdeploy.release.recovery import restart_stopped_shifts
from stepdeploy.template.preferences import gating_alarms

SUCCEEDED = "Succeeded"
FAILED = ("Failed", "Stopped")
ENDED = (SUCCEEDED, *FAILED)


def is_rollback(info: dict[str, Any]) -> bool:
    rollback = info.get("rollbackInfo") or {}
    error = info.get("errorInformation") or {}
    return bool(rollback.get("rollbackDeploymentId")) or error.get("code") == "ALARM_ACTIVE"


def _alarms_firing(document: Document) -> list[str]:
    """The configured alarms now in ALARM; empty if they cannot be read (the message says less)."""
    request = document.require_request()
    assert request.target is not None
    preferences = document.artifact.deployment_preferences if document.artifact else {}
    entries = gating_alarms(request.target.deployment, preferences)
    if not entries:
        return []
    try:
        names = resolve_alarm_names(CloudFormation(client("cloudformation")), request.stack, entries)
        return sorted(Alarms(client("cloudwatch")).in_alarm(names))
    except ClientError as exc:
        logger.warning("cannot read the deployment's alarms", extra={"code": error_code(exc)})
        return []


def failure_message(
    document: Document,
    failed: list[tuple[ShiftDeployment, dict[str, Any]]],
    stopped: list[ShiftDeployment],
    firing: list[str],
    rolled_back: bool = True,
) -> str:
    previous = {f.logical_id: f for f in (document.versions.functions if document.versions else [])}

    def back_on(logical_id: str) -> str:
        release = previous.get(logical_id)
        if not rolled_back or release is None or release.previous_version is None:
            return ""
        return f"; alias {release.alias} is back on version {release.previous_version}"

    parts = []
    for deployment, info in failed:
        error = info.get("errorInformation") or {}
        code = error.get("code") or info.get("status")
        parts.append(
            f"{deployment.function_name} ({deployment.logical_id}, deployment {deployment.deployment_id}) "
            f"{info.get('status')}: {code}: {error.get('message') or 'no message'}{back_on(deployment.logical_id)}"
        )
    if firing:
        parts.insert(0, f"alarm{'s' if len(firing) > 1 else ''} in ALARM: {', '.join(firing)}")
    if stopped:
        parts.append(
            "stopped so that all roll back together: "
            + ", ".join(f"{d.function_name}{back_on(d.logical_id)}" for d in stopped)
        )
    return ". ".join(parts)


def check_traffic_shift(
    document: Document,
    execution: ExecutionContext,
) -> ShiftInfo:
    shift = document.shift
    if shift is None:
        raise ValueError("Check traffic shift needs the Start traffic shift step's result in $.shift")
    cd = CodeDeploy(client("codedeploy"))
    infos: dict[str, dict[str, Any]] = {}
    deployments: list[ShiftDeployment] = []
    for deployment in shift.deployments:
        if deployment.status not in (SUCCEEDED, "Restarting"):
            infos[deployment.deployment_id] = cd.deployment(deployment.deployment_id)
            deployment = deployment.model_copy(update={"status": infos[deployment.deployment_id]["status"]})
        deployments.append(deployment)
    deployments = restart_stopped_shifts(document, execution, deployments, cd)  # after a redrive
    failed = [(d, infos[d.deployment_id]) for d in deployments if d.status in FAILED]
    if failed:
        stopped = [d for d in deployments if d.status not in ENDED and cd.stop(d.deployment_id)]
        rolled_back = any(is_rollback(info) for _, info in failed)
        firing = _alarms_firing(document) if rolled_back else []
        message = failure_message(document, failed, stopped, firing, rolled_back)
        if rolled_back:
            raise DeploymentRolledBack(f"traffic shift rolled back: {message}")
        raise DeploymentFailed(f"traffic shift failed: {message}")
    done = all(d.status == SUCCEEDED for d in deployments)
    return shift.model_copy(update={"deployments": deployments, "done": done, "finished_at": iso() if done else None})
