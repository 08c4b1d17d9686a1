"""AWS::ApiGatewayV2::Api, Stage, Integration, Route and Deployment."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_bool,
    camel_keys,
    random_suffix,
    required_property,
    s3_object_text,
    tags_to_dict,
)


class HttpApiHandler(ResourceHandler):
    resource_type = "AWS::ApiGatewayV2::Api"
    replace_on = frozenset({"ProtocolType"})

    def _body(self, ctx: ResourceContext, props: dict[str, Any]) -> str | None:
        if props.get("Body"):
            body = props["Body"]
            return json.dumps(body) if isinstance(body, dict) else str(body)
        location = props.get("BodyS3Location")
        if location:
            return s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
        return None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = ctx.backend("apigatewayv2")
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
        backend = ctx.backend("apigatewayv2")
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
        ctx.backend("apigatewayv2").delete_api(current.physical_id)


class _HttpApiPart(ResourceHandler):
    """A part of an HTTP API (its id in ``handle``), which moto can only delete and create again."""

    deleted_by: ClassVar[str]  # the backend's delete method: (api_id, part_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self.delete(ctx, current, old)
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        getattr(ctx.backend("apigatewayv2"), self.deleted_by)(current.handle, current.physical_id)


class HttpApiStageHandler(_HttpApiPart):
    resource_type = "AWS::ApiGatewayV2::Stage"
    replace_on = frozenset({"ApiId", "StageName"})
    deleted_by = "delete_stage"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = required_property(props, "ApiId", ctx)
        config = camel_keys({k: v for k, v in props.items() if k not in ("ApiId", "Tags")})
        config["tags"] = tags_to_dict(props.get("Tags"))
        stage = ctx.backend("apigatewayv2").create_stage(api_id, config)
        return Provisioned(stage.name, handle=api_id)


class HttpApiIntegrationHandler(_HttpApiPart):
    resource_type = "AWS::ApiGatewayV2::Integration"
    replace_on = frozenset({"ApiId"})
    deleted_by = "delete_integration"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = required_property(props, "ApiId", ctx)
        integration = ctx.backend("apigatewayv2").create_integration(
            api_id=api_id,
            connection_id=props.get("ConnectionId"),
            connection_type=props.get("ConnectionType"),
            content_handling_strategy=props.get("ContentHandlingStrategy"),
            credentials_arn=props.get("CredentialsArn"),
            description=props.get("Description"),
            integration_method=props.get("IntegrationMethod"),
            integration_subtype=props.get("IntegrationSubtype"),
            integration_type=required_property(props, "IntegrationType", ctx),
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


class HttpApiRouteHandler(_HttpApiPart):
    resource_type = "AWS::ApiGatewayV2::Route"
    replace_on = frozenset({"ApiId"})
    deleted_by = "delete_route"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        api_id = required_property(props, "ApiId", ctx)
        route = ctx.backend("apigatewayv2").create_route(
            api_id=api_id,
            api_key_required=bool(as_bool(props.get("ApiKeyRequired", False))),
            authorization_scopes=props.get("AuthorizationScopes"),
            authorization_type=props.get("AuthorizationType"),
            authorizer_id=props.get("AuthorizerId"),
            model_selection_expression=props.get("ModelSelectionExpression"),
            operation_name=props.get("OperationName"),
            request_models=props.get("RequestModels"),
            request_parameters=props.get("RequestParameters"),
            route_key=required_property(props, "RouteKey", ctx),
            route_response_selection_expression=props.get("RouteResponseSelectionExpression"),
            target=props.get("Target"),
        )
        return Provisioned(route.route_id, {"RouteId": route.route_id}, handle=api_id)


class HttpApiDeploymentHandler(ResourceHandler):
    """Deployments are implicit in moto's API Gateway V2: record one, deploy nothing."""

    resource_type = "AWS::ApiGatewayV2::Deployment"
    immutable = True

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        ctx.backend("apigatewayv2").get_api(required_property(props, "ApiId", ctx))
        deployment_id = random_suffix(10).lower()
        return Provisioned(deployment_id, {"DeploymentId": deployment_id})

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        return None
