"""Template processing: parse, transform, parameters, conditions, intrinsics, dependencies."""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from moto.cloudformation.exceptions import ValidationError

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.cloudformation.errors import (
    InsufficientCapabilities,
    TemplateError,
)
from stepdeploy_localcloud.cloudformation.package import SERVERLESS_TRANSFORM, load_template

log = logging.getLogger(__name__)


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


# The functions CloudFormation accepts in a template (Fn::ToJsonString and Fn::Length with the
# LanguageExtensions transform); any other ``Fn::`` key is a format error at CreateChangeSet/CreateStack.
CLOUDFORMATION_FUNCTIONS = (
    "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs", "Fn::ImportValue", "Fn::Join",
    "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Transform", "Fn::If", "Fn::Equals", "Fn::And", "Fn::Or",
    "Fn::Not", "Fn::ToJsonString", "Fn::Length",
)


def unsupported_functions(node: Any) -> Iterator[str]:
    """Every ``Fn::`` name in the fragment that CloudFormation does not know, in order of appearance."""
    if isinstance(node, list):
        for item in node:
            yield from unsupported_functions(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, _),) = node.items()
            if isinstance(key, str) and key.startswith("Fn::") and key not in CLOUDFORMATION_FUNCTIONS:
                yield key
        for value in node.values():
            yield from unsupported_functions(value)


def refuse_unsupported_functions(template: dict[str, Any]) -> None:
    """Where functions may be written: resources (their Metadata aside), conditions and outputs."""
    checked: list[Any] = [
        {key: value for key, value in resource.items() if key != "Metadata"}
        for resource in template["Resources"].values()
        if isinstance(resource, dict)
    ]
    checked += [template.get("Conditions"), template.get("Outputs")]
    unsupported = next(unsupported_functions(checked), None)
    if unsupported:
        raise TemplateError(
            f"Template format error: Encountered unsupported function: {unsupported}. "
            f"Supported functions are: [{', '.join(CLOUDFORMATION_FUNCTIONS)}, Ref, Condition]"
        )


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


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def intrinsic_text(value: Any) -> str:
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
        if contains_unknown(args):
            return UNKNOWN
        if name == "Fn::Join":
            delimiter, items = args
            return delimiter.join(intrinsic_text(item) for item in items)
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
            return base64.b64encode(intrinsic_text(args).encode()).decode()
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
            if contains_unknown(value):
                unknown = True
                return ""
            return ",".join(map(intrinsic_text, value)) if isinstance(value, list) else intrinsic_text(value)

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
            return intrinsic_text(left) == intrinsic_text(right)
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
        parameter = backends.backend("ssm", account_id, region).get_parameter(name)
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
    refuse_unsupported_functions(template)
    mappings = template.get("Mappings") or {}
    conditions = evaluate_conditions(template, {**pseudo, **parameters.typed}, mappings, region)
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(
                f"Template format error: [/Resources/{logical_id}] Every Resources object must contain a Type member."
            )
        refuse_unemulated_update_policy(logical_id, resource)
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


def refuse_unemulated_update_policy(logical_id: str, resource: dict[str, Any]) -> None:
    """``UpdatePolicy: CodeDeployLambdaAliasUpdate`` (SAM's DeploymentPreference) makes AWS run a
    CodeDeploy deployment inside the stack update; the local engine cannot, so it says so rather
    than move the alias at once."""
    policy = resource.get("UpdatePolicy")
    if isinstance(policy, dict) and "CodeDeployLambdaAliasUpdate" in policy:
        raise TemplateError(
            f"Template error: resource {logical_id} has UpdatePolicy CodeDeployLambdaAliasUpdate (from a SAM "
            "DeploymentPreference), which the local cloud's CloudFormation does not emulate: it would move the "
            "alias at once instead of through CodeDeploy. Let stepdeploy shift the alias (it removes "
            "DeploymentPreference from the templates it deploys)"
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
