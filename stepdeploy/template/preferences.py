"""SAM's ``DeploymentPreference``, taken into stepdeploy's own traffic shift.

A template written for ``sam deploy`` says per function how CodeDeploy shifts it (``Type``), which
alarms stop it (``Alarms``) and which functions run before and after traffic moves (``Hooks``:
``PreTraffic``, ``PostTraffic``). stepdeploy removes the preference from the template it deploys
(CloudFormation would otherwise run a CodeDeploy deployment of its own inside the stack update) and
follows it instead, for that function, wherever stepdeploy.yml's ``deployment`` does not say
otherwise: a ``strategy``, ``alarms`` or ``hooks`` written in stepdeploy.yml wins.

``Enabled: false`` means "no gradual shift" for SAM: here the function is shifted all at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from stepdeploy.app_config.target_config import PREDEFINED_DEPLOYMENT_CONFIGS, Deployment
from stepdeploy.errors import ArtifactRejected

HOOK_KEYS = (("PreTraffic", "before_allow_traffic"), ("PostTraffic", "after_allow_traffic"))


class MappedPreference(BaseModel):
    strategy: str
    alarms: list[str] = []
    """Logical ids (or names) of the alarms."""
    hooks: dict[str, str] = {}
    """before_allow_traffic / after_allow_traffic -> the hook function's logical id."""


def _logical_id(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            if isinstance(parts, list) and parts and isinstance(parts[0], str):
                return parts[0]
    raise ArtifactRejected(
        f"{where}: {value!r}; expected !Ref of a resource of the template, or a name"
    )


def _strategy(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ArtifactRejected(f"{where}.Type: {value!r}; expected a deployment type such as Canary10Percent5Minutes")
    short = value.removeprefix("CodeDeployDefault.")
    if f"Lambda{short}" in PREDEFINED_DEPLOYMENT_CONFIGS:
        return f"CodeDeployDefault.Lambda{short}"
    if short in PREDEFINED_DEPLOYMENT_CONFIGS:
        return f"CodeDeployDefault.{short}"
    return value  # a custom deployment configuration, by name (it must exist in CodeDeploy)


def map_preference(logical_id: str, preference: Any) -> MappedPreference:
    where = f"template: {logical_id}.DeploymentPreference"
    if not isinstance(preference, dict):
        raise ArtifactRejected(f"{where}: expected a mapping with Type, Alarms, Hooks")
    if preference.get("Enabled") in (False, "false", "False"):
        return MappedPreference(strategy="CodeDeployDefault.LambdaAllAtOnce")
    alarms = preference.get("Alarms") or []
    if not isinstance(alarms, list):
        raise ArtifactRejected(f"{where}.Alarms: expected a list of alarms")
    hooks = preference.get("Hooks") or {}
    if not isinstance(hooks, dict):
        raise ArtifactRejected(f"{where}.Hooks: expected PreTraffic and/or PostTraffic")
    unknown = sorted(set(hooks) - {k for k, _ in HOOK_KEYS})
    if unknown:
        raise ArtifactRejected(f"{where}.Hooks: {', '.join(unknown)}; expected PreTraffic and/or PostTraffic")
    return MappedPreference(
        strategy=_strategy(preference.get("Type"), where),
        alarms=[_logical_id(a, f"{where}.Alarms") for a in alarms],
        hooks={field: _logical_id(hooks[key], f"{where}.Hooks.{key}") for key, field in HOOK_KEYS if key in hooks},
    )


def hook_functions(preferences: dict[str, MappedPreference]) -> set[str]:
    return {hook for preference in preferences.values() for hook in preference.hooks.values()}


def effective(deployment: Deployment, preference: MappedPreference | None) -> tuple[str, list[str], dict[str, str]]:
    """(deployment config name, alarms, hooks by field) for one function: stepdeploy.yml first."""
    explicit = deployment.model_fields_set
    hooks = {field: name for field, name in deployment.hooks.model_dump().items() if name}
    if preference is None:
        return deployment.deployment_config_name, list(deployment.alarms), hooks
    return (
        deployment.deployment_config_name if "strategy" in explicit else preference.strategy,
        list(deployment.alarms) if "alarms" in explicit else preference.alarms,
        hooks if "hooks" in explicit else dict(preference.hooks),
    )


def gating_alarms(deployment: Deployment, preferences: dict[str, dict[str, Any]]) -> list[str]:
    """Every alarm that gates the release: stepdeploy.yml's, else those of the functions' preferences."""
    entries = list(deployment.alarms)
    if "alarms" not in deployment.model_fields_set:
        for preference in preferences.values():
            entries.extend(MappedPreference.model_validate(preference).alarms)
    return list(dict.fromkeys(entries))
