"""The permissions boundary on every role an application stack creates (DESIGN invariant 4).

The role CloudFormation deploys application stacks with may create a role, or change its policies,
only when the role carries the orchestrator's boundary (``ApplicationBoundaryPolicy``, condition
``iam:PermissionsBoundary``); IAM refuses any other role in the middle of the stack update. Package
artifact therefore writes the boundary into the application's template, where SAM passes it on to
the roles it generates:

- ``Globals.Function`` (when the template has it) and every ``AWS::Serverless::Function`` without a
  ``Role`` of its own, or with one only under ``Fn::If`` (SAM generates its execution role);
- every ``AWS::Serverless::StateMachine`` (its role, and the roles of its Schedule, EventBridgeRule,
  CloudWatchEvent and Api events);
- every ``ScheduleV2`` event without a ``RoleArn``, of a function or a state machine (SAM generates
  the scheduler's role from the event's own ``PermissionsBoundary``);
- every ``AWS::IAM::Role``.

Refused, before anything is stored, naming the resource and what is expected (``ArtifactRejected``):

- a ``PermissionsBoundary`` other than the orchestrator's (the ARN, written out);
- SAM resource types whose generated roles cannot carry a boundary, or that create IAM managed
  policies (``AWS::Serverless::Connector``, a resource's ``Connectors``): only ``SAM_TYPES``;
- IAM resource types other than ``AWS::IAM::Role``, ``AWS::IAM::Policy`` and ``AWS::IAM::RolePolicy``
  (users, groups, access keys, managed policies, instance profiles, identity providers, ...);
- an ``AWS::IAM::Policy`` or ``AWS::IAM::RolePolicy`` for anything but roles of this stack;
- an inline policy statement that allows IAM actions (``iam:...``, ``*``, or ``NotAction``): the
  boundary denies every IAM action, so such a grant can only mislead a reviewer.

What this module does not see (the boundary still holds, because IAM enforces the condition): roles
in nested stacks (``AWS::Serverless::Application``), managed policies attached by ARN (the boundary
caps them), and policy text built with intrinsic functions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from stepdeploy.errors import ArtifactRejected

PROPERTY = "PermissionsBoundary"
SAM_TYPES = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::StateMachine",
        "AWS::Serverless::Api",
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::SimpleTable",
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::Application",
    }
)
"""SAM resource types whose generated roles take the boundary from the template, or that generate none."""
IAM_TYPES = frozenset({"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"})
_FUNCTION = "AWS::Serverless::Function"
_STATE_MACHINE = "AWS::Serverless::StateMachine"


def apply_permissions_boundary(template: dict[str, Any], boundary_arn: str, *, name: str = "template") -> None:
    """Check ``template`` (see the module's refusals; ``name`` names it), then set the boundary everywhere,
    in place."""
    check_permissions_boundary(template, boundary_arn, name=name)
    resources: dict[str, Any] = template["Resources"]
    globals_function = _globals_function(template)
    if globals_function is not None:
        globals_function[PROPERTY] = boundary_arn
    for resource in resources.values():
        kind, props = resource.get("Type"), _properties(resource)
        if kind == "AWS::IAM::Role" or kind == _STATE_MACHINE or (kind == _FUNCTION and _generates_role(props)):
            props[PROPERTY] = boundary_arn
        for _, event in _schedule_v2_events(kind, props):
            _properties(event)[PROPERTY] = boundary_arn


def _properties(node: dict[str, Any]) -> dict[str, Any]:
    """``node["Properties"]``, made a mapping when YAML left it empty (``Properties:`` gives None)."""
    props = node.get("Properties")
    if not isinstance(props, dict):
        props = node["Properties"] = {}
    return props


def check_permissions_boundary(template: dict[str, Any], boundary_arn: str, *, name: str = "template") -> None:
    """ArtifactRejected naming the template (``name``), the first resource that would create IAM principals
    or policies outside the boundary, and what is expected instead."""
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        raise ArtifactRejected(f"{name}: Resources: expected a mapping of resources")
    globals_function = _globals_function(template)
    if globals_function is not None:
        _check_boundary_value(globals_function, f"{name}: Globals.Function", boundary_arn)
    stack_roles = _stack_roles(resources)
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            raise ArtifactRejected(f"{name}: resource {logical_id} must be a mapping")
        kind = str(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        where = f"{name}: {logical_id}"
        if not isinstance(props, dict):
            raise ArtifactRejected(f"{name}: {logical_id}.Properties must be a mapping")
        if "Connectors" in resource:
            raise ArtifactRejected(
                f"{where}.Connectors: SAM turns connectors into IAM managed policies, which the deploy role may "
                "not create; expected the permissions in the function's or state machine's Policies"
            )
        if kind.startswith("AWS::Serverless::") and kind not in SAM_TYPES:
            raise ArtifactRejected(
                f"{where}: stepdeploy cannot put the permissions boundary on the roles SAM generates for {kind} "
                f"(or SAM creates IAM managed policies for it); expected one of {', '.join(sorted(SAM_TYPES))}"
            )
        if kind.startswith("AWS::IAM::") and kind not in IAM_TYPES:
            raise ArtifactRejected(
                f"{where}: {kind}: application stacks may create roles (under the permissions boundary) and their "
                f"inline policies only; expected one of {', '.join(sorted(IAM_TYPES))}, not IAM users, groups, keys, "
                "managed policies or providers"
            )
        if kind in ("AWS::IAM::Role", _FUNCTION, _STATE_MACHINE):
            _check_boundary_value(props, where, boundary_arn)
        for event_name, event in _schedule_v2_events(kind, props):
            event_props = event.get("Properties") or {}
            _check_boundary_value(event_props, f"{where}.Events.{event_name}.Properties", boundary_arn)
        if kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            _check_policy_targets(kind, props, where, stack_roles)
        for path, statement in _statements(kind, props):
            _check_statement(statement, f"{where}.{path}")


def _globals_function(template: dict[str, Any]) -> dict[str, Any] | None:
    globals_ = template.get("Globals")
    function = globals_.get("Function") if isinstance(globals_, dict) else None
    return function if isinstance(function, dict) else None


def _check_boundary_value(props: dict[str, Any], where: str, boundary_arn: str) -> None:
    value = props.get(PROPERTY)
    if value is not None and value != boundary_arn:
        raise ArtifactRejected(
            f"{where}.{PROPERTY}: expected the orchestrator's boundary {boundary_arn} (or none: stepdeploy sets "
            f"it); found {value!r}"
        )


def _schedule_v2_events(kind: Any, props: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ScheduleV2 events SAM generates a scheduler role for (those without a RoleArn), by name."""
    if kind not in (_FUNCTION, _STATE_MACHINE) or not isinstance(props.get("Events"), dict):
        return
    for name, event in props["Events"].items():
        if isinstance(event, dict) and event.get("Type") == "ScheduleV2" and "RoleArn" not in (
            event.get("Properties") or {}
        ):
            yield str(name), event


def _stack_roles(resources: dict[str, Any]) -> set[str]:
    """Logical ids of the roles this stack creates: its AWS::IAM::Role resources and the roles SAM
    generates (``<Function>Role``, ``<StateMachine>Role``)."""
    roles = set()
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::IAM::Role":
            roles.add(logical_id)
        elif resource.get("Type") in (_FUNCTION, _STATE_MACHINE) and _generates_role(props):
            roles.add(f"{logical_id}Role")
    return roles


def _generates_role(props: dict[str, Any]) -> bool:
    """SAM generates the resource's role when it names none, or names one only under a condition
    (``Fn::If`` with ``AWS::NoValue`` on one side)."""
    role = props.get("Role")
    return role is None or (isinstance(role, dict) and "Fn::If" in role)


def _check_policy_targets(kind: str, props: dict[str, Any], where: str, stack_roles: set[str]) -> None:
    for key in ("Users", "Groups"):
        if props.get(key):
            raise ArtifactRejected(f"{where}.{key}: expected the policy on roles of this stack only (Roles)")
    targets = props.get("Roles") if kind == "AWS::IAM::Policy" else [props.get("RoleName")]
    key = "Roles" if kind == "AWS::IAM::Policy" else "RoleName"
    if not isinstance(targets, list) or not targets:
        raise ArtifactRejected(f"{where}.{key}: expected roles of this stack (!Ref <role logical id>)")
    for target in targets:
        ref = target.get("Ref") if isinstance(target, dict) and len(target) == 1 else None
        if ref not in stack_roles:
            raise ArtifactRejected(
                f"{where}.{key}: expected !Ref to a role of this stack ({', '.join(sorted(stack_roles)) or 'none'}); "
                f"found {target!r}, a role the stack does not create"
            )


def _statements(kind: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every inline policy statement of the resource, with where it is."""
    documents: list[tuple[str, Any]] = []
    if kind == "AWS::IAM::Role":
        for index, policy in enumerate(props.get("Policies") or []):
            if isinstance(policy, dict):
                documents.append((f"Policies[{index}].PolicyDocument", policy.get("PolicyDocument")))
    elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
        documents.append(("PolicyDocument", props.get("PolicyDocument")))
    elif kind in (_FUNCTION, _STATE_MACHINE):
        policies = props.get("Policies")
        for index, policy in enumerate(policies if isinstance(policies, list) else [policies]):
            if isinstance(policy, dict) and "Statement" in policy:  # not a SAM policy template
                documents.append((f"Policies[{index}]", policy))
    for path, document in documents:
        statements = document.get("Statement") if isinstance(document, dict) else None
        for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
            if isinstance(statement, dict):
                yield f"{path}.Statement[{index}]", statement


def _grants_iam(action: Any) -> bool:
    if not isinstance(action, str):
        return False  # an intrinsic function: not readable here; the boundary still denies IAM
    service, _, _ = action.lower().partition(":")
    return action.strip() == "*" or fnmatch.fnmatchcase("iam", service)


def _check_statement(statement: dict[str, Any], where: str) -> None:
    if statement.get("Effect") != "Allow":
        return
    if "NotAction" in statement:
        raise ArtifactRejected(
            f"{where}: NotAction in an Allow statement grants every other action, IAM's included; expected Action "
            "with the actions the role needs"
        )
    actions = statement.get("Action")
    granted = [a for a in (actions if isinstance(actions, list) else [actions]) if _grants_iam(a)]
    if granted:
        raise ArtifactRejected(
            f"{where}.Action: {', '.join(map(str, granted))} grants IAM actions, which the permissions boundary "
            "denies to every application role; expected the service actions the role needs"
        )
