"""AWS::Lambda::Function, Version, Alias, Permission, LayerVersion and Url."""

from __future__ import annotations

import base64
import copy
import io
import json
import zipfile
from typing import Any

from stepdeploy_localcloud.awslambda import function_urls, policies
from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
    required_property,
    tags_to_dict,
)


def _inline_code_zip(code: str, runtime: str | None) -> str:
    extension = "js" if (runtime or "").startswith("nodejs") else "py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"index.{extension}", code)
    return base64.b64encode(buffer.getvalue()).decode()


def _another_accounts_bucket(backend: Any, bucket: str) -> bool:
    try:
        backend.get_bucket(bucket)  # moto finds a bucket of any account by its global name
    except Exception:  # noqa: BLE001 - moto's MissingBucket
        return False
    return True


def _require_code_object(ctx: ResourceContext, code: dict[str, Any]) -> None:
    """Lambda reads S3 code at create/update time, from a bucket of its own region; moto 5.2.5 accepts a
    missing object, or a bucket of another region, silently."""
    if "S3Bucket" not in code or "S3Key" not in code:
        return
    backend = ctx.backend("s3")
    if _another_accounts_bucket(backend, code["S3Bucket"]):
        region = backend.get_bucket(code["S3Bucket"]).region_name
        if region != ctx.region:
            raise ResourceFailure(
                'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: '
                f"PermanentRedirect. S3 Error Message: The bucket is in this region: {region}. Please use this "
                f'region to retry the request (s3://{code["S3Bucket"]}/{code["S3Key"]}, a function in {ctx.region})"'
            )
    if code["S3Bucket"] not in backend.buckets and _another_accounts_bucket(backend, code["S3Bucket"]):
        from stepdeploy_localcloud.s3.patch import another_account_may_read

        if not another_account_may_read(backend.get_bucket(code["S3Bucket"]), ctx.account_id, code["S3Key"]):
            raise ResourceFailure(
                'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: AccessDenied. '
                f'S3 Error Message: Access Denied (s3://{code["S3Bucket"]}/{code["S3Key"]} belongs to another '
                f'account whose bucket policy does not let account {ctx.account_id} read it)"'
            )
    elif code["S3Bucket"] not in backend.buckets:
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
        name = self.physical_name(ctx, props)
        required_property(props, "Role", ctx)
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
        fn = ctx.backend("lambda").create_function(spec)
        return Provisioned(name, {"Arn": fn.function_arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("lambda")
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
        ctx.backend("lambda").delete_function(current.physical_id)


class LambdaVersionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Version"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = ctx.backend("lambda")
        function_name = required_property(props, "FunctionName", ctx)
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
        ctx.backend("lambda").delete_function(function_name, version)


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
        alias = ctx.backend("lambda").create_alias(
            name=required_property(props, "Name", ctx),
            function_name=required_property(props, "FunctionName", ctx),
            function_version=str(required_property(props, "FunctionVersion", ctx)),
            description=props.get("Description", ""),
            routing_config=_routing_config(props),
        )
        return Provisioned(alias.arn, {"AliasArn": alias.arn}, handle=(props["FunctionName"], props["Name"]))

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("lambda")
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
        ctx.backend("lambda").delete_alias(name, function_name)


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
        # An alias or version ARN as FunctionName grants on that qualifier's own policy.
        function, qualifier = _split_function_ref(required_property(props, "FunctionName", ctx))
        statement_id = ctx.generated_name(max_length=100)
        raw = {key: props[key] for key in self._statement_keys if key in props}
        raw["StatementId"] = statement_id
        policies.add_permission(ctx.backend("lambda"), function, qualifier, json.dumps(raw))
        return Provisioned(statement_id, handle=(function, qualifier, statement_id))

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        from moto.awslambda.exceptions import LambdaClientError

        function, qualifier, statement_id = current.handle
        try:
            policies.remove_permission(ctx.backend("lambda"), function, statement_id, qualifier=qualifier)
        except LambdaClientError as error:  # the function, alias or statement is gone already: nothing to do
            if error.code != 404:
                raise


class LambdaLayerVersionHandler(ResourceHandler):
    resource_type = "AWS::Lambda::LayerVersion"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = props.get("LayerName") or ctx.generated_name(max_length=140, with_stack=False)
        spec = {"LayerName": name, "Content": required_property(props, "Content", ctx)}
        _require_code_object(ctx, spec["Content"])
        for key in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if key in props:
                spec[key] = props[key]
        layer_version = ctx.backend("lambda").publish_layer_version(spec)
        arn = layer_version.arn
        return Provisioned(arn, {"LayerVersionArn": arn}, handle=(name, str(layer_version.version)))

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        name, version = current.handle
        ctx.backend("lambda").delete_layer_version(name, version)


class LambdaUrlHandler(ResourceHandler):
    resource_type = "AWS::Lambda::Url"
    replace_on = frozenset({"TargetFunctionArn", "Qualifier"})

    def _config(self, props: dict[str, Any]) -> dict[str, Any]:
        return {k: props[k] for k in ("AuthType", "Cors", "InvokeMode") if k in props}

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        target, qualifier = _split_function_ref(str(required_property(props, "TargetFunctionArn", ctx)))
        qualifier = props.get("Qualifier") or qualifier
        url = function_urls.create(ctx.backend("lambda"), target, self._config(props), qualifier)
        return Provisioned(
            url.function_arn, {"FunctionArn": url.function_arn, "FunctionUrl": url.url}, handle=(target, qualifier)
        )

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        target, qualifier = current.handle
        function_urls.update(ctx.backend("lambda"), target, self._config(new), qualifier)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        target, qualifier = current.handle
        function_urls.delete(ctx.backend("lambda"), target, qualifier)
