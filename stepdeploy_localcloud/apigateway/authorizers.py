"""Adapter: API Gateway imports keep their authorizers, and HTTP APIs answer GetAuthorizers.

moto 5.2.5 imports an API definition's paths and integrations only: the authorizers that SAM writes
for ``Auth: Authorizers`` were lost, every method and route came out with no authorization, and
API Gateway V2's GetAuthorizers answered "get_authorizers has not been implemented". Here:

- REST APIs (``PutRestApi``/``ImportRestApi``, and the local CloudFormation's ``Body``): each
  ``securityDefinitions`` (Swagger 2.0) or ``components.securitySchemes`` (OpenAPI 3) entry with
  ``x-amazon-apigateway-authorizer`` becomes an authorizer (TOKEN, REQUEST or COGNITO_USER_POOLS; a
  TOKEN authorizer's identity source is its header, ``method.request.header.<name>``; TTL 300 unless
  given). Each method's ``security`` (or the document's) sets its ``authorizationType`` (``CUSTOM``,
  ``COGNITO_USER_POOLS``, ``AWS_IAM`` for an ``awsSigv4`` scheme, else ``NONE``), ``authorizerId`` and
  ``authorizationScopes``; an API key scheme sets ``apiKeyRequired``. ``mode=overwrite`` replaces the
  API's authorizers, ``merge`` keeps the others.
- HTTP APIs (``ImportApi``/``ReimportApi``, and the local CloudFormation's ``Body``): each
  ``components.securitySchemes`` entry with ``x-amazon-apigateway-authorizer`` becomes a ``JWT`` or a
  Lambda ``REQUEST`` authorizer; each route's ``security`` (or the document's) sets its
  ``authorizationType`` (``JWT``, ``CUSTOM`` or ``NONE``), ``authorizerId`` and ``authorizationScopes``.
- ``GET /v2/apis/{apiId}/authorizers`` (GetAuthorizers) answers the HTTP API's authorizers, and
  ``PUT /v2/apis`` (ImportApi, which moto lacks) creates an HTTP API from a body.

Authorizers are kept and readable, not enforced: requests through the local API Gateway
(``apigateway/invoke.py``) reach their integration whatever the authorizer would say.
"""

from __future__ import annotations

import json
from typing import Any

from stepdeploy_localcloud.patching import replace, wrap

AUTHORIZER = "x-amazon-apigateway-authorizer"
AUTH_TYPE = "x-amazon-apigateway-authtype"
DEFAULT_TTL = 300
REST_TYPES = {"token": "TOKEN", "request": "REQUEST", "cognito_user_pools": "COGNITO_USER_POOLS"}
HTTP_TYPES = {"jwt": "JWT", "request": "REQUEST"}


def _methods(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, METHOD, operation) for each operation of the document's paths."""
    found = []
    for path, item in (document.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if isinstance(operation, dict):
                found.append((path, method.upper(), operation))
    return found


def _requirement(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, list[str]]:
    """The first security requirement that applies to an operation (its own, else the document's)."""
    security = operation.get("security", document.get("security")) or []
    return dict(security[0]) if security and isinstance(security[0], dict) else {}


def _identity_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


# --- REST APIs ----------------------------------------------------------------------------------


def _rest_schemes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schemes = document.get("securityDefinitions") or (document.get("components") or {}).get("securitySchemes")
    return dict(schemes or {})


def _create_rest_authorizer(backend: Any, api_id: str, name: str, scheme: dict[str, Any]) -> Any:
    from moto.apigateway.exceptions import BadRequestException

    extension = scheme[AUTHORIZER]
    kind = REST_TYPES.get(str(extension.get("type", "")).lower())
    if kind is None:
        raise BadRequestException(
            f"Authorizer {name}: type {extension.get('type')!r} is not one of {', '.join(REST_TYPES)}"
        )
    identity = extension.get("identitySource")
    if identity is None and kind == "TOKEN" and scheme.get("in") == "header" and scheme.get("name"):
        identity = f"method.request.header.{scheme['name']}"
    authorizer = backend.create_authorizer(
        api_id,
        name,
        kind,
        provider_arns=extension.get("providerARNs"),
        auth_type=scheme.get(AUTH_TYPE),
        authorizer_uri=extension.get("authorizerUri"),
        authorizer_credentials=extension.get("authorizerCredentials"),
        identity_source=identity,
        authorizer_result_ttl=int(extension.get("authorizerResultTtlInSeconds", DEFAULT_TTL)),
    )
    # moto passes identityValidationExpression under a misspelt name, so it never lands.
    authorizer.identity_validation_expression = extension.get("identityValidationExpression")
    return authorizer


def _rest_method_auth(
    requirement: dict[str, list[str]], schemes: dict[str, dict[str, Any]], ids: dict[str, str]
) -> dict[str, Any]:
    auth: dict[str, Any] = {"authorization_type": "NONE", "authorizer_id": None, "authorization_scopes": None}
    auth["api_key_required"] = False
    for name, scopes in requirement.items():
        scheme = schemes.get(name) or {}
        if name in ids:
            kind = str(scheme[AUTHORIZER].get("type", "")).lower()
            auth["authorization_type"] = "COGNITO_USER_POOLS" if kind == "cognito_user_pools" else "CUSTOM"
            auth["authorizer_id"] = ids[name]
            auth["authorization_scopes"] = list(scopes) or None
        elif str(scheme.get(AUTH_TYPE, "")).lower() == "awssigv4":
            auth["authorization_type"] = "AWS_IAM"
        elif scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key":
            auth["api_key_required"] = True
    return auth


def keep_rest_authorizers(backend: Any, api_id: str, document: dict[str, Any], mode: str) -> None:
    """Create the document's authorizers on the REST API and set each imported method's authorization."""
    api = backend.get_rest_api(api_id)
    if mode == "overwrite":
        api.authorizers.clear()
    schemes = _rest_schemes(document)
    ids = {authorizer.name: authorizer.id for authorizer in api.authorizers.values()}
    for name, scheme in schemes.items():
        if isinstance(scheme, dict) and isinstance(scheme.get(AUTHORIZER), dict):
            if name in ids:
                api.authorizers.pop(ids[name], None)
            ids[name] = _create_rest_authorizer(backend, api_id, name, scheme).id
    for path, method_type, operation in _methods(document):
        resource = api.get_resource_for_path(path)
        method = resource.resource_methods.get(method_type) if resource is not None else None
        if method is None:
            continue
        for attribute, value in _rest_method_auth(_requirement(document, operation), schemes, ids).items():
            setattr(method, attribute, value)


def _put_rest_api(original: Any) -> Any:
    def put_rest_api(self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool,
                     mode: str = "merge") -> Any:
        api = original(self, function_id, api_doc, fail_on_warnings, mode)
        keep_rest_authorizers(self, function_id, api_doc, mode)
        return api

    return put_rest_api


# --- HTTP APIs ----------------------------------------------------------------------------------


def _http_authorizer_args(name: str, extension: dict[str, Any]) -> dict[str, Any]:
    from moto.apigatewayv2.exceptions import BadRequestException

    kind = HTTP_TYPES.get(str(extension.get("type", "")).lower())
    if kind is None:
        raise BadRequestException(
            f"Authorizer {name}: type {extension.get('type')!r} is not one of {', '.join(HTTP_TYPES)}"
        )
    ttl = extension.get("authorizerResultTtlInSeconds")
    return {
        "auth_creds_arn": extension.get("authorizerCredentials"),
        "auth_payload_format_version": extension.get("authorizerPayloadFormatVersion"),
        "auth_result_ttl": int(ttl) if ttl is not None else (None if kind == "JWT" else DEFAULT_TTL),
        "authorizer_type": kind,
        "authorizer_uri": extension.get("authorizerUri"),
        "enable_simple_response": extension.get("enableSimpleResponses"),
        "identity_source": _identity_list(extension.get("identitySource")),
        "identity_validation_expr": extension.get("identityValidationExpression"),
        "jwt_config": extension.get("jwtConfiguration"),
        "name": name,
    }


def keep_http_authorizers(api: Any, document: dict[str, Any]) -> None:
    """Create the document's authorizers on the HTTP API and set each imported route's authorization."""
    schemes = dict((document.get("components") or {}).get("securitySchemes") or {})
    ids: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for name, scheme in schemes.items():
        if isinstance(scheme, dict) and isinstance(scheme.get(AUTHORIZER), dict):
            authorizer = api.create_authorizer(**_http_authorizer_args(name, scheme[AUTHORIZER]))
            ids[name], kinds[name] = authorizer.id, authorizer.authorizer_type
    routes = {route.route_key: route for route in api.routes.values()}
    for path, method_type, operation in _methods(document):
        route = routes.get(f"{method_type} {path}")
        if route is None:
            continue
        route.authorization_type, route.authorizer_id, route.authorization_scopes = "NONE", None, []
        for name, scopes in _requirement(document, operation).items():
            if name in ids:
                route.authorization_type = "JWT" if kinds[name] == "JWT" else "CUSTOM"
                route.authorizer_id = ids[name]
                route.authorization_scopes = list(scopes)


def _import_api(original: Any) -> Any:
    def import_api(self: Any, body_str: str, fail_on_warnings: bool) -> None:
        import yaml

        original(self, body_str, fail_on_warnings)
        document = yaml.safe_load(body_str)
        if isinstance(document, dict):
            keep_http_authorizers(self, document)

    return import_api


def _get_authorizers_response(self: Any) -> tuple[int, dict[str, Any], str]:
    api_id = self.path.split("?", 1)[0].rstrip("/").split("/")[-2]
    api = self.apigatewayv2_backend.get_api(api_id)
    items = [{k: v for k, v in a.to_json().items() if v is not None} for a in api.authorizers.values()]
    return 200, {}, json.dumps({"items": items})


def _import_api_response(self: Any) -> tuple[int, dict[str, Any], str]:
    """ImportApi (moto has ReimportApi only): a new HTTP API named by the body's ``info.title``."""
    import yaml
    from moto.apigatewayv2.exceptions import BadRequestException

    body = json.loads(self.body or "{}").get("body")
    document = yaml.safe_load(body) if isinstance(body, str) else None
    title = ((document or {}).get("info") or {}).get("title") if isinstance(document, dict) else None
    if not title:
        raise BadRequestException("ImportApi: the body must be an OpenAPI 3 definition (JSON or YAML) with info.title")
    api = self.apigatewayv2_backend.create_api(
        api_key_selection_expression=None, cors_configuration=None, description=None,
        disable_schema_validation=None, disable_execute_api_endpoint=None, name=str(title),
        protocol_type="HTTP", route_selection_expression=None, tags=None, version=None,
    )
    api.import_api(body, str(self._get_param("failOnWarnings", "false")).lower() == "true")
    return 201, {}, json.dumps(api.to_json())


def apply() -> None:
    from moto.apigateway.models import APIGatewayBackend
    from moto.apigatewayv2.models import Api
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    wrap(APIGatewayBackend, "put_rest_api", _put_rest_api)
    wrap(Api, "import_api", _import_api)
    replace(ApiGatewayV2Response, "get_authorizers", _get_authorizers_response)
    replace(ApiGatewayV2Response, "import_api", _import_api_response)
