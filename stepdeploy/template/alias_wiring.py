"""Every event source of a managed function invokes the alias stepdeploy shifts (DESIGN invariant 1).

SAM wires a function's ``Events`` (Api, HttpApi, SQS, Kinesis, DynamoDB, Schedule, ScheduleV2,
EventBridgeRule, SNS, S3, Cognito, IoTRule, CloudWatchLogs, MSK, MQ, ...), its FunctionUrlConfig and
its EventInvokeConfig to the alias only when the function has ``AutoPublishAlias``. So the packaged
template gives every managed ``AWS::Serverless::Function``:

- ``AutoPublishAlias: <deployment.alias>``: SAM creates ``<Id>Alias<alias>`` and points every
  source at it;
- ``AutoPublishCodeSha256: stepdeploy`` (a constant): SAM names the version resource from this
  value instead of a hash of the code, so the ``AWS::Lambda::Version`` is created once, on the
  stack's first deploy (it publishes version 1 for the alias), and the alias resource never changes
  after that. CloudFormation therefore never moves the alias; Publish versions publishes each new
  version and CodeDeploy shifts the alias between them (DESIGN lessons 4 and 5);
- no ``AutoPublishAliasAllProperties`` (it would rename the version resource on any change) and no
  ``DeploymentPreference`` (CloudFormation would run its own CodeDeploy deployment inside the
  stack update); the preference is returned so that stepdeploy's deployment can follow it.

Plain CloudFormation in the same template is wired too: a managed ``AWS::Lambda::Function`` gets
the same pinned version and alias resources, and the invoking references of plain event-source
resources (``AWS::Lambda::Permission``, ``AWS::Lambda::EventSourceMapping``, ``AWS::Events::Rule``,
``AWS::Scheduler::Schedule``, ``AWS::SNS::Subscription``, ``AWS::Lambda::Url``) are pointed at the
alias. A reference of a type not in that list is left alone: it is not an event source stepdeploy
knows (an IAM policy, a log group name, an output).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepdeploy.errors import ArtifactRejected
from stepdeploy.template.preferences import MappedPreference, hook_functions, map_preference

PINNED_VERSION = "stepdeploy"
"""``AutoPublishCodeSha256``: SAM's version resource is then ``<Id>Versionstepdeploy``, created once."""

SAM_FUNCTION = "AWS::Serverless::Function"
PLAIN_FUNCTION = "AWS::Lambda::Function"
_NOT_ALIAS_SAFE: dict[str, str] = {}
"""SAM event types that cannot invoke an alias. aws-sam-translator wires every type it knows to the
alias when AutoPublishAlias is set (tests/unit/test_alias_wiring.py checks each); none is refused."""

SAM_EVENT_TYPES = frozenset(
    {
        "Api", "HttpApi", "SQS", "Kinesis", "DynamoDB", "Schedule", "ScheduleV2", "EventBridgeRule",
        "CloudWatchEvent", "SNS", "S3", "Cognito", "CloudWatchLogs", "IoTRule", "AlexaSkill", "MSK", "MQ",
        "SelfManagedKafka", "DocumentDB",
    }
)


@dataclass
class Wiring:
    alias: str
    functions: list[str] = field(default_factory=list)
    """Logical ids of the functions whose sources now invoke the alias."""
    preferences: dict[str, MappedPreference] = field(default_factory=dict)
    """Logical id -> the DeploymentPreference the template gave (removed from the template), mapped."""
    hooks: list[str] = field(default_factory=list)
    """Functions the preferences name as PreTraffic/PostTraffic hooks: never shifted themselves."""


def alias_logical_id(function_id: str, alias: str) -> str:
    """The alias resource SAM names ``<Id>Alias<alias>`` ('-' -> 'D', '_' -> 'U')."""
    return f"{function_id}Alias{alias.replace('-', 'D').replace('_', 'U')}"


def version_logical_id(function_id: str) -> str:
    return f"{function_id}Version{PINNED_VERSION}"


def _check_alias_name(value: Any, alias: str, where: str) -> None:
    if value is None or value == alias:
        return
    if not isinstance(value, str):
        raise ArtifactRejected(
            f"{where}.AutoPublishAlias: an intrinsic function; stepdeploy shifts the alias named in "
            f"stepdeploy.yml (deployment.alias: {alias}); write AutoPublishAlias: {alias} or remove it"
        )
    raise ArtifactRejected(
        f"{where}.AutoPublishAlias: {value!r}, but stepdeploy.yml's deployment.alias is {alias!r}; "
        "stepdeploy shifts one alias per function: make them the same name"
    )


def wire_aliases(template: dict[str, Any], *, alias: str, managed: Callable[[str], bool]) -> Wiring:
    """Rewrite ``template`` in place so every event source of each managed function invokes ``alias``."""
    wiring = Wiring(alias)
    resources: dict[str, Any] = template.get("Resources") or {}
    globals_ = template.get("Globals", {}).get("Function", {}) if isinstance(template.get("Globals"), dict) else {}
    if not isinstance(globals_, dict):
        globals_ = {}
    _check_alias_name(globals_.get("AutoPublishAlias"), alias, "template: Globals.Function")
    global_preference = globals_.pop("DeploymentPreference", None)
    for option in ("AutoPublishAliasAllProperties", "AutoPublishCodeSha256"):
        globals_.pop(option, None)

    functions = {
        lid: r for lid, r in resources.items()
        if isinstance(r, dict) and r.get("Type") == SAM_FUNCTION and isinstance(r.setdefault("Properties", {}), dict)
    }
    own = {lid: r["Properties"].pop("DeploymentPreference", None) for lid, r in functions.items()}
    raw = {lid: own[lid] or global_preference for lid in functions}
    mapped = {lid: map_preference(lid, p) for lid, p in raw.items() if p is not None}
    hooks = hook_functions(mapped)

    def is_managed(logical_id: str) -> bool:
        return managed(logical_id) and logical_id not in hooks

    plain: list[str] = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        where = f"template: {logical_id}"
        if kind == SAM_FUNCTION:
            _check_alias_name(props.get("AutoPublishAlias"), alias, where)
            if not is_managed(logical_id):
                if own.get(logical_id) is not None and logical_id not in hooks:
                    raise ArtifactRejected(
                        f"{where}.DeploymentPreference: {logical_id} is not one of the functions stepdeploy "
                        "shifts (a hook, or left out of deployment.functions in stepdeploy.yml); add it to "
                        "deployment.functions or remove its DeploymentPreference"
                    )
                continue
            _check_events(logical_id, props)
            props["AutoPublishAlias"] = alias
            props["AutoPublishCodeSha256"] = PINNED_VERSION
            props.pop("AutoPublishAliasAllProperties", None)
            if logical_id in mapped:
                wiring.preferences[logical_id] = mapped[logical_id]
            wiring.functions.append(logical_id)
        elif kind == PLAIN_FUNCTION and is_managed(logical_id):
            plain.append(logical_id)
    wiring.hooks = sorted(hooks)
    for logical_id in plain:
        _add_version_and_alias(resources, logical_id, alias)
        wiring.functions.append(logical_id)
    targets = {fid: alias_logical_id(fid, alias) for fid in wiring.functions}
    for resource in list(resources.values()):
        if isinstance(resource, dict) and resource.get("Type") in _REWRITES:
            _REWRITES[str(resource["Type"])](resource, targets, alias)
    return wiring


def _check_events(logical_id: str, props: dict[str, Any]) -> None:
    events = props.get("Events") or {}
    if not isinstance(events, dict):
        return
    for name, event in events.items():
        kind = event.get("Type") if isinstance(event, dict) else None
        if kind in _NOT_ALIAS_SAFE or (isinstance(kind, str) and kind not in SAM_EVENT_TYPES):
            raise ArtifactRejected(
                f"template: {logical_id}.Events.{name}: event type {kind!r} cannot be routed through the alias "
                "stepdeploy shifts, so a canary would not carry its traffic; use one of "
                f"{', '.join(sorted(SAM_EVENT_TYPES))}, or invoke the function from a separate, unmanaged function"
            )


def _add_version_and_alias(resources: dict[str, Any], logical_id: str, alias: str) -> None:
    version_id, alias_id = version_logical_id(logical_id), alias_logical_id(logical_id, alias)
    for taken in (version_id, alias_id):
        if taken in resources:
            raise ArtifactRejected(f"template: resource {taken!r} is reserved by stepdeploy for {logical_id}'s alias")
    resources[version_id] = {
        "Type": "AWS::Lambda::Version",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"FunctionName": {"Ref": logical_id}},
    }
    resources[alias_id] = {
        "Type": "AWS::Lambda::Alias",
        "Properties": {
            "Name": alias,
            "FunctionName": {"Ref": logical_id},
            "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        },
    }


# --- references of plain event-source resources ---------------------------------------------------
def _referenced_function(value: Any) -> str | None:
    """The logical id a ``Ref``/``GetAtt .Arn``/``Sub "${X.Arn}"`` names, if the value is only that."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (key, arg), = value.items()
    if key == "Ref" and isinstance(arg, str):
        return arg
    if key == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        if isinstance(parts, list) and len(parts) == 2 and parts[1] == "Arn" and isinstance(parts[0], str):
            return parts[0]
    if key == "Fn::Sub" and isinstance(arg, str):
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}", arg)
        return match.group(1) if match else None
    return None


def _to_alias(value: Any, targets: dict[str, str]) -> Any:
    function = _referenced_function(value)
    if function in targets:
        return {"Ref": targets[function]}  # Ref of an AWS::Lambda::Alias is the alias ARN
    return value


def _rewrite_key(holder: Any, key: str, targets: dict[str, str]) -> None:
    if isinstance(holder, dict) and key in holder:
        holder[key] = _to_alias(holder[key], targets)


def _permission(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    _rewrite_key(resource.get("Properties"), "FunctionName", targets)


def _event_source_mapping(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    _rewrite_key(resource.get("Properties"), "FunctionName", targets)


def _rule(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    for target in (resource.get("Properties") or {}).get("Targets") or []:
        _rewrite_key(target, "Arn", targets)


def _schedule(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    _rewrite_key((resource.get("Properties") or {}).get("Target"), "Arn", targets)


def _subscription(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    props = resource.get("Properties") or {}
    if props.get("Protocol") == "lambda":
        _rewrite_key(props, "Endpoint", targets)


def _function_url(resource: dict[str, Any], targets: dict[str, str], alias: str) -> None:
    props = resource.get("Properties") or {}
    function = _referenced_function(props.get("TargetFunctionArn"))
    if function in targets and "Qualifier" not in props:
        props["Qualifier"] = alias
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        resource["DependsOn"] = [*depends, targets[function]]


_REWRITES: dict[str, Callable[[dict[str, Any], dict[str, str], str], None]] = {
    "AWS::Lambda::Permission": _permission,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::Events::Rule": _rule,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SNS::Subscription": _subscription,
    "AWS::Lambda::Url": _function_url,
}
