"""CloudFormation that deploys SAM templates for real.

moto 5.2.5 ignores ``Transform: AWS::Serverless-2016-10-31`` (CREATE_COMPLETE, nothing created),
skips resource types it has no model for, never rolls back and cannot update most resources.
This adapter takes over CreateStack, UpdateStack, CreateChangeSet, DescribeChangeSet,
ListChangeSets, DeleteChangeSet, ExecuteChangeSet, DeleteStack and the stack resource views:

- templates are parsed (short-form tags too), SAM templates transformed with aws-sam-translator;
- capabilities are checked as AWS checks them;
- change sets list real Add/Modify/Remove changes, and one without changes ends FAILED with
  AWS's reason;
- resources are created, updated in place, replaced and deleted in dependency order through
  the service backends (handlers in ``stepdeploy_localcloud.cfn_resources``), with per-resource
  stack events; a failure rolls the stack back (ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE);
- a resource type nobody can deploy fails the stack naming the type and logical id.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.cloudformation.models import Event, Export, Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow

from stepdeploy_localcloud.cfn_resources import (
    Provisioned,
    ReplacementRequired,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
    handler_for,
)
from stepdeploy_localcloud.sam_package import SERVERLESS_TRANSFORM, load_template

log = logging.getLogger(__name__)

NO_CHANGES_REASON = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
IAM_RESOURCE_TYPES = frozenset(
    {
        "AWS::IAM::AccessKey",
        "AWS::IAM::Group",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::IAM::User",
        "AWS::IAM::UserToGroupAddition",
    }
)
# IAM resources "with custom names" need CAPABILITY_NAMED_IAM.
IAM_NAME_PROPERTIES = frozenset({"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"})

_ENGINE_LOCK = threading.RLock()


# ------------------------------------------------------------------------------------------
# Errors with AWS's codes
# ------------------------------------------------------------------------------------------


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatusException"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"


class TemplateError(Exception):
    """The template cannot be processed; the message is the status reason AWS would give."""


# ------------------------------------------------------------------------------------------
# Template processing: parse, transform, parameters, conditions, dependencies
# ------------------------------------------------------------------------------------------


class StaticPolicyLoader:
    """aws-sam-translator's ManagedPolicyLoader without IAM: AWS managed policy names to ARNs."""

    SERVICE_ROLE_POLICIES = (
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaVPCAccessExecutionRole",
        "AWSLambdaRole",
        "AWSLambdaDynamoDBExecutionRole",
        "AWSLambdaKinesisExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaMSKExecutionRole",
        "AWSCodeDeployRoleForLambda",
        "AWSCodeDeployRoleForLambdaLimited",
        "AWSCodeDeployRole",
        "AWSLambdaENIManagementAccess",
        "AWSXRayDaemonWriteAccess",
        "AWSIoTRuleActions",
        "AWSAppSyncPushToCloudWatchLogs",
        "AmazonAPIGatewayPushToCloudWatchLogs",
    )
    TOP_LEVEL_POLICIES = (
        "AWSXrayWriteOnlyAccess",
        "AWSXRayDaemonWriteAccess",
        "AWSLambdaExecute",
        "AWSLambda_FullAccess",
        "AWSLambda_ReadOnlyAccess",
        "AWSStepFunctionsFullAccess",
        "AWSStepFunctionsReadOnlyAccess",
        "AmazonS3FullAccess",
        "AmazonS3ReadOnlyAccess",
        "AmazonDynamoDBFullAccess",
        "AmazonDynamoDBReadOnlyAccess",
        "AmazonSQSFullAccess",
        "AmazonSNSFullAccess",
        "AmazonEventBridgeFullAccess",
        "CloudWatchFullAccess",
        "CloudWatchLogsFullAccess",
        "CloudWatchReadOnlyAccess",
        "AWSCodeBuildDeveloperAccess",
        "AWSCodeDeployFullAccess",
        "AWSCloudFormationFullAccess",
        "SecretsManagerReadWrite",
        "AdministratorAccess",
        "ReadOnlyAccess",
        "PowerUserAccess",
        "IAMFullAccess",
        "AmazonSSMReadOnlyAccess",
        "AWSCodeDeployDeployerAccess",
    )

    def __init__(self, partition: str = "aws") -> None:
        self.partition = partition

    def load(self) -> dict[str, str]:
        policies = {name: f"arn:{self.partition}:iam::aws:policy/{name}" for name in self.TOP_LEVEL_POLICIES}
        policies.update(
            {name: f"arn:{self.partition}:iam::aws:policy/service-role/{name}" for name in self.SERVICE_ROLE_POLICIES}
        )
        return _FallbackPolicyMap(policies, self.partition)


class _FallbackPolicyMap(dict[str, str]):
    """Unknown names map to arn:aws:iam::aws:policy/<Name>, as most AWS managed policies do."""

    def __init__(self, known: dict[str, str], partition: str) -> None:
        super().__init__(known)
        self.partition = partition

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return self[key]
        if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9+=,.@_-]+", key):
            return f"arn:{self.partition}:iam::aws:policy/{key}"
        return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (
            isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9+=,.@_-]+", key) is not None
        )

    def __getitem__(self, key: str) -> str:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return f"arn:{self.partition}:iam::aws:policy/{key}"


def transforms_of(template: dict[str, Any]) -> list[str]:
    transform = template.get("Transform")
    if transform is None:
        return []
    return [
        t if isinstance(t, str) else str(t.get("Name"))
        for t in (transform if isinstance(transform, list) else [transform])
    ]


def sam_transform(template: dict[str, Any], parameter_values: dict[str, Any], region: str) -> dict[str, Any]:
    """Run aws-sam-translator on a template (in long form) and return plain CloudFormation."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    loader = StaticPolicyLoader()
    document = copy.deepcopy(template)
    values = dict(parameter_values)
    to_py27_compatible_template(document, values)
    # samtranslator.translator.transform.transform() without a boto session needs a region in the
    # environment; the translator is the same, given a session for our region.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        translated = translator.translate(document, parameter_values=values, get_managed_policy_map=loader.load)
    except InvalidDocumentException as error:
        causes = " ".join(str(cause.message) for cause in error.causes)
        message = f"Transform {SERVERLESS_TRANSFORM} failed with: {error.message} {causes}"
        raise TemplateError(message.strip()) from error
    return json.loads(json.dumps(undo_mark_unicode_str_in_template(translated)))


def _stringify_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass
class ResolvedParameters:
    raw: dict[str, str]  # what the stack shows and compares
    typed: dict[str, Any]  # what Ref returns
    no_echo: set[str]


def resolve_parameters(
    template: dict[str, Any],
    given: dict[str, str],
    use_previous: Iterable[str],
    previous: dict[str, str],
    ssm_lookup: Callable[[str], str],
) -> ResolvedParameters:
    declared: dict[str, Any] = template.get("Parameters") or {}
    unknown = sorted((set(given) | set(use_previous)) - set(declared))
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    raw: dict[str, str] = {}
    missing = []
    for name, decl in declared.items():
        if name in use_previous and name in previous:
            raw[name] = previous[name]
        elif name in given:
            raw[name] = str(given[name])
        elif "Default" in decl:
            raw[name] = _stringify_default(decl["Default"])
        else:
            missing.append(name)
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    typed: dict[str, Any] = {}
    for name, value in raw.items():
        decl = declared[name]
        allowed = decl.get("AllowedValues")
        if allowed and value not in [_stringify_default(a) for a in allowed]:
            raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        pattern = decl.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            raise ValidationError(message=f"Parameter '{name}' must match pattern {pattern}")
        _check_parameter_bounds(name, decl, value)
        type_ = str(decl.get("Type", "String"))
        if type_.startswith("AWS::SSM::Parameter::Value<"):
            value = ssm_lookup(value)
        if type_ == "CommaDelimitedList" or "List<" in type_:
            typed[name] = [item.strip() for item in value.split(",")] if value else []
        else:
            typed[name] = value
    no_echo = {name for name, decl in declared.items() if str(decl.get("NoEcho", "")).lower() == "true"}
    return ResolvedParameters(raw, typed, no_echo)


def _check_parameter_bounds(name: str, decl: dict[str, Any], value: str) -> None:
    if str(decl.get("Type", "String")) == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(message=f"Parameter '{name}' must be a number") from None
        if "MinValue" in decl and number < float(decl["MinValue"]):
            raise ValidationError(message=f"Parameter '{name}' must be a number not less than {decl['MinValue']}")
        if "MaxValue" in decl and number > float(decl["MaxValue"]):
            raise ValidationError(message=f"Parameter '{name}' must be a number not greater than {decl['MaxValue']}")
    if "MinLength" in decl and len(value) < int(decl["MinLength"]):
        raise ValidationError(message=f"Parameter '{name}' must contain at least {decl['MinLength']} characters")
    if "MaxLength" in decl and len(value) > int(decl["MaxLength"]):
        raise ValidationError(message=f"Parameter '{name}' must contain at most {decl['MaxLength']} characters")


def pseudo_parameters(account_id: str, region: str, stack_name: str, stack_id: str) -> dict[str, Any]:
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::NotificationARNs": [],
    }


def references_in(node: Any) -> set[str]:
    """Logical ids and parameter names a template fragment refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references_in(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                if isinstance(target, str):
                    found.add(target)
                if isinstance(value, list):
                    found |= references_in(value[1:])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                if isinstance(text, str):
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                        if name not in variables:
                            found.add(name.split(".", 1)[0])
                found |= references_in(variables)
            else:
                found |= references_in(value)
    return found


@dataclass
class TemplatePlan:
    """A processed template with its parameters, conditions and dependency order."""

    original_body: str
    template: dict[str, Any]  # processed (after transforms)
    parameters: ResolvedParameters
    conditions: dict[str, bool]
    order: list[str]  # active resources, dependencies first
    resource_types: dict[str, str]

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id]


class _Unknown:
    """A value known only once resources exist (used to preview a change set)."""

    def __repr__(self) -> str:
        return "<known after deployment>"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


UNKNOWN = _Unknown()
_NO_VALUE = object()


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class IntrinsicResolver:
    """Evaluates Ref and the Fn:: functions of a template fragment."""

    def __init__(
        self,
        *,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        conditions: dict[str, bool] | Callable[[str], bool],
        mappings: dict[str, Any],
        import_value: Callable[[str], Any],
        region: str,
    ) -> None:
        self._ref = ref
        self._get_att = get_att
        self._conditions = conditions
        self._mappings = mappings
        self._import_value = import_value
        self._region = region

    def condition(self, name: str) -> bool:
        if callable(self._conditions):
            return self._conditions(name)
        if name not in self._conditions:
            raise TemplateError(f"Template format error: Unresolved condition dependencies [{name}]")
        return self._conditions[name]

    def resolve(self, node: Any) -> Any:
        value = self._resolve(node)
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self._resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, argument),) = node.items()
                if key == "Ref":
                    return self._do_ref(argument)
                if key.startswith("Fn::"):
                    return self._function(key, argument)
            resolved = {key: self._resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
        return node

    def _do_ref(self, argument: Any) -> Any:
        name = self._resolve(argument)
        if name == "AWS::NoValue":
            return _NO_VALUE
        return self._ref(name)

    def _function(self, name: str, argument: Any) -> Any:  # noqa: PLR0911, PLR0912
        if name == "Fn::GetAtt":
            if isinstance(argument, str):
                resource, attribute = argument.split(".", 1)
            else:
                resource, attribute = argument[0], self._resolve(argument[1])
            return self._get_att(resource, attribute)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"):
            return self.evaluate_condition({name: argument})
        args = self._resolve(argument)
        if _contains_unknown(args):
            return UNKNOWN
        if name == "Fn::Join":
            delimiter, items = args
            return delimiter.join(_text(item) for item in items)
        if name == "Fn::Select":
            index, items = args
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, text = args
            return text.split(delimiter)
        if name == "Fn::FindInMap":
            map_name, top, second = args[0], args[1], args[2]
            try:
                return self._mappings[map_name][top][second]
            except KeyError as error:
                if len(args) > 3 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
                    return args[3]["DefaultValue"]
                raise TemplateError(f"Template error: Unable to get mapping for {map_name}::{top}::{second}") from error
        if name == "Fn::Base64":
            return base64.b64encode(_text(args).encode()).decode()
        if name == "Fn::GetAZs":
            region = args or self._region
            return [f"{region}{zone}" for zone in "abc"]
        if name == "Fn::ImportValue":
            return self._import_value(args)
        if name == "Fn::ToJsonString":
            return json.dumps(args, separators=(",", ":"))
        if name == "Fn::Length":
            return len(args)
        raise TemplateError(f"Template error: {name} is not supported by the local cloud's CloudFormation")

    def _sub(self, argument: Any) -> Any:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, variables = argument[0], self._resolve(argument[1])
        text = self._resolve(text)
        unknown = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal unknown
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                value = variables[expression]
            elif "." in expression and not expression.startswith("AWS::"):
                resource, attribute = expression.split(".", 1)
                value = self._get_att(resource, attribute)
            else:
                value = self._ref(expression)
            if _contains_unknown(value):
                unknown = True
                return ""
            return ",".join(map(_text, value)) if isinstance(value, list) else _text(value)

        result = re.sub(r"\$\{([^}]*)\}", substitute, text)
        return UNKNOWN if unknown else result

    def evaluate_condition(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, str):
            return node.lower() == "true"
        ((name, argument),) = node.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self._resolve(a) for a in argument)
            return _text(left) == _text(right)
        if name == "Fn::Not":
            return not self.evaluate_condition(argument[0])
        if name == "Fn::And":
            return all(self.evaluate_condition(a) for a in argument)
        if name == "Fn::Or":
            return any(self.evaluate_condition(a) for a in argument)
        value = self._resolve(node)
        return bool(value)


def evaluate_conditions(
    template: dict[str, Any], parameters: dict[str, Any], mappings: dict[str, Any], region: str
) -> dict[str, bool]:
    declared: dict[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}
    visiting: set[str] = set()

    def ref(name: str) -> Any:
        if name in parameters:
            return parameters[name]
        raise TemplateError(
            f"Template format error: Unresolved dependencies [{name}]. "
            "Cannot reference resources in the Conditions block of the template"
        )

    def condition(name: str) -> bool:
        if name in results:
            return results[name]
        if name not in declared:
            raise TemplateError(f"Template format error: Unresolved condition dependencies [{name}]")
        if name in visiting:
            raise TemplateError(f"Template format error: Circular dependency between conditions: [{name}]")
        visiting.add(name)
        results[name] = resolver.evaluate_condition(declared[name])
        visiting.discard(name)
        return results[name]

    def no_get_att(resource: str, attribute: str) -> Any:
        raise TemplateError("Template format error: Fn::GetAtt is not allowed in the Conditions block")

    resolver = IntrinsicResolver(
        ref=ref,
        get_att=no_get_att,
        conditions=condition,
        mappings=mappings,
        import_value=lambda name: name,
        region=region,
    )
    for name in declared:
        condition(name)
    return results


def dependency_order(resources: dict[str, Any], active: list[str], known_names: set[str]) -> list[str]:
    """Active logical ids ordered so that every resource comes after what it refers to."""
    deps: dict[str, set[str]] = {}
    unresolved: set[str] = set()
    for logical_id in active:
        resource = resources[logical_id]
        refs = references_in(resource.get("Properties") or {})
        depends_on = resource.get("DependsOn") or []
        depends_on = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        for name in depends_on:
            if name not in resources:
                raise TemplateError(
                    f"Template format error: Unresolved resource dependencies [{name}] "
                    "in the Resources block of the template"
                )
        unresolved |= {r for r in refs if r not in resources and r not in known_names}
        deps[logical_id] = ({r for r in refs if r in resources} | set(depends_on)) & set(active)
    if unresolved:
        raise TemplateError(
            "Template format error: Unresolved resource dependencies "
            f"[{', '.join(sorted(unresolved))}] in the Resources block of the template"
        )
    order: list[str] = []
    placed: set[str] = set()
    remaining = list(active)
    while remaining:
        ready = [r for r in remaining if deps[r] <= placed]
        if not ready:
            raise TemplateError(f"Circular dependency between resources: [{', '.join(sorted(remaining))}]")
        for logical_id in ready:
            order.append(logical_id)
            placed.add(logical_id)
        remaining = [r for r in remaining if r not in placed]
    return order


def build_plan(
    body: str,
    given: dict[str, str],
    use_previous: Iterable[str],
    previous: dict[str, str],
    *,
    account_id: str,
    region: str,
    stack_name: str,
    stack_id: str,
) -> TemplatePlan:
    """Parse, transform and check a template: the part of a deployment that needs no resources."""
    try:
        template = load_template(body)
    except Exception as error:
        raise ValidationError(message=f"Template format error: {error}") from error
    pseudo = pseudo_parameters(account_id, region, stack_name, stack_id)

    def ssm_lookup(name: str) -> str:
        from moto.ssm.models import ssm_backends

        parameter = ssm_backends[account_id][region].get_parameter(name)
        if parameter is None:
            raise ValidationError(message=f"Parameters: [ssm:{name}] cannot be found.")
        return str(parameter.value)

    parameters = resolve_parameters(template, given, use_previous, previous, ssm_lookup)
    transforms = transforms_of(template)
    unsupported = [t for t in transforms if t != SERVERLESS_TRANSFORM]
    if unsupported:
        raise TemplateError(f"Transform {', '.join(unsupported)} is not supported by the local cloud")
    if transforms:
        template = sam_transform(template, {**parameters.typed, **pseudo}, region)
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Template format error: At least one Resources member must be defined.")
    mappings = template.get("Mappings") or {}
    conditions = evaluate_conditions(template, {**pseudo, **parameters.typed}, mappings, region)
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(
                f"Template format error: [/Resources/{logical_id}] Every Resources object must contain a Type member."
            )
        condition = resource.get("Condition")
        if condition is not None and condition not in conditions:
            raise TemplateError(
                f"Template format error: Unresolved condition dependencies [{condition}] "
                "in the Resources block of the template"
            )
    active = [lid for lid, res in resources.items() if conditions.get(res.get("Condition", ""), True)]
    order = dependency_order(resources, active, set(pseudo) | set(parameters.typed) | {"AWS::NoValue"})
    return TemplatePlan(
        original_body=body,
        template=template,
        parameters=parameters,
        conditions=conditions,
        order=order,
        resource_types={lid: resources[lid]["Type"] for lid in order},
    )


def required_capabilities(plan: TemplatePlan) -> list[str]:
    iam = [plan.resource(lid) for lid in plan.order if plan.resource_types[lid] in IAM_RESOURCE_TYPES]
    if not iam:
        return []
    named = any(IAM_NAME_PROPERTIES & set(resource.get("Properties") or {}) for resource in iam)
    return ["CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"]


def check_iam_capabilities(plan: TemplatePlan, capabilities: list[str]) -> None:
    needed = required_capabilities(plan)
    if needed == ["CAPABILITY_NAMED_IAM"] and "CAPABILITY_NAMED_IAM" not in capabilities:
        raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_NAMED_IAM]")
    if needed == ["CAPABILITY_IAM"] and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(capabilities):
        raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_IAM]")


# ------------------------------------------------------------------------------------------
# Stacks, resources and change sets as the responses serialise them
# ------------------------------------------------------------------------------------------


@dataclass
class StackResource:
    logical_resource_id: str
    cf_resource_type: str
    provisioned: Provisioned
    properties: dict[str, Any]
    deletion_policy: str | None
    resource_status: str
    resource_status_reason: str | None = None
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def physical_resource_id(self) -> str:
        return self.provisioned.physical_id


CHANGE_SET_VIRTUAL_SECONDS = 0.0
STACK_OPERATION_VIRTUAL_SECONDS = 0.0
"""How long CloudFormation appears busy (virtual seconds): the engine works synchronously, but a
caller sees a change set CREATE_IN_PROGRESS and a stack *_IN_PROGRESS for that long, as on AWS, so
that pollers really poll. Zero (answers at once) unless the LocalCloud sets them."""


def _settle_deadline(virtual_seconds: float) -> float:
    from stepdeploy_localcloud.clock import CLOCK

    return time.monotonic() + CLOCK.real_seconds(virtual_seconds)


class LocalStack(Stack):
    """moto's Stack, with its resources, parameters and outputs owned by this engine."""

    def __init__(self, *, stack_id: str, name: str, account_id: str, region_name: str, **kwargs: Any) -> None:
        super().__init__(
            stack_id=stack_id,
            name=name,
            template={},
            parameters={},
            account_id=account_id,
            region_name=region_name,
            **kwargs,
        )
        self.template = ""
        self.plan: TemplatePlan | None = None
        self.resources: dict[str, StackResource] = {}
        self.status_reason: str | None = None
        self.capabilities: list[str] = []
        self.last_updated_time: datetime | None = None
        self.change_set_id: str | None = None
        self.busy_until = 0.0
        self.busy_status = ""
        self._outputs: list[dict[str, Any]] = []
        self._exports: list[Export] = []

    # The attributes moto's responses read -------------------------------------------------
    # (moto's serializer finds Stack* members of a StackSummary through the class name "Stack")
    @property
    def stack_name(self) -> str:
        return self.name

    @property
    def stack_status(self) -> str:
        if self.busy_status and time.monotonic() < self.busy_until:
            return self.busy_status
        return self.status

    @property
    def stack_status_reason(self) -> str | None:
        return self.status_reason

    @property
    def stack_resources(self) -> list[StackResource]:  # type: ignore[override]
        return list(self.resources.values())

    @property
    def outputs(self) -> list[dict[str, Any]] | None:  # type: ignore[override]
        return self._outputs or None

    @property
    def exports(self) -> list[Export]:  # type: ignore[override]
        return list(self._exports)

    @property
    def parameter_list(self) -> list[dict[str, Any]]:  # type: ignore[override]
        if self.plan is None:
            return []
        params = self.plan.parameters
        return [
            {"ParameterKey": k, "ParameterValue": "****" if k in params.no_echo else v} for k, v in params.raw.items()
        ]

    @property
    def stack_parameters(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.plan.parameters.raw) if self.plan else {}

    @property
    def template_description(self) -> str | None:  # type: ignore[override]
        return self.description

    def delete(self) -> None:
        with _ENGINE_LOCK:
            Deployment(self).delete_all()

    # Events -----------------------------------------------------------------------------
    def stack_event(self, status: str, reason: str | None = None) -> None:
        self.status = status
        # A completed rollback keeps the reason it rolled back for; success clears it.
        if reason is not None or not ("ROLLBACK" in status or status.endswith("FAILED")):
            self.status_reason = reason
        self._add_stack_event(status, resource_status_reason=reason)

    def resource_event(
        self,
        logical_id: str,
        resource_type: str,
        physical_id: str | None,
        status: str,
        reason: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        event = Event(
            stack_id=self.stack_id,
            stack_name=self.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id or "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=json.dumps(properties, default=str) if properties is not None else None,
        )
        event.sendToSns(self.account_id, self.region_name, self.notification_arns)
        self.events.append(event)


@dataclass
class ResourceChange:
    action: str
    logical_resource_id: str
    resource_type: str
    physical_resource_id: str | None = None
    replacement: str | None = None
    scope: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LocalChangeSet:
    change_set_id: str
    change_set_name: str
    stack_id: str
    stack_name: str
    change_set_type: str
    description: str | None
    parameters: dict[str, str]
    capabilities: list[str]
    tags: list[dict[str, str]]
    notification_arns: list[str]
    role_arn: str | None
    plan: TemplatePlan | None
    template: str
    changes: list[ResourceChange] = field(default_factory=list)
    status: str = "CREATE_PENDING"
    execution_status: str = "UNAVAILABLE"
    status_reason: str | None = None
    creation_time: datetime = field(default_factory=utcnow)
    include_nested_stacks: bool = False
    ready_at: float = 0.0

    def presented(self) -> LocalChangeSet:
        """What DescribeChangeSet shows: still being computed until ``ready_at``."""
        if time.monotonic() >= self.ready_at or self.status not in ("CREATE_COMPLETE", "FAILED"):
            return self
        return replace(self, status="CREATE_IN_PROGRESS", execution_status="UNAVAILABLE", status_reason=None)


# ------------------------------------------------------------------------------------------
# The deployment engine
# ------------------------------------------------------------------------------------------


class UnsupportedResourceType(ResourceFailure):
    pass


def describe_error(error: BaseException) -> str:
    if isinstance(error, ServiceException):
        return f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.code})'
    if hasattr(error, "error_type") and hasattr(error, "message"):  # moto's (Json)RESTError
        return f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.error_type})'
    if isinstance(error, ValueError) and len(error.args) == 2 and str(error.args[0]).endswith("Exception"):
        # moto's Lambda raises ValueError(<error code>, <message>) for invalid parameters.
        return f'Resource handler returned message: "{error.args[1]}" (HandlerErrorCode: {error.args[0]})'
    if isinstance(error, (ResourceFailure, TemplateError)):
        return str(error)
    if isinstance(error, KeyError):
        return (
            f'Resource handler returned message: "the handler needs the property or value {error}, which is '
            'missing" (HandlerErrorCode: InvalidRequest)'
        )
    text = str(error) or type(error).__name__
    return f'Resource handler returned message: "{text}" (HandlerErrorCode: InternalFailure)'


class Deployment:
    """Creates, updates and deletes one stack's resources, with events and rollback."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.backend = cloudformation_backends[stack.account_id][stack.region_name]

    # helpers ------------------------------------------------------------------------------
    def context(self, logical_id: str, resource_type: str) -> ResourceContext:
        return ResourceContext(
            account_id=self.stack.account_id,
            region=self.stack.region_name,
            stack_name=self.stack.name,
            stack_id=self.stack.stack_id,
            logical_id=logical_id,
            resource_type=resource_type,
            stack_tags=dict(self.stack.tags or {}),
        )

    @staticmethod
    def handler(logical_id: str, resource_type: str) -> ResourceHandler:
        handler = handler_for(resource_type)
        if handler is None:
            raise UnsupportedResourceType(
                f"Resource type {resource_type} of resource {logical_id} is not supported by the local "
                "cloud's CloudFormation (neither moto nor stepdeploy_localcloud.cfn_resources can deploy it)"
            )
        return handler

    def resolver(
        self,
        plan: TemplatePlan,
        live: dict[str, StackResource],
        *,
        preview: bool = False,
        pending: set[str] | None = None,
    ) -> IntrinsicResolver:
        pseudo = pseudo_parameters(self.stack.account_id, self.stack.region_name, self.stack.name, self.stack.stack_id)
        values = {**pseudo, **plan.parameters.typed}
        pending = pending if pending is not None else set()

        def ref(name: str) -> Any:
            if name in values:
                return values[name]
            if name in live and name not in pending:
                return live[name].physical_resource_id
            if preview and name in plan.template["Resources"]:
                return UNKNOWN
            raise TemplateError(f"Template format error: Unresolved resource dependencies [{name}]")

        def get_att(name: str, attribute: str) -> Any:
            if name in live and name not in pending:
                record = live[name]
                handler = self.handler(name, record.cf_resource_type)
                return handler.get_att(self.context(name, record.cf_resource_type), record.provisioned, attribute)
            if preview and name in plan.template["Resources"]:
                return UNKNOWN
            raise TemplateError(f"Template error: instance of Fn::GetAtt references undefined resource {name}")

        def import_value(name: str) -> Any:
            export = self.backend.exports.get(name)
            if export is None:
                raise TemplateError(f"No export named {name} found.")
            return export.value

        return IntrinsicResolver(
            ref=ref,
            get_att=get_att,
            conditions=plan.conditions,
            mappings=plan.template.get("Mappings") or {},
            import_value=import_value,
            region=self.stack.region_name,
        )

    def _properties(self, resolver: IntrinsicResolver, plan: TemplatePlan, logical_id: str) -> dict[str, Any]:
        return resolver.resolve(plan.resource(logical_id).get("Properties") or {}) or {}

    # change set preview ---------------------------------------------------------------------
    def preview_changes(self, plan: TemplatePlan) -> list[ResourceChange]:
        old = dict(self.stack.resources)
        changed: set[str] = set()  # resources whose Ref/GetAtt values may change
        resolver = self.resolver(plan, old, preview=True, pending=changed)
        changes: list[ResourceChange] = []
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            if logical_id not in old:
                changes.append(ResourceChange("Add", logical_id, resource_type))
                changed.add(logical_id)
                continue
            record = old[logical_id]
            new_props = self._properties(resolver, plan, logical_id)
            if record.cf_resource_type != resource_type:
                raise TemplateError(
                    f"Update of resource type is not permitted. The new template modifies resource type of "
                    f"resource [{logical_id}]."
                )
            if new_props == record.properties:
                continue
            handler = self.handler(logical_id, resource_type)
            replacement = _replacement(handler, record.properties, new_props)
            if replacement != "False":
                changed.add(logical_id)
            names = sorted(
                k for k in set(record.properties) | set(new_props) if record.properties.get(k) != new_props.get(k)
            )
            details = [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": name,
                        "RequiresRecreation": "Always"
                        if _replacement(handler, {name: record.properties.get(name)}, {name: new_props.get(name)})
                        == "True"
                        else "Never",
                    },
                    "Evaluation": "Dynamic" if _contains_unknown(new_props.get(name)) else "Static",
                    "ChangeSource": "ResourceReference"
                    if _contains_unknown(new_props.get(name))
                    else "DirectModification",
                }
                for name in names
            ]
            changes.append(
                ResourceChange(
                    "Modify",
                    logical_id,
                    resource_type,
                    record.physical_resource_id,
                    replacement,
                    ["Properties"],
                    details,
                )
            )
        for logical_id, record in old.items():
            if logical_id not in plan.order:
                changes.append(
                    ResourceChange("Remove", logical_id, record.cf_resource_type, record.physical_resource_id)
                )
        return changes

    # create -----------------------------------------------------------------------------------
    def create(self, plan: TemplatePlan, *, disable_rollback: bool = False) -> None:
        stack = self.stack
        stack.plan = plan
        stack.template = plan.original_body
        stack.stack_event("CREATE_IN_PROGRESS", "User Initiated")
        live: dict[str, StackResource] = {}
        resolver = self.resolver(plan, live)
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            props: dict[str, Any] | None = None
            try:
                props = self._properties(resolver, plan, logical_id)
                live[logical_id] = self._create_resource(plan, logical_id, resource_type, props)
            except Exception as error:  # noqa: BLE001 - every failure becomes the resource's reason
                log.info("creating %s (%s) failed", logical_id, resource_type, exc_info=True)
                stack.resource_event(logical_id, resource_type, None, "CREATE_FAILED", describe_error(error), props)
                stack.resources = live
                reason = f"The following resource(s) failed to create: [{logical_id}]. "
                if disable_rollback:
                    stack.stack_event("CREATE_FAILED", reason)
                    return
                stack.stack_event("ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
                failed = self._delete_resources(live, list(reversed(plan.order)), rollback=True)
                stack.resources = {lid: live[lid] for lid in failed}
                stack.stack_event("ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE")
                return
        stack.resources = live
        stack.plan = plan
        stack.template = plan.original_body
        stack.description = plan.template.get("Description")
        self._set_outputs(plan, live)
        stack.stack_event("CREATE_COMPLETE")

    def _create_resource(
        self, plan: TemplatePlan, logical_id: str, resource_type: str, props: dict[str, Any]
    ) -> StackResource:
        handler = self.handler(logical_id, resource_type)
        self.stack.resource_event(logical_id, resource_type, None, "CREATE_IN_PROGRESS", None, props)
        provisioned = handler.create(self.context(logical_id, resource_type), copy.deepcopy(props))
        self.stack.resource_event(
            logical_id,
            resource_type,
            provisioned.physical_id,
            "CREATE_IN_PROGRESS",
            "Resource creation Initiated",
            props,
        )
        record = StackResource(
            logical_id,
            resource_type,
            provisioned,
            props,
            plan.resource(logical_id).get("DeletionPolicy"),
            "CREATE_COMPLETE",
        )
        self.stack.resource_event(logical_id, resource_type, provisioned.physical_id, "CREATE_COMPLETE", None, props)
        return record

    # update -----------------------------------------------------------------------------------
    def update(self, plan: TemplatePlan) -> None:
        stack = self.stack
        old_plan = stack.plan
        old = dict(stack.resources)
        live = dict(old)
        journal: list[tuple[str, str, StackResource | None, StackResource]] = []  # (action, id, before, after)
        stack.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
        resolver = self.resolver(plan, live)
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            props: dict[str, Any] | None = None
            try:
                props = self._properties(resolver, plan, logical_id)
                before = old.get(logical_id)
                if before is None:
                    live[logical_id] = self._create_resource(plan, logical_id, resource_type, props)
                    journal.append(("created", logical_id, None, live[logical_id]))
                    continue
                if before.cf_resource_type != resource_type:
                    raise TemplateError(f"Update of resource type is not permitted for resource [{logical_id}]")
                deletion_policy = plan.resource(logical_id).get("DeletionPolicy")
                if props == before.properties:
                    before.deletion_policy = deletion_policy
                    continue
                after, action = self._update_resource(logical_id, before, props)
                after.deletion_policy = deletion_policy
                live[logical_id] = after
                journal.append((action, logical_id, before, after))
            except Exception as error:  # noqa: BLE001 - every failure becomes the resource's reason
                log.info("updating %s (%s) failed", logical_id, resource_type, exc_info=True)
                physical = old[logical_id].physical_resource_id if logical_id in old else None
                failed_status = "UPDATE_FAILED" if logical_id in old else "CREATE_FAILED"
                stack.resource_event(logical_id, resource_type, physical, failed_status, describe_error(error), props)
                self._journal_partial_update(journal, old.get(logical_id), props)
                verb = "update" if logical_id in old else "create"
                self._roll_back_update(
                    old, live, journal, f"The following resource(s) failed to {verb}: [{logical_id}]. "
                )
                return
        stack.stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        old_order = old_plan.order if old_plan else list(old)
        removed = [lid for lid in reversed(old_order) if lid in old and lid not in plan.order]
        replaced = {lid: before for action, lid, before, _ in journal if action == "replaced" and before}
        self._delete_resources(replaced, list(replaced), rollback=False)
        self._delete_resources(old, removed, rollback=False)
        stack.resources = {lid: live[lid] for lid in plan.order}
        stack.plan = plan
        stack.template = plan.original_body
        stack.description = plan.template.get("Description")
        stack.last_updated_time = utcnow()
        self._set_outputs(plan, stack.resources)
        stack.stack_event("UPDATE_COMPLETE")

    @staticmethod
    def _journal_partial_update(
        journal: list[tuple[str, str, StackResource | None, StackResource]],
        before: StackResource | None,
        props: dict[str, Any] | None,
    ) -> None:
        """An in-place update that failed half-way is undone with the others."""
        if before is None or props is None or props == before.properties:
            return
        handler = handler_for(before.cf_resource_type)
        if handler is None or handler.requires_replacement(before.properties, props):
            return
        partial = StackResource(
            before.logical_resource_id,
            before.cf_resource_type,
            before.provisioned,
            props,
            before.deletion_policy,
            "UPDATE_FAILED",
        )
        journal.append(("updated", before.logical_resource_id, before, partial))

    def _update_resource(
        self, logical_id: str, before: StackResource, props: dict[str, Any]
    ) -> tuple[StackResource, str]:
        resource_type = before.cf_resource_type
        handler = self.handler(logical_id, resource_type)
        ctx = self.context(logical_id, resource_type)
        stack = self.stack
        replace = handler.requires_replacement(before.properties, props)
        if not replace:
            stack.resource_event(
                logical_id, resource_type, before.physical_resource_id, "UPDATE_IN_PROGRESS", None, props
            )
            try:
                provisioned = handler.update(ctx, before.provisioned, before.properties, copy.deepcopy(props))
            except ReplacementRequired:
                replace = True
            else:
                after = StackResource(
                    logical_id, resource_type, provisioned, props, before.deletion_policy, "UPDATE_COMPLETE"
                )
                stack.resource_event(logical_id, resource_type, provisioned.physical_id, "UPDATE_COMPLETE", None, props)
                return after, "updated"
        name_property = handler.name_property
        if (
            name_property
            and props.get(name_property)
            and props.get(name_property) == before.properties.get(name_property)
        ):
            raise ResourceFailure(
                f"CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {props[name_property]} and update the stack again."
            )
        stack.resource_event(
            logical_id,
            resource_type,
            before.physical_resource_id,
            "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.",
            props,
        )
        provisioned = handler.create(ctx, copy.deepcopy(props))
        after = StackResource(logical_id, resource_type, provisioned, props, before.deletion_policy, "UPDATE_COMPLETE")
        stack.resource_event(logical_id, resource_type, provisioned.physical_id, "UPDATE_COMPLETE", None, props)
        return after, "replaced"

    def _roll_back_update(
        self,
        old: dict[str, StackResource],
        live: dict[str, StackResource],
        journal: list[tuple[str, str, StackResource | None, StackResource]],
        reason: str,
    ) -> None:
        stack = self.stack
        stack.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", reason)
        to_delete: dict[str, StackResource] = {}
        rollback_failed = False
        for action, logical_id, before, after in reversed(journal):
            if action in ("created", "replaced"):
                to_delete[logical_id] = after
                continue
            assert before is not None
            handler = self.handler(logical_id, before.cf_resource_type)
            stack.resource_event(
                logical_id,
                before.cf_resource_type,
                after.physical_resource_id,
                "UPDATE_IN_PROGRESS",
                None,
                before.properties,
            )
            try:
                handler.update(
                    self.context(logical_id, before.cf_resource_type),
                    after.provisioned,
                    after.properties,
                    copy.deepcopy(before.properties),
                )
            except Exception as error:  # noqa: BLE001
                rollback_failed = True
                stack.resource_event(
                    logical_id,
                    before.cf_resource_type,
                    after.physical_resource_id,
                    "UPDATE_FAILED",
                    describe_error(error),
                )
            else:
                stack.resource_event(
                    logical_id,
                    before.cf_resource_type,
                    before.physical_resource_id,
                    "UPDATE_COMPLETE",
                    None,
                    before.properties,
                )
        if rollback_failed:
            stack.resources = {**old, **{lid: live[lid] for lid in to_delete}}
            stack.stack_event("UPDATE_ROLLBACK_FAILED")
            return
        stack.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        self._delete_resources(to_delete, list(to_delete), rollback=True)
        stack.resources = old
        stack.stack_event("UPDATE_ROLLBACK_COMPLETE")

    # delete -----------------------------------------------------------------------------------
    def _delete_resources(self, records: dict[str, StackResource], order: list[str], *, rollback: bool) -> list[str]:
        """Delete records in order; return the logical ids that failed to delete."""
        failed = []
        for logical_id in order:
            record = records.get(logical_id)
            if record is None:
                continue
            resource_type = record.cf_resource_type
            physical = record.physical_resource_id
            if record.deletion_policy in ("Retain", "RetainExceptOnCreate") and not (
                rollback and record.deletion_policy == "RetainExceptOnCreate"
            ):
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_SKIPPED")
                continue
            self.stack.resource_event(logical_id, resource_type, physical, "DELETE_IN_PROGRESS")
            try:
                self.handler(logical_id, resource_type).delete(
                    self.context(logical_id, resource_type), record.provisioned, record.properties
                )
            except Exception as error:  # noqa: BLE001
                log.info("deleting %s (%s) failed", logical_id, resource_type, exc_info=True)
                failed.append(logical_id)
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_FAILED", describe_error(error))
            else:
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_COMPLETE")
        return failed

    def delete_all(self) -> None:
        stack = self.stack
        stack.stack_event("DELETE_IN_PROGRESS", "User Initiated")
        order = [lid for lid in reversed(stack.plan.order) if lid in stack.resources] if stack.plan else []
        order += [lid for lid in stack.resources if lid not in order]
        failed = self._delete_resources(stack.resources, order, rollback=False)
        if failed:
            stack.resources = {lid: stack.resources[lid] for lid in failed}
            stack.stack_event("DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
            return
        stack.resources = {}
        stack.stack_event("DELETE_COMPLETE")

    # outputs ----------------------------------------------------------------------------------
    def _set_outputs(self, plan: TemplatePlan, live: dict[str, StackResource]) -> None:
        resolver = self.resolver(plan, live)
        outputs, exports = [], []
        for key, output in (plan.template.get("Outputs") or {}).items():
            condition = output.get("Condition")
            if condition and not plan.conditions.get(condition, False):
                continue
            try:
                value = resolver.resolve(output.get("Value"))
                export_name = resolver.resolve((output.get("Export") or {}).get("Name"))
            except Exception as error:  # noqa: BLE001 - an output that cannot resolve is shown empty
                log.warning("output %s of stack %s: %s", key, self.stack.name, error)
                continue
            text = ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
            outputs.append(
                {
                    "OutputKey": key,
                    "OutputValue": text,
                    "Description": output.get("Description"),
                    "ExportName": export_name,
                }
            )
            if export_name:
                exports.append(Export(self.stack.stack_id, export_name, text))
        for export in self.stack._exports:
            self.backend.exports.pop(export.name, None)
        for export in exports:
            self.backend.exports[export.name] = export
        self.stack._outputs = outputs
        self.stack._exports = exports


def _replacement(handler: ResourceHandler, old: dict[str, Any], new: dict[str, Any]) -> str:
    if handler.immutable:
        return "True"
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    if changed & set(handler.replace_on):
        if any(_contains_unknown(new.get(k)) for k in changed & set(handler.replace_on)):
            return "Conditional"
        return "True"
    if getattr(handler, "can_update", True) is False:
        return "True"
    return "False"


# ------------------------------------------------------------------------------------------
# The API operations
# ------------------------------------------------------------------------------------------


def _template_body(response: CloudFormationResponse, stack: LocalStack | None = None) -> str:
    body = response._get_param("TemplateBody")
    url = response._get_param("TemplateURL")
    if response._get_bool_param("UsePreviousTemplate", False):
        if body or url:
            raise ValidationError(message="You cannot specify both usePreviousTemplate and Template Body/Template URL.")
        if stack is None or not stack.template:
            raise ValidationError(message="No previous template is available for this stack")
        return stack.template
    if url:
        return read_template_url(str(url), response.current_account, response.partition)
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    return str(body)


def read_template_url(url: str, account_id: str, partition: str = "aws") -> str:
    """The body of a TemplateURL in moto's S3: virtual-hosted or path-style AWS URLs, or the
    local cloud's own endpoint (http://127.0.0.1:<port>/<bucket>/<key>)."""
    from urllib.parse import unquote, urlparse

    from moto.s3.models import s3_backends

    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = unquote(parsed.path.lstrip("/"))
    if parsed.scheme == "s3":
        bucket, key = host, path
    elif ".s3." in host or ".s3-" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:  # path style: s3.amazonaws.com/<bucket>/<key>, s3.<region>.amazonaws.com/..., or the local endpoint
        bucket, _, key = path.partition("/")
    backend = s3_backends[account_id][partition]
    obj = None
    if bucket in backend.buckets and key:
        obj = backend.get_object(bucket, key)
    if obj is None:
        raise ValidationError(message="TemplateURL must reference a valid S3 object to which you have access.")
    return obj.value.decode("utf-8")


def _parameter_input(response: CloudFormationResponse) -> tuple[dict[str, str], set[str]]:
    given: dict[str, str] = {}
    use_previous: set[str] = set()
    for parameter in response._get_param("Parameters", []) or []:
        key = parameter["ParameterKey"]
        if str(parameter.get("UsePreviousValue", "")).lower() == "true":
            if parameter.get("ParameterValue"):
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. "
                    "Cannot specify usePreviousValue as true and non empty value for a parameter"
                )
            use_previous.add(key)
        else:
            given[key] = str(parameter.get("ParameterValue", ""))
    return given, use_previous


def _find_stack(backend: Any, name_or_id: str) -> LocalStack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    for stack in backend.stacks.values():
        if stack.name == name_or_id:
            return stack
    return None


def _require_local_stack(backend: Any, name_or_id: str) -> LocalStack:
    stack = _find_stack(backend, name_or_id)
    if stack is None:
        raise ValidationError(name_or_id)
    if not isinstance(stack, LocalStack):
        raise ValidationError(message=f"Stack {name_or_id} was not created through the local cloud's CloudFormation")
    return stack


def _new_stack(response: CloudFormationResponse, name: str) -> LocalStack:
    tags = {t["Key"]: t["Value"] for t in response._get_param("Tags", []) or []}
    stack = LocalStack(
        stack_id=generate_stack_id(name, response.region, response.current_account),
        name=name,
        account_id=response.current_account,
        region_name=response.region,
        notification_arns=response._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=response._get_param("RoleARN"),
        enable_termination_protection=response._get_bool_param("EnableTerminationProtection", False),
        timeout_in_mins=response._get_param("TimeoutInMinutes"),
    )
    return stack


def _plan_for(stack: LocalStack, body: str, given: dict[str, str], use_previous: set[str]) -> TemplatePlan:
    previous = stack.plan.parameters.raw if stack.plan else {}
    return build_plan(
        body,
        given,
        use_previous,
        previous,
        account_id=stack.account_id,
        region=stack.region_name,
        stack_name=stack.name,
        stack_id=stack.stack_id,
    )


def _check_stack_updatable(stack: LocalStack) -> None:
    if stack.status.endswith("_IN_PROGRESS") or stack.status in (
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "CREATE_FAILED",
        "DELETE_FAILED",
        "UPDATE_ROLLBACK_FAILED",
    ):
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def _parse_body(body: str) -> dict[str, Any]:
    try:
        return load_template(body)
    except Exception as error:  # noqa: BLE001 - any parse failure is the caller's template
        raise ValidationError(message=f"Template format error: {error}") from error


def _raise_template_error(error: TemplateError) -> None:
    raise ValidationError(message=str(error)) from error


def create_stack(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    name = response._get_param("StackName")
    with _ENGINE_LOCK:
        if _find_stack(backend, name) is not None:
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        body = _template_body(response)
        capabilities = response._get_param("Capabilities", []) or []
        stack = _new_stack(response, name)
        if transforms_of(_parse_body(body)) and "CAPABILITY_AUTO_EXPAND" not in capabilities:
            raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
        given, use_previous = _parameter_input(response)
        try:
            plan = _plan_for(stack, body, given, use_previous)
        except TemplateError as error:
            _raise_template_error(error)
        check_iam_capabilities(plan, capabilities)
        stack.capabilities = list(capabilities)
        stack.template = body
        backend.stacks[stack.stack_id] = stack
        disable_rollback = (
            response._get_bool_param("DisableRollback", False) or response._get_param("OnFailure") == "DO_NOTHING"
        )
        Deployment(stack).create(plan, disable_rollback=disable_rollback)
        if stack.status == "ROLLBACK_COMPLETE" and response._get_param("OnFailure") == "DELETE":
            backend.delete_stack(stack.stack_id)
    return ActionResult({"StackId": stack.stack_id})


def update_stack(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    with _ENGINE_LOCK:
        stack = _require_local_stack(backend, response._get_param("StackName"))
        _check_stack_updatable(stack)
        body = _template_body(response, stack)
        capabilities = response._get_param("Capabilities", []) or []
        if transforms_of(_parse_body(body)) and "CAPABILITY_AUTO_EXPAND" not in capabilities:
            raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
        given, use_previous = _parameter_input(response)
        try:
            plan = _plan_for(stack, body, given, use_previous)
        except TemplateError as error:
            _raise_template_error(error)
        check_iam_capabilities(plan, capabilities)
        if _unchanged(stack, plan):
            raise ValidationError(message="No updates are to be performed.")
        stack.capabilities = list(capabilities)
        Deployment(stack).update(plan)
    return ActionResult({"StackId": stack.stack_id})


def _unchanged(stack: LocalStack, plan: TemplatePlan) -> bool:
    return (
        stack.plan is not None
        and stack.plan.template == plan.template
        and stack.plan.parameters.raw == plan.parameters.raw
    )


def create_change_set(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack_name = response._get_param("StackName")
    change_set_name = response._get_param("ChangeSetName")
    change_set_type = response._get_param("ChangeSetType", "UPDATE") or "UPDATE"
    cfn_models.validate_create_change_set(change_set_name)
    capabilities = response._get_param("Capabilities", []) or []
    with _ENGINE_LOCK:
        existing = _find_stack(backend, stack_name)
        if change_set_type == "CREATE":
            if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
                raise AlreadyExistsException(
                    f"Stack [{stack_name}] already exists and cannot be created again "
                    f"with the changeSet [{change_set_name}]."
                )
            stack = existing if isinstance(existing, LocalStack) else _new_stack(response, stack_name)
        elif change_set_type == "UPDATE":
            if existing is None:
                raise ValidationError(message=f"Stack [{stack_name}] does not exist")
            stack = _require_local_stack(backend, stack_name)
            _check_stack_updatable(stack)
        else:
            raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported by the local cloud")
        for other in backend.change_sets.values():
            if other.stack_id == stack.stack_id and other.change_set_name == change_set_name:
                raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")
        body = _template_body(response, stack if change_set_type == "UPDATE" else None)
        has_transform = bool(transforms_of(_parse_body(body)))
        given, use_previous = _parameter_input(response)
        change_set = LocalChangeSet(
            change_set_id=generate_changeset_id(change_set_name, response.region, response.current_account),
            change_set_name=change_set_name,
            stack_id=stack.stack_id,
            stack_name=stack.name,
            change_set_type=change_set_type,
            description=response._get_param("Description"),
            parameters={},
            capabilities=list(capabilities),
            tags=list(response._get_param("Tags", []) or []),
            notification_arns=list(response._get_param("NotificationARNs", []) or []),
            role_arn=response._get_param("RoleARN"),
            plan=None,
            template=body,
        )
        try:
            plan = _plan_for(stack, body, given, use_previous)
            check_iam_capabilities(plan, capabilities)
            change_set.parameters = {
                k: "****" if k in plan.parameters.no_echo else v for k, v in plan.parameters.raw.items()
            }
            change_set.plan = plan
            if change_set_type == "UPDATE" and _unchanged(stack, plan):
                change_set.status, change_set.status_reason = "FAILED", NO_CHANGES_REASON
            else:
                change_set.changes = Deployment(stack).preview_changes(plan)
                change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
        except (TemplateError, ResourceFailure, ValidationError, InsufficientCapabilities) as error:
            # AWS processes transforms asynchronously: their errors end the change set FAILED.
            if not has_transform:
                if isinstance(error, (TemplateError, ResourceFailure)):
                    raise ValidationError(message=str(error)) from error
                raise
            change_set.status = "FAILED"
            change_set.status_reason = error.message if isinstance(error, ServiceException) else str(error)
        if stack.stack_id not in backend.stacks:
            backend.stacks[stack.stack_id] = stack
            stack.stack_event("REVIEW_IN_PROGRESS", "User Initiated")
        change_set.ready_at = _settle_deadline(CHANGE_SET_VIRTUAL_SECONDS)
        backend.change_sets[change_set.change_set_id] = change_set
    return ActionResult({"Id": change_set.change_set_id, "StackId": stack.stack_id})


def _find_change_set(backend: Any, name_or_arn: str, stack_name: str | None) -> LocalChangeSet:
    change_set = backend.change_sets.get(name_or_arn)
    if change_set is None:
        if not name_or_arn.startswith("arn:") and not stack_name:
            raise ValidationError(message="StackName must be specified if ChangeSetName is not specified as an ARN.")
        stack = _find_stack(backend, stack_name) if stack_name else None
        for candidate in backend.change_sets.values():
            if candidate.change_set_name == name_or_arn and stack is not None and candidate.stack_id == stack.stack_id:
                change_set = candidate
    if not isinstance(change_set, LocalChangeSet):
        raise ChangeSetNotFound(f"ChangeSet [{name_or_arn}] does not exist")
    return change_set


def describe_change_set(response: CloudFormationResponse) -> ActionResult:
    change_set = _find_change_set(
        response.cloudformation_backend, response._get_param("ChangeSetName"), response._get_param("StackName")
    )
    return ActionResult(change_set.presented())


def delete_change_set(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    with _ENGINE_LOCK:
        change_set = _find_change_set(backend, response._get_param("ChangeSetName"), response._get_param("StackName"))
        if change_set.execution_status == "EXECUTE_IN_PROGRESS":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be deleted while it is executing"
            )
        backend.change_sets.pop(change_set.change_set_id, None)
    return EmptyResult()


def list_change_sets(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack = _require_local_stack(backend, response._get_param("StackName"))
    summaries = [cs for cs in backend.change_sets.values() if cs.stack_id == stack.stack_id]
    return ActionResult({"Summaries": summaries})


def execute_change_set(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    with _ENGINE_LOCK:
        change_set = _find_change_set(backend, response._get_param("ChangeSetName"), response._get_param("StackName"))
        shown = change_set.presented()
        if shown.status != "CREATE_COMPLETE" or shown.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed "
                f"in its current status of [{change_set.status}]"
            )
        stack = backend.stacks.get(change_set.stack_id)
        if not isinstance(stack, LocalStack) or change_set.plan is None:
            raise ValidationError(message=f"Stack [{change_set.stack_name}] does not exist")
        if change_set.change_set_type == "UPDATE":
            _check_stack_updatable(stack)
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        # Executing a change set deletes the stack's other change sets.
        for other_id in [
            cid
            for cid, cs in backend.change_sets.items()
            if cs.stack_id == stack.stack_id and cid != change_set.change_set_id
        ]:
            del backend.change_sets[other_id]
        stack.capabilities = change_set.capabilities
        stack.change_set_id = change_set.change_set_id
        if change_set.tags:
            stack.tags = {t["Key"]: t["Value"] for t in change_set.tags}
        deployment = Deployment(stack)
        stack.busy_status = "CREATE_IN_PROGRESS" if change_set.change_set_type == "CREATE" else "UPDATE_IN_PROGRESS"
        stack.busy_until = _settle_deadline(STACK_OPERATION_VIRTUAL_SECONDS)
        if change_set.change_set_type == "CREATE":
            disable_rollback = response._get_bool_param("DisableRollback", False)
            deployment.create(change_set.plan, disable_rollback=disable_rollback)
            succeeded = stack.status == "CREATE_COMPLETE"
        else:
            deployment.update(change_set.plan)
            succeeded = stack.status == "UPDATE_COMPLETE"
        change_set.execution_status = "EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED"
    return EmptyResult()


def delete_stack(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    name = response._get_param("StackName")
    with _ENGINE_LOCK:
        stack = _find_stack(backend, name)
        if stack is None:
            return EmptyResult()
        for change_set_id in [cid for cid, cs in backend.change_sets.items() if cs.stack_id == stack.stack_id]:
            del backend.change_sets[change_set_id]
        if not isinstance(stack, LocalStack):
            backend.delete_stack(stack.stack_id)
            return EmptyResult()
        Deployment(stack).delete_all()
        if stack.status == "DELETE_COMPLETE":  # else DELETE_FAILED: the stack stays, as on AWS
            backend.stacks.pop(stack.stack_id, None)
            backend.deleted_stacks[stack.stack_id] = stack
            for export in stack.exports:
                backend.exports.pop(export.name, None)
            stack._exports = []
    return EmptyResult()


class _ResourceView:
    """A StackResource as DescribeStackResource(s) / ListStackResources show it."""

    def __init__(self, stack: Stack, resource: Any) -> None:
        self.stack_id = stack.stack_id
        self.stack_name = stack.name
        self.logical_resource_id = getattr(resource, "logical_resource_id", None)
        self.physical_resource_id = getattr(resource, "physical_resource_id", None)
        self.resource_type = getattr(resource, "cf_resource_type", None)
        self.resource_status = getattr(resource, "resource_status", stack.status)
        self.resource_status_reason = getattr(resource, "resource_status_reason", None)
        self.timestamp = getattr(resource, "timestamp", stack.creation_time)
        self.last_updated_timestamp = self.timestamp


def describe_stack_resource(response: CloudFormationResponse) -> ActionResult:
    stack, resource = response.cloudformation_backend.describe_stack_resource(
        response._get_param("StackName"), response._get_param("LogicalResourceId")
    )
    return ActionResult({"StackResourceDetail": _ResourceView(stack, resource)})


def describe_stack_resources(response: CloudFormationResponse) -> ActionResult:
    stack, resources = response.cloudformation_backend.describe_stack_resources(
        response._get_param("StackName"), response._get_param("LogicalResourceId")
    )
    return ActionResult({"StackResources": [_ResourceView(stack, r) for r in resources]})


def list_stack_resources(response: CloudFormationResponse) -> ActionResult:
    stack, resources = response.cloudformation_backend.list_stack_resources(response._get_param("StackName"))
    return ActionResult({"StackResourceSummaries": [_ResourceView(stack, r) for r in resources]})


def get_template(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack_name = response._get_param("StackName")
    change_set_name = response._get_param("ChangeSetName")
    processed = response._get_param("TemplateStage") == "Processed"
    if change_set_name:
        change_set = _find_change_set(backend, change_set_name, stack_name)
        plan, body = change_set.plan, change_set.template
    else:
        stack = backend.get_stack(stack_name)
        plan, body = getattr(stack, "plan", None), stack.template
    if processed and plan is not None:
        body = json.dumps(plan.template, indent=2)
    stages = ["Original", "Processed"] if plan is not None else ["Original"]
    return ActionResult({"TemplateBody": body, "StagesAvailable": stages})


_OPERATIONS: dict[str, Callable[[CloudFormationResponse], Any]] = {
    "create_stack": create_stack,
    "update_stack": update_stack,
    "create_change_set": create_change_set,
    "describe_change_set": describe_change_set,
    "delete_change_set": delete_change_set,
    "list_change_sets": list_change_sets,
    "execute_change_set": execute_change_set,
    "delete_stack": delete_stack,
    "describe_stack_resource": describe_stack_resource,
    "describe_stack_resources": describe_stack_resources,
    "list_stack_resources": list_stack_resources,
    "get_template": get_template,
}


def _operation(function: Callable[[CloudFormationResponse], Any]) -> Callable[[CloudFormationResponse], Any]:
    def operation(self: CloudFormationResponse) -> Any:
        return function(self)

    operation.__name__ = function.__name__
    operation.__doc__ = function.__doc__
    operation._stepdeploy_cloudformation = True  # type: ignore[attr-defined]
    return operation


def apply() -> None:
    """Route the CloudFormation operations above through this engine (idempotent)."""
    for name, function in _OPERATIONS.items():
        current = getattr(CloudFormationResponse, name, None)
        if getattr(current, "_stepdeploy_cloudformation", False):
            continue
        setattr(CloudFormationResponse, name, _operation(function))
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
