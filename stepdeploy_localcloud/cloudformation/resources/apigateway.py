"""AWS::ApiGateway::RestApi, Deployment and Stage."""

from __future__ import annotations

import copy
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_bool,
    as_int,
    camel_keys,
    policy_text,
    required_property,
    s3_object_text,
    tags_to_dict,
)


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
                s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
            )
        if isinstance(document, dict) and "swagger" in document:
            # moto imports only OpenAPI 3; SAM writes Swagger 2.0, whose paths and
            # x-amazon-apigateway-integration read the same for what moto models.
            document.pop("swagger")
            document["openapi"] = "3.0.1"
        return document

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = ctx.backend("apigateway")
        document = self._document(ctx, props)
        title = ((document or {}).get("info") or {}).get("title")
        api = backend.create_rest_api(
            name=props.get("Name") or title or ctx.generated_name(max_length=128),
            description=props.get("Description", ""),
            api_key_source=props.get("ApiKeySourceType"),
            endpoint_configuration=camel_keys(props.get("EndpointConfiguration")),
            tags=props.get("Tags"),
            policy=policy_text(props["Policy"]) if props.get("Policy") else None,
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
            ctx.backend("apigateway").put_rest_api(
                current.physical_id, document, fail_on_warnings=False, mode="overwrite"
            )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("apigateway").delete_rest_api(current.physical_id)


class RestApiDeploymentHandler(ResourceHandler):
    resource_type = "AWS::ApiGateway::Deployment"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = required_property(props, "RestApiId", ctx)
        deployment = ctx.backend("apigateway").create_deployment(
            api_id, props.get("StageName", ""), props.get("Description", ""), None
        )
        return Provisioned(deployment.id, {"DeploymentId": deployment.id}, handle=api_id)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = ctx.backend("apigateway")
        if props.get("StageName"):  # the stage the deployment created goes with it
            backend.get_rest_api(current.handle).stages.pop(props["StageName"], None)
        backend.delete_deployment(current.handle, current.physical_id)


class RestApiStageHandler(ResourceHandler):
    resource_type = "AWS::ApiGateway::Stage"
    replace_on = frozenset({"RestApiId", "StageName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = required_property(props, "RestApiId", ctx)
        stage = ctx.backend("apigateway").create_stage(
            api_id,
            required_property(props, "StageName", ctx),
            required_property(props, "DeploymentId", ctx),
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
        ctx.backend("apigateway").update_stage(current.handle, current.physical_id, operations)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("apigateway").delete_stage(current.handle, current.physical_id)
