"""Start traffic shift: one CodeDeploy deployment per changed function, AppSpec built here (lesson 5).

The deployment group ``<stack>-<logicalId>`` is created or brought to what stepdeploy.yml says
(strategy, alarms, automatic rollback on failure and on alarm). Idempotent: a deployment this
execution already created for a function (found by the marker in its description) is reused.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from stepdeploy.app_config.target_config import CustomStrategy
from stepdeploy.aws.accounts import deploy_names
from stepdeploy.aws.alarms import resolve_alarm_names
from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.codedeploy import CodeDeploy, group_settings
from stepdeploy.errors import ConfigurationError
from stepdeploy.ingress.run_hook import hooks_token
from stepdeploy.models import Document, ExecutionContext, FunctionRelease, ShiftDeployment, ShiftInfo
from stepdeploy.settings import settings
from stepdeploy.template.preferences import MappedPreference, effective

GROUP_NAME_MAX = 100
CLOCK_SKEW = timedelta(minutes=15)
HOOK_EVENTS = (("before_allow_traffic", "BeforeAllowTraffic"), ("after_allow_traffic", "AfterAllowTraffic"))


def group_name(stack: str, logical_id: str) -> str:
    """``<stack>-<logicalId>``; a longer name is cut and made unique with a hash (100 characters at most)."""
    name = f"{stack}-{logical_id}"
    if len(name) <= GROUP_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: GROUP_NAME_MAX - 13]}-{digest}"


def build_appspec(release: FunctionRelease, hooks: dict[str, str]) -> str:
    """The AppSpec for one function: move ``alias`` from CurrentVersion to TargetVersion.

    ``hooks`` maps BeforeAllowTraffic/AfterAllowTraffic to the function CodeDeploy invokes: stepdeploy's
    hook runner for that event, which runs the application's hook (named in the deployment's description).
    """
    if release.previous_version is None:
        raise ValueError(f"{release.logical_id}: no current version to shift from")
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                release.logical_id: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": release.function_name,
                        "Alias": release.alias,
                        "CurrentVersion": release.previous_version,
                        "TargetVersion": release.version,
                    },
                }
            }
        ],
    }
    if hooks:
        spec["Hooks"] = [{event: function} for event, function in hooks.items()]
    return json.dumps(spec, indent=1)


def deployment_marker(execution: ExecutionContext, release: FunctionRelease) -> str:
    digest = hashlib.sha256(execution.id.encode()).hexdigest()[:16]
    return f"[stepdeploy:{digest}:{release.logical_id}:{release.version}]"


def _listing_start(execution_start: str | None) -> datetime | None:
    """Deployments of this execution were created after it started (less a margin for clock skew)."""
    if not execution_start:
        return None
    try:
        return datetime.fromisoformat(execution_start.replace("Z", "+00:00")) - CLOCK_SKEW
    except ValueError:
        return None


def resolve_hooks(cfn: CloudFormation, document: Document, hooks: dict[str, str] | None = None) -> dict[str, str]:
    """BeforeAllowTraffic/AfterAllowTraffic -> the hook function's physical name.

    ``hooks`` (field -> logical id) defaults to stepdeploy.yml's deployment.hooks."""
    request = document.require_request()
    assert request.target is not None
    if hooks is None:
        hooks = {f: n for f, n in request.target.deployment.hooks.model_dump().items() if n}
    resolved: dict[str, str] = {}
    for field, event in HOOK_EVENTS:
        logical_id = hooks.get(field)
        if not logical_id:
            continue
        resource = cfn.resource(request.stack, logical_id)
        if not resource or resource.get("ResourceType") != "AWS::Lambda::Function":
            raise ConfigurationError(
                f"stepdeploy.yml: targets (stack {request.stack}).deployment.hooks.{field} (or the template's "
                f"DeploymentPreference.Hooks): {logical_id!r} is not a Lambda function of stack {request.stack}; "
                "expected the logical id of the hook function"
            )
        resolved[event] = str(resource["PhysicalResourceId"])
    return resolved


def start_traffic_shift(
    document: Document, execution: ExecutionContext
) -> ShiftInfo:
    request = document.require_request()
    assert request.target is not None
    if document.versions is None:
        raise ValueError("Start traffic shift needs the Publish versions step's result in $.versions")
    s = settings()
    names = deploy_names()
    cd = CodeDeploy(client("codedeploy"))
    cfn = CloudFormation(client("cloudformation"))
    deployment = request.target.deployment
    if isinstance(deployment.strategy, CustomStrategy):
        cd.ensure_config(deployment.strategy)
    preferences = document.artifact.deployment_preferences if document.artifact else {}
    since = _listing_start(execution.start_time)
    started: list[ShiftDeployment] = []
    gating: list[str] = []  # every alarm that gates one of the shifts: the bake watches them all
    for release in document.versions.functions:
        if not release.needs_shift:
            continue
        preference = preferences.get(release.logical_id)
        config_name, alarm_entries, hook_ids = effective(
            deployment, MappedPreference.model_validate(preference) if preference else None
        )
        alarms = resolve_alarm_names(cfn, request.stack, alarm_entries)
        gating.extend(name for name in alarms if name not in gating)
        hooks = resolve_hooks(cfn, document, hook_ids)
        wanted = group_settings(config_name, names.codedeploy_role_arn, alarms)
        group = group_name(request.stack, release.logical_id)
        cd.ensure_group(names.codedeploy_application, group, wanted)
        marker = deployment_marker(execution, release)
        deployment_id = cd.find_deployment(names.codedeploy_application, group, marker, since)
        if deployment_id is None:
            appspec = build_appspec(release, {event: s.hook_runner(event) for event in hooks})
            deployment_id = cd.create_deployment(
                names.codedeploy_application,
                group,
                config_name,
                appspec,
                hashlib.sha256(appspec.encode()).hexdigest(),
                # The runner reads the hooks from here: written by the call that creates the deployment,
                # so it is there before CodeDeploy invokes any hook.
                f"{marker} {hooks_token(hooks)} {release.function_name}:{release.alias} "
                f"{release.previous_version} -> {release.version} ({request.repository or request.source}"
                f"@{request.short_commit})",
            )
        started.append(
            ShiftDeployment(
                logical_id=release.logical_id, function_name=release.function_name, deployment_id=deployment_id
            )
        )
    return ShiftInfo(deployments=started, alarms=gating, bake_seconds=max(1, deployment.bake_minutes * 60))
