"""CodeDeploy for Lambda: deployment configurations, deployment groups, deployments."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from stepdeploy.app_config.target_config import CustomStrategy
from stepdeploy.aws import clients
from stepdeploy.aws.clients import error_code
from stepdeploy.errors import StackBusy

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_codedeploy.type_defs import TrafficRoutingConfigTypeDef

ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")
LAMBDA_STYLE = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}


def traffic_routing(strategy: CustomStrategy) -> dict[str, Any]:
    if strategy.type == "canary":
        return {
            "type": "TimeBasedCanary",
            "timeBasedCanary": {"canaryPercentage": strategy.percent, "canaryInterval": strategy.interval_minutes},
        }
    return {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"linearPercentage": strategy.percent, "linearInterval": strategy.interval_minutes},
    }


def group_settings(config_name: str, role_arn: str, alarms: list[str]) -> dict[str, Any]:
    """What a deployment group of ours is: traffic control, alarms, automatic rollback."""
    return {
        "deploymentConfigName": config_name,
        "serviceRoleArn": role_arn,
        "deploymentStyle": dict(LAMBDA_STYLE),
        "alarmConfiguration": {
            "enabled": bool(alarms),
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": name} for name in alarms],
        },
        "autoRollbackConfiguration": {"enabled": True, "events": list(ROLLBACK_EVENTS)},
    }


def group_differs(existing: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The settings of an existing group that are not what we want (empty: leave it alone)."""
    differs = []
    for key in ("deploymentConfigName", "serviceRoleArn"):
        if str(existing.get(key) or "") != str(wanted[key]):
            differs.append(key)
    style = existing.get("deploymentStyle") or {}
    if any(style.get(k) != v for k, v in wanted["deploymentStyle"].items()):
        differs.append("deploymentStyle")
    have_alarms = existing.get("alarmConfiguration") or {}
    want_alarms = wanted["alarmConfiguration"]
    if bool(have_alarms.get("enabled")) != want_alarms["enabled"] or sorted(
        a.get("name", "") for a in have_alarms.get("alarms") or []
    ) != sorted(a["name"] for a in want_alarms["alarms"]):
        differs.append("alarmConfiguration")
    if bool(have_alarms.get("ignorePollAlarmFailure")) and want_alarms["enabled"]:
        differs.append("alarmConfiguration")
    rollback = existing.get("autoRollbackConfiguration") or {}
    if not rollback.get("enabled") or set(rollback.get("events") or []) != set(ROLLBACK_EVENTS):
        differs.append("autoRollbackConfiguration")
    return list(dict.fromkeys(differs))


class CodeDeploy:
    def __init__(self, client: CodeDeployClient | None = None) -> None:
        self._cd = client or clients.client("codedeploy")

    def ensure_config(self, strategy: CustomStrategy) -> bool:
        """Create the custom deployment configuration if absent; True if created."""
        try:
            self._cd.get_deployment_config(deploymentConfigName=strategy.name)
            return False
        except ClientError as exc:
            if error_code(exc) != "DeploymentConfigDoesNotExistException":
                raise
        try:
            self._cd.create_deployment_config(
                deploymentConfigName=strategy.name,
                computePlatform="Lambda",
                trafficRoutingConfig=cast("TrafficRoutingConfigTypeDef", traffic_routing(strategy)),
            )
        except ClientError as exc:
            if error_code(exc) != "DeploymentConfigAlreadyExistsException":
                raise
            return False
        return True

    def group(self, application: str, group: str) -> dict[str, Any] | None:
        try:
            return dict(
                self._cd.get_deployment_group(applicationName=application, deploymentGroupName=group)[
                    "deploymentGroupInfo"
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "DeploymentGroupDoesNotExistException":
                return None
            raise

    def ensure_group(self, application: str, group: str, wanted: dict[str, Any]) -> str:
        """'created', 'updated' or 'unchanged'."""
        existing = self.group(application, group)
        if existing is None:
            try:
                self._cd.create_deployment_group(applicationName=application, deploymentGroupName=group, **wanted)
                return "created"
            except ClientError as exc:
                if error_code(exc) != "DeploymentGroupAlreadyExistsException":
                    raise
                existing = self.group(application, group) or {}
        if not group_differs(existing, wanted):
            return "unchanged"
        self._cd.update_deployment_group(applicationName=application, currentDeploymentGroupName=group, **wanted)
        return "updated"

    def find_deployment(self, application: str, group: str, marker: str, since: datetime | None) -> str | None:
        """A deployment of the group whose description carries ``marker`` (made by an earlier attempt)."""
        params: dict[str, Any] = {"applicationName": application, "deploymentGroupName": group}
        if since is not None:
            params["createTimeRange"] = {"start": since}
        for page in self._cd.get_paginator("list_deployments").paginate(**params):
            for deployment_id in page.get("deployments", []):
                if marker in (self.deployment(deployment_id).get("description") or ""):
                    return str(deployment_id)
        return None

    def create_deployment(
        self, application: str, group: str, config_name: str, appspec: str, sha256: str, description: str
    ) -> str:
        try:
            response = self._cd.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                deploymentConfigName=config_name,
                description=description,
                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec, "sha256": sha256}},
            )
        except ClientError as exc:
            if error_code(exc) == "DeploymentLimitExceededException":
                # Another deployment (e.g. one being rolled back after a failed execution) still runs.
                raise StackBusy(f"deployment group {group} has a deployment in progress; waiting for it") from exc
            raise
        return str(response["deploymentId"])

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        return dict(self._cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"])

    def stop(self, deployment_id: str) -> bool:
        """Stop with rollback; False if it had already ended."""
        try:
            self._cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        except ClientError as exc:
            if error_code(exc) in ("DeploymentAlreadyCompletedException", "DeploymentIsNotInReadyStateException"):
                return False
            raise
        return True
