"""Resource handlers for the local cloud's CloudFormation engine.

Each handler creates, updates and deletes one resource type through moto's service backends,
so a deployed resource is the same object the service API then shows.

- Handlers here (moto 5.2.5 has none, or drops properties, crashes or cannot update/delete):
  Lambda Function/Version/Alias/Permission/LayerVersion/Url, StepFunctions StateMachine,
  Events EventBus/Rule, Scheduler Schedule/ScheduleGroup, CloudWatch Alarm, Logs LogGroup,
  CodeDeploy Application/DeploymentGroup, CodeBuild Project, S3 Bucket/BucketPolicy,
  SNS Topic/Subscription, SQS QueuePolicy, SecretsManager Secret, IAM Role,
  ApiGatewayV2 Api/Stage/Integration/Route/Deployment, ApiGateway RestApi/Deployment/Stage.
- moto's own model, wrapped (``MotoModelHandler``): every other type in moto's model map, e.g.
  SQS Queue, IAM Policy/ManagedPolicy, CloudWatch Dashboard, SSM Parameter, Lambda
  EventSourceMapping; DynamoDB Table and ECR Repository with the update/delete moto lacks.
  A model another local-cloud adapter registers (CodeBuild's) wins over the handler here.
- Anything else: ``handler_for`` returns None and the stack fails naming the type.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from moto.core.utils import camelcase_to_underscores
from moto.moto_api._internal import mock_random

# ------------------------------------------------------------------------------------------
# Framework
# ------------------------------------------------------------------------------------------


class ResourceFailure(Exception):
    """A resource operation failed; the message becomes the resource's status reason."""


class ReplacementRequired(Exception):
    """Raised by a handler's update when the change can only be made by replacing the resource."""


@dataclass
class ResourceContext:
    account_id: str
    region: str
    stack_name: str
    stack_id: str
    logical_id: str
    resource_type: str
    stack_tags: dict[str, str] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return "aws"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    def generated_name(self, *, max_length: int = 64, lowercase: bool = False, with_stack: bool = True) -> str:
        """A physical name as CloudFormation makes one: <stack>-<logical id>-<12 random characters>."""
        suffix = random_suffix()
        prefix = f"{self.stack_name}-{self.logical_id}" if with_stack else self.logical_id
        prefix = prefix[: max_length - len(suffix) - 1].rstrip("-")
        name = f"{prefix}-{suffix}"
        return name.lower() if lowercase else name

    def system_tags(self) -> dict[str, str]:
        return {
            **self.stack_tags,
            "aws:cloudformation:stack-name": self.stack_name,
            "aws:cloudformation:stack-id": self.stack_id,
            "aws:cloudformation:logical-id": self.logical_id,
        }


@dataclass
class Provisioned:
    """A resource that exists: its Ref value, its Fn::GetAtt values, and the handler's own state."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    handle: Any = None


class ResourceHandler:
    resource_type: ClassVar[str] = ""
    # Properties whose change means a new physical resource (AWS "Update requires: Replacement").
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # Every property change replaces the resource (e.g. AWS::Lambda::Version).
    immutable: ClassVar[bool] = False
    # The property that names the resource; when given, a replacement cannot happen.
    name_property: ClassVar[str | None] = None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        raise NotImplementedError

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        raise ReplacementRequired()

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def get_att(self, ctx: ResourceContext, current: Provisioned, attribute: str) -> Any:
        if attribute in current.attributes:
            return current.attributes[attribute]
        raise ResourceFailure(
            f"Template error: resource {ctx.logical_id} does not support attribute type {attribute} in Fn::GetAtt"
        )

    def requires_replacement(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        if self.immutable:
            return old != new
        return any(old.get(name) != new.get(name) for name in self.replace_on)


def random_suffix(size: int = 12) -> str:
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits
    return "".join(mock_random.choice(alphabet) for _ in range(size))


def tags_to_dict(tags: Any) -> dict[str, str]:
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags}


def tags_to_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def as_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def camel_keys(value: Any, renames: dict[str, str] | None = None) -> Any:
    """CloudFormation's PascalCase property names to the camelCase of the service API."""
    renames = renames or {}
    if isinstance(value, dict):
        return {renames.get(k, k[:1].lower() + k[1:]): camel_keys(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v, renames) for v in value]
    return value


def _required(props: dict[str, Any], name: str, ctx: ResourceContext) -> Any:
    if props.get(name) in (None, ""):
        raise ResourceFailure(
            f"Properties validation failed for resource {ctx.logical_id} with message: "
            f"#: required key [{name}] not found"
        )
    return props[name]


# ------------------------------------------------------------------------------------------
# Lambda
# ------------------------------------------------------------------------------------------


def _lambda_backend(ctx: ResourceContext) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(ctx.account_id, ctx.region)


def _inline_code_zip(code: str, runtime: str | None) -> str:
    extension = "js" if (runtime or "").startswith("nodejs") else "py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"index.{extension}", code)
    return base64.b64encode(buffer.getvalue()).decode()


def _require_code_object(ctx: ResourceContext, code: dict[str, Any]) -> None:
    """Lambda reads S3 code at create/update time; moto 5.2.5 accepts a missing object silently."""
    if "S3Bucket" not in code or "S3Key" not in code:
        return
    from moto.s3.models import s3_backends

    backend = s3_backends[ctx.account_id][ctx.partition]
    if code["S3Bucket"] not in backend.buckets:
        raise ResourceFailure(
            'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchBucket. '
            f'S3 Error Message: The specified bucket does not exist (bucket {code["S3Bucket"]})"'
        )
    if backend.get_object(code["S3Bucket"], code["S3Key"], version_id=code.get("S3ObjectVersion")) is None:
        raise ResourceFailure(
            'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey. '
            f'S3 Error Message: The specified key does not exist. (s3://{code["S3Bucket"]}/{code["S3Key"]})"'
        )


def _split_function_ref(name_or_arn: str) -> tuple[str, str | None]:
    """A function name, name:qualifier or ARN (possibly qualified) to (name or ARN, qualifier)."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:") and len(parts) == 8:
        return ":".join(parts[:7]), parts[7]
    if not name_or_arn.startswith("arn:") and len(parts) == 2:
        return parts[0], parts[1]
    return name_or_arn, None


class LambdaFunctionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Function"
    replace_on = frozenset({"FunctionName", "PackageType"})
    name_property = "FunctionName"
    _config_keys = (
        "Description",
        "Handler",
        "MemorySize",
        "Role",
        "Runtime",
        "Timeout",
        "VpcConfig",
        "Environment",
        "Layers",
        "TracingConfig",
        "EphemeralStorage",
        "DeadLetterConfig",
        "KmsKeyArn",
        "ImageConfig",
        "LoggingConfig",
        "Architectures",
    )

    def _code(self, ctx: ResourceContext, props: dict[str, Any]) -> dict[str, Any]:
        code = dict(props.get("Code") or {})
        _require_code_object(ctx, code)
        if "ZipFile" in code:
            code["ZipFile"] = _inline_code_zip(code["ZipFile"], props.get("Runtime"))
        return code

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("FunctionName") or ctx.generated_name()
        _required(props, "Role", ctx)
        spec: dict[str, Any] = {key: copy.deepcopy(props[key]) for key in self._config_keys if key in props}
        spec.update(
            FunctionName=name,
            Code=self._code(ctx, props),
            PackageType=props.get("PackageType", "Zip"),
            Tags={**ctx.system_tags(), **tags_to_dict(props.get("Tags"))},
        )
        for key in ("MemorySize", "Timeout", "ReservedConcurrentExecutions"):
            if key in props:
                spec[key] = int(props[key])
        if "ReservedConcurrentExecutions" in props:
            spec["ReservedConcurrentExecutions"] = int(props["ReservedConcurrentExecutions"])
        fn = _lambda_backend(ctx).create_function(spec)
        return Provisioned(name, {"Arn": fn.function_arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _lambda_backend(ctx)
        name = current.physical_id
        config: dict[str, Any] = {}
        for key in ("Description", "Handler", "MemorySize", "Role", "Runtime", "Timeout", "VpcConfig"):
            if new.get(key) != old.get(key) and key in new:
                config[key] = int(new[key]) if key in ("MemorySize", "Timeout") else new[key]
        if new.get("Environment") != old.get("Environment"):
            config["Environment"] = new.get("Environment") or {"Variables": {}}
        if new.get("Layers") != old.get("Layers"):
            config["Layers"] = new.get("Layers") or []
        if config:
            backend.update_function_configuration(name, None, config)
        fn = backend.get_function(name)
        for key, attribute in (("TracingConfig", "tracing_config"), ("Architectures", "architectures")):
            if new.get(key) != old.get(key) and key in new:
                setattr(fn, attribute, new[key])
        if new.get("Code") != old.get("Code"):
            backend.update_function_code(name, None, self._code(ctx, new))
        if new.get("Tags") != old.get("Tags"):
            backend.tag_resource(fn.function_arn, {**ctx.system_tags(), **tags_to_dict(new.get("Tags"))})
        return Provisioned(name, {"Arn": fn.function_arn})

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _lambda_backend(ctx).delete_function(current.physical_id)


class LambdaVersionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Version"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = _lambda_backend(ctx)
        function_name = _required(props, "FunctionName", ctx)
        existing = {str(fn.version) for fn in backend.list_versions_by_function(function_name)}
        published = backend.publish_version(function_name, props.get("Description", ""))
        if str(published.version) in existing:
            # Lambda returns the latest version when nothing changed; CloudFormation then fails.
            raise ResourceFailure(
                f"A version for this Lambda function exists ( {published.version} ). "
                "Modify the function to create a new version."
            )
        latest = backend.get_function(function_name)
        arn = f"{latest.function_arn.rsplit(':$LATEST', 1)[0]}:{published.version}"
        return Provisioned(
            arn,
            {"Version": str(published.version), "FunctionArn": arn},
            handle=(function_name, str(published.version)),
        )

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        function_name, version = current.handle
        _lambda_backend(ctx).delete_function(function_name, version)


def _routing_config(props: dict[str, Any]) -> dict[str, Any] | None:
    routing = props.get("RoutingConfig")
    if not routing:
        return None
    weights = routing.get("AdditionalVersionWeights") or []
    return {"AdditionalVersionWeights": {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights}}


class LambdaAliasHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Alias"
    replace_on = frozenset({"Name", "FunctionName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        alias = _lambda_backend(ctx).create_alias(
            name=_required(props, "Name", ctx),
            function_name=_required(props, "FunctionName", ctx),
            function_version=str(_required(props, "FunctionVersion", ctx)),
            description=props.get("Description", ""),
            routing_config=_routing_config(props),
        )
        return Provisioned(alias.arn, {"AliasArn": alias.arn}, handle=(props["FunctionName"], props["Name"]))

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _lambda_backend(ctx)
        function_name, name = current.handle
        alias = backend.update_alias(
            name=name,
            function_name=function_name,
            function_version=str(new["FunctionVersion"]),
            description=new.get("Description", ""),
            routing_config=_routing_config(new),
        )
        if not new.get("RoutingConfig"):
            alias.routing_config = None
        return Provisioned(current.physical_id, current.attributes, current.handle)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        function_name, name = current.handle
        _lambda_backend(ctx).delete_alias(name, function_name)


class LambdaPermissionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Permission"
    immutable = True
    _statement_keys = (
        "Action",
        "Principal",
        "SourceArn",
        "SourceAccount",
        "EventSourceToken",
        "PrincipalOrgID",
        "FunctionUrlAuthType",
    )

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        function, qualifier = _split_function_ref(_required(props, "FunctionName", ctx))
        statement_id = ctx.generated_name(max_length=100)
        raw = {key: props[key] for key in self._statement_keys if key in props}
        raw["StatementId"] = statement_id
        _lambda_backend(ctx).add_permission(function, qualifier, json.dumps(raw))
        return Provisioned(statement_id, handle=(function, qualifier, statement_id))

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        function, qualifier, statement_id = current.handle
        fn = _lambda_backend(ctx).get_function(function, qualifier)
        fn.policy.del_statement(statement_id)


class LambdaLayerVersionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::LayerVersion"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("LayerName") or ctx.generated_name(max_length=140, with_stack=False)
        spec = {"LayerName": name, "Content": _required(props, "Content", ctx)}
        _require_code_object(ctx, spec["Content"])
        for key in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if key in props:
                spec[key] = props[key]
        layer_version = _lambda_backend(ctx).publish_layer_version(spec)
        arn = layer_version.arn
        return Provisioned(arn, {"LayerVersionArn": arn}, handle=(name, str(layer_version.version)))

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        name, version = current.handle
        _lambda_backend(ctx).delete_layer_version(name, version)


class LambdaUrlHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Url"
    replace_on = frozenset({"TargetFunctionArn", "Qualifier"})

    def _config(self, props: dict[str, Any]) -> dict[str, Any]:
        return {k: props[k] for k in ("AuthType", "Cors", "InvokeMode", "Qualifier") if k in props}

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        target = _required(props, "TargetFunctionArn", ctx)
        if props.get("Qualifier"):
            target = f"{target}:{props['Qualifier']}"
        url = _lambda_backend(ctx).create_function_url_config(target, self._config(props))
        function_arn = url.function.function_arn
        return Provisioned(function_arn, {"FunctionArn": function_arn, "FunctionUrl": url.url}, handle=target)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        url = _lambda_backend(ctx).update_function_url_config(current.handle, self._config(new))
        url.config.update(self._config(new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _lambda_backend(ctx).delete_function_url_config(current.handle)


# ------------------------------------------------------------------------------------------
# Step Functions
# ------------------------------------------------------------------------------------------


def _stepfunctions_backend_for(account_id: str, region: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account_id][region]


def _sfn_adapter() -> Any:
    try:
        from stepdeploy_localcloud.patches import stepfunctions
    except ImportError:
        return None
    return stepfunctions


def create_state_machine(
    name: str,
    definition: str,
    role_arn: str,
    type_: str,
    logging: dict[str, Any] | None,
    tracing: dict[str, Any] | None,
    tags: list[dict[str, str]],
    account_id: str,
    region: str,
) -> str:
    """Create a state machine in the executing Step Functions backend and return its ARN.

    The Step Functions adapter provides ``create_executing_state_machine``; without it, the
    state machine goes straight into moto's parser (executing) backend.
    """
    create = getattr(_sfn_adapter(), "create_executing_state_machine", None)
    if create is not None:
        return str(create(name, definition, role_arn, type_, logging, tracing, tags, account_id, region))
    machine = _stepfunctions_backend_for(account_id, region).create_state_machine(
        name=name,
        definition=definition,
        roleArn=role_arn,
        tags=tags,
        loggingConfiguration=logging,
        tracingConfiguration=tracing,
        sm_type=type_,
    )
    return str(machine.arn)


def update_state_machine(
    arn: str,
    definition: str,
    role_arn: str | None,
    logging: dict[str, Any] | None,
    tracing: dict[str, Any] | None,
    account_id: str,
    region: str,
) -> None:
    update = getattr(_sfn_adapter(), "update_executing_state_machine", None)
    if update is not None:
        update(arn, definition, role_arn, logging, tracing, None, account_id, region)
        return
    _stepfunctions_backend_for(account_id, region).update_state_machine(
        arn, definition=definition, role_arn=role_arn, logging_configuration=logging, tracing_configuration=tracing
    )


def delete_state_machine(arn: str, account_id: str, region: str) -> None:
    delete = getattr(_sfn_adapter(), "delete_executing_state_machine", None)
    if delete is not None:
        delete(arn, account_id, region)
        return
    _stepfunctions_backend_for(account_id, region).delete_state_machine(arn)


def scalar_text(value: Any) -> str:
    """A scalar as CloudFormation writes it into a string (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute(definition: str, substitutions: dict[str, Any]) -> str:
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", scalar_text(value))
    return definition


def _s3_object_text(ctx: ResourceContext, bucket: str, key: str, version: str | None = None) -> str:
    from moto.s3.models import s3_backends

    obj = s3_backends[ctx.account_id][ctx.partition].get_object(bucket, key, version_id=version)
    if obj is None:
        raise ResourceFailure(f"S3 object s3://{bucket}/{key} does not exist")
    return obj.value.decode("utf-8")


class StateMachineHandler(ResourceHandler):
    resource_type = "AWS::StepFunctions::StateMachine"
    replace_on = frozenset({"StateMachineName", "StateMachineType"})
    name_property = "StateMachineName"

    def definition(self, ctx: ResourceContext, props: dict[str, Any]) -> str:
        if "DefinitionString" in props:
            text = str(props["DefinitionString"])
        elif "Definition" in props:
            text = json.dumps(props["Definition"])
        elif "DefinitionS3Location" in props:
            location = props["DefinitionS3Location"]
            text = _s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
        else:
            raise ResourceFailure(
                f"{ctx.logical_id}: one of Definition, DefinitionString or DefinitionS3Location is required"
            )
        return _substitute(text, props.get("DefinitionSubstitutions") or {})

    @staticmethod
    def _logging(props: dict[str, Any]) -> dict[str, Any] | None:
        config = props.get("LoggingConfiguration")
        return camel_keys(config) if config else None

    @staticmethod
    def _tracing(props: dict[str, Any]) -> dict[str, Any] | None:
        config = props.get("TracingConfiguration")
        return {"enabled": bool(as_bool(config.get("Enabled")))} if config else None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        # CloudFormation names state machines <LogicalId>-<random> (no stack name).
        name = props.get("StateMachineName") or ctx.generated_name(max_length=80, with_stack=False)
        tags = tags_to_list({**ctx.system_tags(), **tags_to_dict(props.get("Tags"))}, "key", "value")
        arn = create_state_machine(
            name=name,
            definition=self.definition(ctx, props),
            role_arn=_required(props, "RoleArn", ctx),
            type_=props.get("StateMachineType", "STANDARD"),
            logging=self._logging(props),
            tracing=self._tracing(props),
            tags=tags,
            account_id=ctx.account_id,
            region=ctx.region,
        )
        return Provisioned(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        update_state_machine(
            current.physical_id,
            self.definition(ctx, new),
            new.get("RoleArn"),
            self._logging(new),
            self._tracing(new),
            ctx.account_id,
            ctx.region,
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        delete_state_machine(current.physical_id, ctx.account_id, ctx.region)


# ------------------------------------------------------------------------------------------
# EventBridge and Scheduler
# ------------------------------------------------------------------------------------------


def _events_backend(ctx: ResourceContext) -> Any:
    from moto.events.models import events_backends

    return events_backends[ctx.account_id][ctx.region]


def _bus_name(value: Any) -> str:
    return str(value or "default").split("/")[-1]


class EventBusHandler(ResourceHandler):
    resource_type = "AWS::Events::EventBus"
    replace_on = frozenset({"Name", "EventSourceName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = _required(props, "Name", ctx)
        bus = _events_backend(ctx).create_event_bus(
            name=name,
            event_source_name=props.get("EventSourceName"),
            description=props.get("Description"),
            kms_key_identifier=props.get("KmsKeyIdentifier"),
            dead_letter_config=props.get("DeadLetterConfig"),
            tags=tags_to_list(tags_to_dict(props.get("Tags"))),
        )
        return Provisioned(name, {"Arn": bus.arn, "Name": name, "Policy": json.dumps(props.get("Policy", ""))})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        bus = _events_backend(ctx).event_buses[current.physical_id]
        bus.description = new.get("Description")
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _events_backend(ctx).delete_event_bus(current.physical_id)


class EventRuleHandler(ResourceHandler):
    resource_type = "AWS::Events::Rule"
    replace_on = frozenset({"Name", "EventBusName"})
    name_property = "Name"

    def _put(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Any:
        backend = _events_backend(ctx)
        bus = _bus_name(props.get("EventBusName"))
        pattern = props.get("EventPattern")
        rule = backend.put_rule(
            name=name,
            description=props.get("Description"),
            event_bus_arn=bus,
            event_pattern=json.dumps(pattern) if isinstance(pattern, dict) else pattern,
            role_arn=props.get("RoleArn"),
            scheduled_expression=props.get("ScheduleExpression"),
            state=props.get("State", "ENABLED"),
            tags=tags_to_list(tags_to_dict(props.get("Tags"))) or None,
        )
        wanted = props.get("Targets") or []
        stale = [t["Id"] for t in rule.targets if t["Id"] not in {w["Id"] for w in wanted}]
        if stale:
            backend.remove_targets(name, bus, stale)
        if wanted:
            backend.put_targets(name, bus, copy.deepcopy(wanted))
        physical = name if bus == "default" else f"{bus}|{name}"
        return Provisioned(physical, {"Arn": rule.arn}, handle=(name, bus))

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.generated_name()
        return self._put(ctx, name, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self._put(ctx, current.handle[0], new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = _events_backend(ctx)
        name, bus = current.handle
        rule = backend.describe_rule(name, bus)
        if rule.targets:
            backend.remove_targets(name, bus, [t["Id"] for t in rule.targets])
        backend.delete_rule(name, bus)


def _scheduler_backend(ctx: ResourceContext) -> Any:
    from moto.scheduler.models import scheduler_backends

    return scheduler_backends[ctx.account_id][ctx.region]


class ScheduleHandler(ResourceHandler):
    resource_type = "AWS::Scheduler::Schedule"
    replace_on = frozenset({"Name", "GroupName"})
    name_property = "Name"

    def _args(self, name: str, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": props.get("Description"),
            "end_date": props.get("EndDate"),
            "flexible_time_window": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            "group_name": props.get("GroupName"),
            "kms_key_arn": props.get("KmsKeyArn"),
            "name": name,
            "schedule_expression": props.get("ScheduleExpression"),
            "schedule_expression_timezone": props.get("ScheduleExpressionTimezone"),
            "start_date": props.get("StartDate"),
            "state": props.get("State", "ENABLED"),
            "target": props.get("Target"),
        }

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.generated_name()
        schedule = _scheduler_backend(ctx).create_schedule(
            **self._args(name, props), action_after_completion=props.get("ActionAfterCompletion")
        )
        return Provisioned(name, {"Arn": schedule.arn}, handle=props.get("GroupName"))

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        _scheduler_backend(ctx).update_schedule(**self._args(current.physical_id, new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _scheduler_backend(ctx).delete_schedule(current.handle, current.physical_id)


class ScheduleGroupHandler(ResourceHandler):
    resource_type = "AWS::Scheduler::ScheduleGroup"
    replace_on = frozenset({"Name"})
    name_property = "Name"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.generated_name()
        group = _scheduler_backend(ctx).create_schedule_group(
            name=name, tags=tags_to_list(tags_to_dict(props.get("Tags")))
        )
        return Provisioned(name, {"Arn": group.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _scheduler_backend(ctx).delete_schedule_group(current.physical_id)


# ------------------------------------------------------------------------------------------
# CloudWatch, Logs
# ------------------------------------------------------------------------------------------


def _cloudwatch_backend(ctx: ResourceContext) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ctx.account_id][ctx.region]


class AlarmHandler(ResourceHandler):
    resource_type = "AWS::CloudWatch::Alarm"
    replace_on = frozenset({"AlarmName"})
    name_property = "AlarmName"

    def _put(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Provisioned:
        from moto.cloudwatch.models import MetricDataQuery

        queries = None
        if props.get("Metrics"):
            queries = [
                MetricDataQuery(
                    query_id=m["Id"],
                    label=m.get("Label", ""),
                    period=m.get("Period"),
                    return_data=m.get("ReturnData"),
                    expression=m.get("Expression"),
                    metric_stat=m.get("MetricStat"),
                    account_id=m.get("AccountId"),
                )
                for m in props["Metrics"]
            ]
        alarm = _cloudwatch_backend(ctx).put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=_required(props, "ComparisonOperator", ctx),
            evaluation_periods=int(_required(props, "EvaluationPeriods", ctx)),
            period=as_int(props.get("Period")),
            threshold=float(props["Threshold"]) if "Threshold" in props else None,
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            metric_data_queries=queries,
            datapoints_to_alarm=as_int(props.get("DatapointsToAlarm")),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=bool(as_bool(props.get("ActionsEnabled", True))),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )
        return Provisioned(name, {"Arn": alarm.alarm_arn})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        return self._put(ctx, props.get("AlarmName") or ctx.generated_name(max_length=255), props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self._put(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _cloudwatch_backend(ctx).delete_alarms([current.physical_id])


def _logs_backend(ctx: ResourceContext) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[ctx.account_id][ctx.region]


class LogGroupHandler(ResourceHandler):
    resource_type = "AWS::Logs::LogGroup"
    replace_on = frozenset({"LogGroupName"})
    name_property = "LogGroupName"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("LogGroupName") or ctx.generated_name(max_length=512)
        backend = _logs_backend(ctx)
        group = backend.create_log_group(name, tags_to_dict(props.get("Tags")))
        if props.get("RetentionInDays"):
            backend.put_retention_policy(name, int(props["RetentionInDays"]))
        return Provisioned(name, {"Arn": group.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _logs_backend(ctx)
        if new.get("RetentionInDays"):
            backend.put_retention_policy(current.physical_id, int(new["RetentionInDays"]))
        else:
            backend.delete_retention_policy(current.physical_id)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _logs_backend(ctx).delete_log_group(current.physical_id)


# ------------------------------------------------------------------------------------------
# CodeDeploy, CodeBuild
# ------------------------------------------------------------------------------------------


def _codedeploy_backend(ctx: ResourceContext) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[ctx.account_id][ctx.region]


class CodeDeployApplicationHandler(ResourceHandler):
    resource_type = "AWS::CodeDeploy::Application"
    replace_on = frozenset({"ApplicationName", "ComputePlatform"})
    name_property = "ApplicationName"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("ApplicationName") or ctx.generated_name(max_length=100)
        _codedeploy_backend(ctx).create_application(
            name, props.get("ComputePlatform", "Server"), props.get("Tags") or []
        )
        return Provisioned(name)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = _codedeploy_backend(ctx)
        backend.applications.pop(current.physical_id, None)
        backend.deployment_groups.pop(current.physical_id, None)


class CodeDeployDeploymentGroupHandler(ResourceHandler):
    resource_type = "AWS::CodeDeploy::DeploymentGroup"
    replace_on = frozenset({"ApplicationName", "DeploymentGroupName"})
    name_property = "DeploymentGroupName"

    def _args(self, props: dict[str, Any]) -> dict[str, Any]:
        alarms = props.get("AlarmConfiguration")
        return {
            "deployment_config_name": props.get("DeploymentConfigName"),
            "ec2_tag_filters": camel_keys(props.get("Ec2TagFilters")),
            "on_premises_instance_tag_filters": camel_keys(props.get("OnPremisesInstanceTagFilters")),
            "auto_scaling_groups": props.get("AutoScalingGroups"),
            "service_role_arn": props.get("ServiceRoleArn"),
            "trigger_configurations": camel_keys(props.get("TriggerConfigurations")),
            "alarm_configuration": camel_keys(alarms) if alarms else None,
            "auto_rollback_configuration": camel_keys(props.get("AutoRollbackConfiguration")),
            "deployment_style": camel_keys(props.get("DeploymentStyle")),
            "blue_green_deployment_configuration": camel_keys(props.get("BlueGreenDeploymentConfiguration")),
            "load_balancer_info": camel_keys(props.get("LoadBalancerInfo")),
            "ecs_services": camel_keys(props.get("ECSServices")),
            "tags": props.get("Tags") or [],
        }

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        application = _required(props, "ApplicationName", ctx)
        name = props.get("DeploymentGroupName") or ctx.generated_name(max_length=100)
        _codedeploy_backend(ctx).create_deployment_group(
            application_name=application, deployment_group_name=name, **self._args(props)
        )
        return Provisioned(name, handle=application)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _codedeploy_backend(ctx)
        if callable(getattr(backend, "update_deployment_group", None)):  # the CodeDeploy adapter's
            changes = self._args(new)
            changes.pop("tags")
            backend.update_deployment_group(current.handle, current.physical_id, **changes)
            return current
        # moto itself has no UpdateDeploymentGroup: recreate the group under the same name.
        backend.deployment_groups.get(current.handle, {}).pop(current.physical_id, None)
        backend.create_deployment_group(
            application_name=current.handle, deployment_group_name=current.physical_id, **self._args(new)
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _codedeploy_backend(ctx).deployment_groups.get(current.handle, {}).pop(current.physical_id, None)


def _codebuild_backend(ctx: ResourceContext) -> Any:
    from moto.codebuild.models import codebuild_backends

    return codebuild_backends[ctx.account_id][ctx.region]


class CodeBuildProjectHandler(ResourceHandler):
    resource_type = "AWS::CodeBuild::Project"
    replace_on = frozenset({"Name"})
    name_property = "Name"
    _renames: ClassVar[dict[str, str]] = {"BuildSpec": "buildspec"}

    def _create(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Provisioned:
        project = _codebuild_backend(ctx).create_project(
            project_name=name,
            description=props.get("Description"),
            project_source=camel_keys(_required(props, "Source", ctx), self._renames),
            artifacts=camel_keys(_required(props, "Artifacts", ctx), self._renames),
            environment=camel_keys(_required(props, "Environment", ctx), self._renames),
            service_role=_required(props, "ServiceRole", ctx),
            tags=tags_to_list(tags_to_dict(props.get("Tags")), "key", "value"),
            cache=camel_keys(props.get("Cache")),
            timeout=as_int(props.get("TimeoutInMinutes")),
            queued_timeout=as_int(props.get("QueuedTimeoutInMinutes")),
            source_version=props.get("SourceVersion"),
            logs_config=camel_keys(props.get("LogsConfig")),
            vpc_config=camel_keys(props.get("VpcConfig")),
        )
        return Provisioned(name, {"Arn": project["arn"]})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        return self._create(ctx, props.get("Name") or ctx.generated_name(max_length=150), props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        _codebuild_backend(ctx).delete_project(current.physical_id)
        return self._create(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _codebuild_backend(ctx).delete_project(current.physical_id)


# ------------------------------------------------------------------------------------------
# S3, SNS, SecretsManager, ECR, DynamoDB
# ------------------------------------------------------------------------------------------


def _s3_backend(ctx: ResourceContext) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[ctx.account_id][ctx.partition]


def _s3_filter(rule_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rule_filter or "S3Key" not in rule_filter:
        return None
    rules = rule_filter["S3Key"].get("Rules") or []
    return {"S3Key": {"FilterRule": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}


def _s3_notifications(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    result: dict[str, Any] = {}
    eventbridge = config.get("EventBridgeConfiguration") or {}
    if as_bool(eventbridge.get("EventBridgeEnabled", bool(eventbridge))):
        result["EventBridgeConfiguration"] = {}
    for cfn_key, api_key, target in (
        ("TopicConfigurations", "TopicConfiguration", "Topic"),
        ("QueueConfigurations", "QueueConfiguration", "Queue"),
        ("LambdaConfigurations", "CloudFunctionConfiguration", "Function"),
    ):
        entries = config.get(cfn_key) or []
        if entries:
            api_target = "CloudFunction" if target == "Function" else target
            result[api_key] = [
                {api_target: e[target], "Event": [e["Event"]], "Filter": _s3_filter(e.get("Filter"))} for e in entries
            ]
    return result or None


class S3BucketHandler(ResourceHandler):
    resource_type = "AWS::S3::Bucket"
    replace_on = frozenset({"BucketName"})
    name_property = "BucketName"

    def _configure(self, ctx: ResourceContext, name: str, props: dict[str, Any], old: dict[str, Any]) -> None:
        backend = _s3_backend(ctx)
        if props.get("NotificationConfiguration") != old.get("NotificationConfiguration"):
            backend.put_bucket_notification_configuration(
                name, _s3_notifications(props.get("NotificationConfiguration")) or {}
            )
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning != (old.get("VersioningConfiguration") or {}).get("Status") and versioning:
            backend.put_bucket_versioning(name, versioning)
        if props.get("Tags") != old.get("Tags"):
            backend.put_bucket_tagging(name, tags_to_dict(props.get("Tags")))
        if props.get("BucketEncryption") != old.get("BucketEncryption") and props.get("BucketEncryption"):
            from moto.s3.cloud_formation import cfn_to_api_encryption

            backend.put_bucket_encryption(name, cfn_to_api_encryption(props["BucketEncryption"]))

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("BucketName") or ctx.generated_name(max_length=63, lowercase=True)
        bucket = _s3_backend(ctx).create_bucket(name, ctx.region)
        self._configure(ctx, name, props, {})
        return Provisioned(
            name,
            {
                "Arn": bucket.arn,
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.amazonaws.com",
            },
        )

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self._configure(ctx, current.physical_id, new, old)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _s3_backend(ctx).delete_bucket(current.physical_id)


class S3BucketPolicyHandler(ResourceHandler):
    resource_type = "AWS::S3::BucketPolicy"
    replace_on = frozenset({"Bucket"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        bucket = _required(props, "Bucket", ctx)
        _s3_backend(ctx).put_bucket_policy(bucket, json.dumps(_required(props, "PolicyDocument", ctx)).encode())
        return Provisioned(bucket)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _s3_backend(ctx).delete_bucket_policy(current.physical_id)


def _sqs_backend(ctx: ResourceContext) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ctx.account_id][ctx.region]


class SqsQueuePolicyHandler(ResourceHandler):
    """Sets the queues' Policy attribute; the local cloud does not enforce resource policies."""

    resource_type = "AWS::SQS::QueuePolicy"

    def _apply(self, ctx: ResourceContext, queues: list[str], document: Any) -> None:
        backend = _sqs_backend(ctx)
        for url in queues:
            name = str(url).rstrip("/").rsplit("/", 1)[-1]
            backend.set_queue_attributes(name, {"Policy": _policy_text(document) if document else ""})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        queues = [str(q) for q in _required(props, "Queues", ctx)]
        self._apply(ctx, queues, _required(props, "PolicyDocument", ctx))
        return Provisioned(ctx.generated_name(), handle=queues)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        queues = [str(q) for q in new["Queues"]]
        self._apply(ctx, [q for q in current.handle if q not in queues], None)
        self._apply(ctx, queues, new["PolicyDocument"])
        return Provisioned(current.physical_id, handle=queues)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        self._apply(ctx, current.handle, None)


def _sns_backend(ctx: ResourceContext) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[ctx.account_id][ctx.region]


class SnsTopicHandler(ResourceHandler):
    resource_type = "AWS::SNS::Topic"
    replace_on = frozenset({"TopicName", "FifoTopic"})
    name_property = "TopicName"
    _attributes = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion")

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("TopicName") or ctx.generated_name(max_length=256)
        backend = _sns_backend(ctx)
        attributes = {k: scalar_text(props[k]) for k in self._attributes if k in props}
        topic = backend.create_topic(name, attributes=attributes, tags=tags_to_dict(props.get("Tags")))
        for subscription in props.get("Subscription") or []:
            backend.subscribe(topic.arn, subscription["Endpoint"], subscription["Protocol"])
        return Provisioned(topic.arn, {"TopicArn": topic.arn, "TopicName": name})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _sns_backend(ctx)
        for key in self._attributes:
            if key in new and new.get(key) != old.get(key):
                backend.set_topic_attribute(current.physical_id, camelcase_to_underscores(key), scalar_text(new[key]))
        old_subs = {(s["Endpoint"], s["Protocol"]) for s in old.get("Subscription") or []}
        for subscription in new.get("Subscription") or []:
            if (subscription["Endpoint"], subscription["Protocol"]) not in old_subs:
                backend.subscribe(current.physical_id, subscription["Endpoint"], subscription["Protocol"])
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _sns_backend(ctx).delete_topic(current.physical_id)


class SnsSubscriptionHandler(ResourceHandler):
    resource_type = "AWS::SNS::Subscription"
    replace_on = frozenset({"TopicArn", "Endpoint", "Protocol"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = _sns_backend(ctx)
        subscription = backend.subscribe(
            _required(props, "TopicArn", ctx), props.get("Endpoint"), _required(props, "Protocol", ctx)
        )
        for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
            if key in props:
                value = props[key]
                text = json.dumps(value) if isinstance(value, dict) else scalar_text(value)
                backend.set_subscription_attributes(subscription.arn, key, text)
        return Provisioned(subscription.arn, {"Arn": subscription.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _sns_backend(ctx)
        for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
            if key in new and new.get(key) != old.get(key):
                value = new[key]
                backend.set_subscription_attributes(
                    current.physical_id, key, json.dumps(value) if isinstance(value, dict) else scalar_text(value)
                )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _sns_backend(ctx).unsubscribe(current.physical_id)


def _secrets_backend(ctx: ResourceContext) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[ctx.account_id][ctx.region]


class SecretHandler(ResourceHandler):
    resource_type = "AWS::SecretsManager::Secret"
    replace_on = frozenset({"Name"})
    name_property = "Name"

    def _secret_string(self, ctx: ResourceContext, props: dict[str, Any]) -> str | None:
        generate = props.get("GenerateSecretString")
        if not generate:
            return props.get("SecretString")
        password = _secrets_backend(ctx).get_random_password(
            password_length=int(generate.get("PasswordLength", 32)),
            exclude_characters=generate.get("ExcludeCharacters", ""),
            exclude_numbers=bool(as_bool(generate.get("ExcludeNumbers", False))),
            exclude_punctuation=bool(as_bool(generate.get("ExcludePunctuation", False))),
            exclude_uppercase=bool(as_bool(generate.get("ExcludeUppercase", False))),
            exclude_lowercase=bool(as_bool(generate.get("ExcludeLowercase", False))),
            include_space=bool(as_bool(generate.get("IncludeSpace", False))),
            require_each_included_type=bool(as_bool(generate.get("RequireEachIncludedType", True))),
        )
        password = json.loads(password)["RandomPassword"] if password.startswith("{") else password
        template = generate.get("SecretStringTemplate")
        if template and generate.get("GenerateStringKey"):
            document = json.loads(template)
            document[generate["GenerateStringKey"]] = password
            return json.dumps(document)
        return password

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.generated_name(max_length=256, with_stack=False)
        result = _secrets_backend(ctx).create_secret(
            name=name,
            secret_string=self._secret_string(ctx, props),
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags") or [],
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        arn = json.loads(result)["ARN"] if isinstance(result, str) else result["ARN"]
        return Provisioned(arn, {"Id": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        changed_value = new.get("SecretString") != old.get("SecretString") or new.get(
            "GenerateSecretString"
        ) != old.get("GenerateSecretString")
        _secrets_backend(ctx).update_secret(
            secret_id=current.physical_id,
            secret_string=self._secret_string(ctx, new) if changed_value else None,
            description=new.get("Description"),
            kms_key_id=new.get("KmsKeyId"),
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _secrets_backend(ctx).delete_secret(
            current.physical_id, recovery_window_in_days=None, force_delete_without_recovery=True
        )


# ------------------------------------------------------------------------------------------
# IAM
# ------------------------------------------------------------------------------------------


def _iam_backend(ctx: ResourceContext) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ctx.account_id][ctx.partition]


def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class IamRoleHandler(ResourceHandler):
    """moto's role ignores ManagedPolicyArns and cannot update policies; this one does both."""

    resource_type = "AWS::IAM::Role"
    replace_on = frozenset({"RoleName", "Path"})
    name_property = "RoleName"

    def _attach(self, ctx: ResourceContext, name: str, arns: list[str]) -> list[str]:
        """Attach managed policies; return the AWS managed ones moto does not model (kept as given)."""
        backend = _iam_backend(ctx)
        known = {policy.arn for policy in backend.managed_policies.values()}
        unmodelled = []
        for arn in arns:
            if arn in known:
                backend.attach_role_policy(arn, name)
            elif ":iam::aws:policy/" in arn:
                # moto loads no AWS managed policies by default; IAM is not enforced locally.
                unmodelled.append(arn)
            else:
                raise ResourceFailure(f"Policy {arn} does not exist or is not attachable.")
        return unmodelled

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = _iam_backend(ctx)
        name = props.get("RoleName") or ctx.generated_name(max_length=64)
        role = backend.create_role(
            role_name=name,
            assume_role_policy_document=_policy_text(_required(props, "AssumeRolePolicyDocument", ctx)),
            path=props.get("Path", "/"),
            permissions_boundary=props.get("PermissionsBoundary", ""),
            description=props.get("Description", ""),
            tags=props.get("Tags") or [],
            max_session_duration=str(props.get("MaxSessionDuration", 3600)),
        )
        for policy in props.get("Policies") or []:
            role.put_policy(policy["PolicyName"], _policy_text(policy["PolicyDocument"]))
        unmodelled = self._attach(ctx, name, props.get("ManagedPolicyArns") or [])
        return Provisioned(name, {"Arn": role.arn, "RoleId": role.id}, handle=unmodelled)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _iam_backend(ctx)
        name = current.physical_id
        role = backend.get_role(name)
        role.assume_role_policy_document = _policy_text(_required(new, "AssumeRolePolicyDocument", ctx))
        role.description = new.get("Description", "")
        role.max_session_duration = str(new.get("MaxSessionDuration", 3600))
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in new.get("Policies") or []}
        # Only the role's own Policies: AWS::IAM::Policy resources add inline policies of their own.
        for policy in old.get("Policies") or []:
            if policy["PolicyName"] not in wanted and policy["PolicyName"] in role.policies:
                role.delete_policy(policy["PolicyName"])
        for policy_name, document in wanted.items():
            role.put_policy(policy_name, _policy_text(document))
        old_arns, new_arns = set(old.get("ManagedPolicyArns") or []), set(new.get("ManagedPolicyArns") or [])
        for arn in old_arns - new_arns:
            if arn in role.managed_policies:
                backend.detach_role_policy(arn, name)
        unmodelled = [a for a in (current.handle or []) if a in new_arns]
        unmodelled += self._attach(ctx, name, sorted(new_arns - old_arns))
        return Provisioned(name, current.attributes, handle=unmodelled)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = _iam_backend(ctx)
        name = current.physical_id
        role = backend.get_role(name)
        for arn in list(role.managed_policies):
            backend.detach_role_policy(arn, name)
        for policy in props.get("Policies") or []:
            if policy["PolicyName"] in role.policies:
                role.delete_policy(policy["PolicyName"])
        for profile in backend.instance_profiles.values():
            profile.delete_role(role_name=name)
        for policy in backend.inline_policies.values():
            policy.role_names = [n for n in policy.role_names if n != name]
        backend.delete_role(name)


# ------------------------------------------------------------------------------------------
# API Gateway V2
# ------------------------------------------------------------------------------------------


def _apigwv2_backend(ctx: ResourceContext) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[ctx.account_id][ctx.region]


class HttpApiHandler(ResourceHandler):
    resource_type = "AWS::ApiGatewayV2::Api"
    replace_on = frozenset({"ProtocolType"})

    def _body(self, ctx: ResourceContext, props: dict[str, Any]) -> str | None:
        if props.get("Body"):
            body = props["Body"]
            return json.dumps(body) if isinstance(body, dict) else str(body)
        location = props.get("BodyS3Location")
        if location:
            return _s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
        return None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = _apigwv2_backend(ctx)
        body = self._body(ctx, props)
        title = None
        if body is not None:
            import yaml

            title = ((yaml.safe_load(body) or {}).get("info") or {}).get("title")
        api = backend.create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=camel_keys(props.get("CorsConfiguration")),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name") or title or ctx.generated_name(max_length=128),
            protocol_type=props.get("ProtocolType", "HTTP"),
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=tags_to_dict(props.get("Tags")),
            version=props.get("Version"),
        )
        if body is not None:
            api.import_api(body, bool(as_bool(props.get("FailOnWarnings"))))
        endpoint = f"https://{api.api_id}.execute-api.{ctx.region}.amazonaws.com"
        return Provisioned(api.api_id, {"ApiId": api.api_id, "ApiEndpoint": endpoint})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = _apigwv2_backend(ctx)
        body = self._body(ctx, new)
        if body is not None:
            backend.reimport_api(current.physical_id, body, fail_on_warnings=False)
        else:
            backend.update_api(
                api_id=current.physical_id,
                api_key_selection_expression=new.get("ApiKeySelectionExpression"),
                cors_configuration=camel_keys(new.get("CorsConfiguration")),
                description=new.get("Description"),
                disable_schema_validation=new.get("DisableSchemaValidation"),
                disable_execute_api_endpoint=new.get("DisableExecuteApiEndpoint"),
                name=new.get("Name"),
                route_selection_expression=new.get("RouteSelectionExpression"),
                version=new.get("Version"),
            )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigwv2_backend(ctx).delete_api(current.physical_id)


class HttpApiStageHandler(ResourceHandler):
    resource_type = "AWS::ApiGatewayV2::Stage"
    replace_on = frozenset({"ApiId", "StageName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = _required(props, "ApiId", ctx)
        config = camel_keys({k: v for k, v in props.items() if k not in ("ApiId", "Tags")})
        config["tags"] = tags_to_dict(props.get("Tags"))
        stage = _apigwv2_backend(ctx).create_stage(api_id, config)
        return Provisioned(stage.name, handle=api_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self.delete(ctx, current, old)
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigwv2_backend(ctx).delete_stage(current.handle, current.physical_id)


class HttpApiIntegrationHandler(ResourceHandler):
    resource_type = "AWS::ApiGatewayV2::Integration"
    replace_on = frozenset({"ApiId"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = _required(props, "ApiId", ctx)
        integration = _apigwv2_backend(ctx).create_integration(
            api_id=api_id,
            connection_id=props.get("ConnectionId"),
            connection_type=props.get("ConnectionType"),
            content_handling_strategy=props.get("ContentHandlingStrategy"),
            credentials_arn=props.get("CredentialsArn"),
            description=props.get("Description"),
            integration_method=props.get("IntegrationMethod"),
            integration_subtype=props.get("IntegrationSubtype"),
            integration_type=_required(props, "IntegrationType", ctx),
            integration_uri=props.get("IntegrationUri"),
            passthrough_behavior=props.get("PassthroughBehavior"),
            payload_format_version=props.get("PayloadFormatVersion"),
            request_parameters=props.get("RequestParameters"),
            request_templates=props.get("RequestTemplates"),
            response_parameters=props.get("ResponseParameters"),
            template_selection_expression=props.get("TemplateSelectionExpression"),
            timeout_in_millis=props.get("TimeoutInMillis"),
            tls_config=camel_keys(props.get("TlsConfig")),
        )
        return Provisioned(integration.id, {"IntegrationId": integration.id}, handle=api_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self.delete(ctx, current, old)
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigwv2_backend(ctx).delete_integration(current.handle, current.physical_id)


class HttpApiRouteHandler(ResourceHandler):
    resource_type = "AWS::ApiGatewayV2::Route"
    replace_on = frozenset({"ApiId"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = _required(props, "ApiId", ctx)
        route = _apigwv2_backend(ctx).create_route(
            api_id=api_id,
            api_key_required=bool(as_bool(props.get("ApiKeyRequired", False))),
            authorization_scopes=props.get("AuthorizationScopes"),
            authorization_type=props.get("AuthorizationType"),
            authorizer_id=props.get("AuthorizerId"),
            model_selection_expression=props.get("ModelSelectionExpression"),
            operation_name=props.get("OperationName"),
            request_models=props.get("RequestModels"),
            request_parameters=props.get("RequestParameters"),
            route_key=_required(props, "RouteKey", ctx),
            route_response_selection_expression=props.get("RouteResponseSelectionExpression"),
            target=props.get("Target"),
        )
        return Provisioned(route.route_id, {"RouteId": route.route_id}, handle=api_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self.delete(ctx, current, old)
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigwv2_backend(ctx).delete_route(current.handle, current.physical_id)


class HttpApiDeploymentHandler(ResourceHandler):
    """Deployments are implicit in moto's API Gateway V2: record one, deploy nothing."""

    resource_type = "AWS::ApiGatewayV2::Deployment"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        _apigwv2_backend(ctx).get_api(_required(props, "ApiId", ctx))
        deployment_id = random_suffix(10).lower()
        return Provisioned(deployment_id, {"DeploymentId": deployment_id})

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        return None


# ------------------------------------------------------------------------------------------
# API Gateway (REST)
# ------------------------------------------------------------------------------------------


def _apigw_backend(ctx: ResourceContext) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[ctx.account_id][ctx.region]


class RestApiHandler(ResourceHandler):
    """moto's RestApi needs a Name and ignores Body/BodyS3Location (what SAM generates)."""

    resource_type = "AWS::ApiGateway::RestApi"

    def _document(self, ctx: ResourceContext, props: dict[str, Any]) -> dict[str, Any] | None:
        import yaml

        document: Any = None
        if props.get("Body"):
            body = props["Body"]
            document = copy.deepcopy(body) if isinstance(body, dict) else yaml.safe_load(str(body))
        elif props.get("BodyS3Location"):
            location = props["BodyS3Location"]
            document = yaml.safe_load(
                _s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
            )
        if isinstance(document, dict) and "swagger" in document:
            # moto imports only OpenAPI 3; SAM writes Swagger 2.0, whose paths and
            # x-amazon-apigateway-integration read the same for what moto models.
            document.pop("swagger")
            document["openapi"] = "3.0.1"
        return document

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = _apigw_backend(ctx)
        document = self._document(ctx, props)
        title = ((document or {}).get("info") or {}).get("title")
        api = backend.create_rest_api(
            name=props.get("Name") or title or ctx.generated_name(max_length=128),
            description=props.get("Description", ""),
            api_key_source=props.get("ApiKeySourceType"),
            endpoint_configuration=camel_keys(props.get("EndpointConfiguration")),
            tags=props.get("Tags"),
            policy=_policy_text(props["Policy"]) if props.get("Policy") else None,
            minimum_compression_size=as_int(props.get("MinimumCompressionSize")),
            disable_execute_api_endpoint=as_bool(props.get("DisableExecuteApiEndpoint")),
        )
        if document is not None:
            backend.put_rest_api(api.id, document, fail_on_warnings=False, mode="overwrite")
        return Provisioned(api.id, {"RestApiId": api.id, "RootResourceId": api.root_resource_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        document = self._document(ctx, new)
        if document is not None:
            _apigw_backend(ctx).put_rest_api(current.physical_id, document, fail_on_warnings=False, mode="overwrite")
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigw_backend(ctx).delete_rest_api(current.physical_id)


class RestApiDeploymentHandler(ResourceHandler):
    resource_type = "AWS::ApiGateway::Deployment"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = _required(props, "RestApiId", ctx)
        deployment = _apigw_backend(ctx).create_deployment(
            api_id, props.get("StageName", ""), props.get("Description", ""), None
        )
        return Provisioned(deployment.id, {"DeploymentId": deployment.id}, handle=api_id)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = _apigw_backend(ctx)
        if props.get("StageName"):  # the stage the deployment created goes with it
            backend.get_rest_api(current.handle).stages.pop(props["StageName"], None)
        backend.delete_deployment(current.handle, current.physical_id)


class RestApiStageHandler(ResourceHandler):
    resource_type = "AWS::ApiGateway::Stage"
    replace_on = frozenset({"RestApiId", "StageName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = _required(props, "RestApiId", ctx)
        stage = _apigw_backend(ctx).create_stage(
            api_id,
            _required(props, "StageName", ctx),
            _required(props, "DeploymentId", ctx),
            variables=props.get("Variables"),
            description=props.get("Description", ""),
            tags=tags_to_dict(props.get("Tags")),
            tracing_enabled=as_bool(props.get("TracingEnabled")),
        )
        return Provisioned(stage.name, handle=api_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        operations = [{"op": "replace", "path": "/deploymentId", "value": new["DeploymentId"]}]
        _apigw_backend(ctx).update_stage(current.handle, current.physical_id, operations)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        _apigw_backend(ctx).delete_stage(current.handle, current.physical_id)


# ------------------------------------------------------------------------------------------
# Types moto models: a generic wrapper, with fixes where moto lacks update or delete
# ------------------------------------------------------------------------------------------


class MotoModelHandler(ResourceHandler):
    """Create/update/delete through a moto CloudFormationModel class."""

    def __init__(self, resource_type: str, model: Any) -> None:
        self.resource_type = resource_type  # type: ignore[misc]
        self.model = model
        name_property = model.cloudformation_name_type() or None
        self.name_property = name_property  # type: ignore[misc]
        self.replace_on = frozenset({name_property}) if name_property else frozenset()  # type: ignore[misc]
        self.can_update = not hasattr(model.update_from_cloudformation_json, "__isabstractmethod__")
        self.can_delete = not hasattr(model.delete_from_cloudformation_json, "__isabstractmethod__")

    def _physical_name(self, ctx: ResourceContext, props: dict[str, Any]) -> str:
        from moto.cloudformation.parsing import generate_resource_name

        if self.name_property and props.get(self.name_property):
            return str(props[self.name_property])
        return generate_resource_name(self.resource_type, ctx.stack_name, ctx.logical_id)

    def _document(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"Type": self.resource_type, "Properties": copy.deepcopy(props)}

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self._physical_name(ctx, props)
        obj = self.model.create_from_cloudformation_json(
            name,
            self._document(props),
            ctx.account_id,
            ctx.region,
            LogicalId=ctx.logical_id,
            StackId=ctx.stack_id,
            ResourceType=self.resource_type,
        )
        return Provisioned(str(getattr(obj, "physical_resource_id", name)), handle=obj)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        if not self.can_update:
            raise ReplacementRequired()
        obj = self.model.update_from_cloudformation_json(
            original_resource=current.handle,
            new_resource_name=self._physical_name(ctx, new),
            cloudformation_json=self._document(new),
            account_id=ctx.account_id,
            region_name=ctx.region,
        )
        return Provisioned(str(getattr(obj, "physical_resource_id", current.physical_id)), handle=obj)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        obj = current.handle
        delete_method = getattr(obj, "delete", None)
        if callable(delete_method):
            try:
                delete_method(ctx.account_id, ctx.region)
                return
            except TypeError:
                pass
        if self.can_delete:
            self.model.delete_from_cloudformation_json(
                current.physical_id, self._document(props), ctx.account_id, ctx.region
            )

    def get_att(self, ctx: ResourceContext, current: Provisioned, attribute: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        try:
            return current.handle.get_cfn_attribute(attribute)
        except (UnformattedGetAttTemplateException, NotImplementedError, AttributeError) as error:
            raise ResourceFailure(
                f"Template error: resource {ctx.logical_id} does not support attribute type {attribute} in Fn::GetAtt"
            ) from error


class EcrRepositoryHandler(MotoModelHandler):
    """moto creates and updates repositories but never deletes them."""

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        from moto.ecr.models import ecr_backends

        ecr_backends[ctx.account_id][ctx.region].delete_repository(
            current.physical_id, force=bool(as_bool(props.get("EmptyOnDelete", False)))
        )


class DynamoDbTableHandler(MotoModelHandler):
    """moto creates and deletes tables; updates of non-key settings go through UpdateTable."""

    replace_on = frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"})  # type: ignore[misc]

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        from moto.dynamodb.models import dynamodb_backends

        if new.get("GlobalSecondaryIndexes") != old.get("GlobalSecondaryIndexes"):
            raise ResourceFailure(
                f"{ctx.logical_id}: changing GlobalSecondaryIndexes is not supported by the local cloud"
            )
        backend = dynamodb_backends[ctx.account_id][ctx.region]
        backend.update_table(
            name=current.physical_id,
            attr_definitions=new.get("AttributeDefinitions"),
            global_index=[],
            throughput=new.get("ProvisionedThroughput"),
            billing_mode=new.get("BillingMode"),
            stream_spec=new.get("StreamSpecification"),
            deletion_protection_enabled=as_bool(new.get("DeletionProtectionEnabled")),
            warm_throughput=None,
        )
        return current


# Types whose moto handler is replaced or extended here.
_OWN_HANDLERS: tuple[ResourceHandler, ...] = (
    LambdaFunctionHandler(),
    LambdaVersionHandler(),
    LambdaAliasHandler(),
    LambdaPermissionHandler(),
    LambdaLayerVersionHandler(),
    LambdaUrlHandler(),
    StateMachineHandler(),
    EventBusHandler(),
    EventRuleHandler(),
    ScheduleHandler(),
    ScheduleGroupHandler(),
    AlarmHandler(),
    LogGroupHandler(),
    CodeDeployApplicationHandler(),
    CodeDeployDeploymentGroupHandler(),
    CodeBuildProjectHandler(),
    S3BucketHandler(),
    S3BucketPolicyHandler(),
    SqsQueuePolicyHandler(),
    SnsTopicHandler(),
    SnsSubscriptionHandler(),
    SecretHandler(),
    IamRoleHandler(),
    HttpApiHandler(),
    HttpApiStageHandler(),
    HttpApiIntegrationHandler(),
    HttpApiRouteHandler(),
    HttpApiDeploymentHandler(),
    RestApiHandler(),
    RestApiDeploymentHandler(),
    RestApiStageHandler(),
)
OWN_HANDLERS: dict[str, ResourceHandler] = {h.resource_type: h for h in _OWN_HANDLERS}

_WRAPPED_WITH_FIXES: dict[str, Callable[[str, Any], MotoModelHandler]] = {
    "AWS::ECR::Repository": EcrRepositoryHandler,
    "AWS::DynamoDB::Table": DynamoDbTableHandler,
}


def handler_for(resource_type: str) -> ResourceHandler | None:
    """The handler that deploys resource_type, or None when neither moto nor the local cloud can."""
    from moto.cloudformation.parsing import get_model_map

    model = get_model_map().get(resource_type)
    # A model another local-cloud adapter registered (e.g. CodeBuild's) knows its emulator best.
    if model is not None and model.__module__.startswith("stepdeploy."):
        return MotoModelHandler(resource_type, model)
    if resource_type in OWN_HANDLERS:
        return OWN_HANDLERS[resource_type]
    if model is None:
        return None
    factory = _WRAPPED_WITH_FIXES.get(resource_type, MotoModelHandler)
    return factory(resource_type, model)
