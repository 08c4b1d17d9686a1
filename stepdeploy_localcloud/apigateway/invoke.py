"""Emulator: HTTP requests through a deployed REST API or HTTP API reach the Lambda its integration names.

moto 5.2.5 stores API Gateway's resources, methods, routes and integrations but never calls one.
Here a request to

    http://127.0.0.1:<port>/_aws/execute-api/<api id>/<stage>/<path>      (REST API, HTTP API stage)
    http://127.0.0.1:<port>/_aws/execute-api/<api id>/<path>              (HTTP API $default stage)

stands for ``https://<api id>.execute-api.<region>.amazonaws.com/<stage>/<path>``: the method or route
that matches (``{param}``, ``{proxy+}``, ``ANY``, ``$default``) is found, its Lambda proxy
integration's URI gives the function ARN, qualifier included (``...:function:name:live``), and the
local Lambda runtime invokes exactly that, so an alias's routing weights decide the version per
request. The event is the proxy event (REST: payload 1.0; HTTP API: its integration's
``payloadFormatVersion``, 2.0 by default); the function's result becomes the HTTP response.

What it does not do, by name: authorizers (``authorizers.py`` keeps them; none is called here),
request validation, mapping templates of non-proxy integrations (they answer 500 ``Integration
type <type> is not emulated``), usage plans, and
resource-policy or Lambda-permission checks.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from stepdeploy_localcloud import backends, endpoint

PATH_PREFIX = "/_aws/execute-api/"
_FUNCTION_IN_URI = re.compile(r"(?:^|/functions/)(arn:aws[a-z-]*:lambda:[^/]+?)(?:/invocations)?$")


@dataclass(frozen=True)
class Match:
    function: str
    """The Lambda ARN the integration names, qualifier included."""
    payload_version: str
    resource: str
    """REST: the resource path template; HTTP API: the route key."""
    path_parameters: dict[str, str]
    stage: str
    api_id: str
    http_api: bool


class NotFound(Exception):
    pass


def function_of(uri: Any) -> str | None:
    """The Lambda ARN in an integration URI (``arn:aws:apigateway:...:lambda:path/.../functions/<arn>/invocations``)."""
    if not isinstance(uri, str):
        return None
    match = _FUNCTION_IN_URI.search(uri)
    return match.group(1) if match else None


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("+}"):
            pattern += f"(?P<{_group(part[1:-2])}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            pattern += f"(?P<{_group(part[1:-1])}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$")


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _parameters(match: re.Match[str], template: str) -> dict[str, str]:
    names = [n.rstrip("+") for n in re.findall(r"\{([^}]+)\}", template)]
    return {name: match.group(_group(name)) for name in names}


def _specificity(template: str) -> tuple[int, int]:
    """More literal text first; a greedy {proxy+} last."""
    return ("+}" in template, -len(re.sub(r"\{[^}]+\}", "", template)))  # type: ignore[return-value]


def match_rest(api_id: str, stage: str, path: str, method: str) -> Match:
    backend = backends.backend("apigateway", endpoint.ACCOUNT_ID, endpoint.REGION)
    api = backend.apis.get(api_id)
    if api is None or stage not in api.stages:
        raise NotFound(f"REST API {api_id} has no stage {stage!r}")
    candidates = sorted(api.resources.values(), key=lambda r: _specificity(r.get_path()))
    for resource in candidates:
        template = resource.get_path()
        found = _template_regex(template).match(path)
        if not found:
            continue
        methods = resource.resource_methods
        chosen = methods.get(method) or methods.get("ANY")
        if chosen is None:
            continue
        integration = chosen.method_integration
        if integration is None:
            raise NotFound(f"{method} {template} of REST API {api_id} has no integration")
        if str(integration.integration_type).upper() != "AWS_PROXY":
            raise NotImplementedError(f"Integration type {integration.integration_type} is not emulated")
        function = function_of(integration.uri)
        if function is None:
            raise NotImplementedError(f"integration URI {integration.uri!r} names no Lambda function")
        return Match(function, "1.0", template, _parameters(found, template), stage, api_id, False)
    raise NotFound(f"no resource of REST API {api_id} matches {method} {path}")


def match_http(api_id: str, path: str, method: str) -> Match:
    backend = backends.backend("apigatewayv2", endpoint.ACCOUNT_ID, endpoint.REGION)
    api = backend.apis.get(api_id)
    if api is None:
        raise NotFound(f"HTTP API {api_id} does not exist")
    stage = "$default"
    first, _, rest = path.lstrip("/").partition("/")
    if first and first in api.stages and first != "$default":
        stage, path = first, "/" + rest
    routes = {route.route_key: route for route in api.routes.values()}
    ordered = sorted(
        (key for key in routes if key != "$default"), key=lambda k: _specificity(k.split(" ", 1)[-1])
    )
    for key in [*ordered, "$default"]:
        if key not in routes:
            continue
        route_method, _, template = key.partition(" ") if key != "$default" else ("ANY", "", "")
        parameters: dict[str, str] = {}
        if key != "$default":
            found = _template_regex(template).match(path)
            if not found or route_method not in (method, "ANY"):
                continue
            parameters = _parameters(found, template)
        target = str(routes[key].target or "")
        integration = api.integrations.get(target.removeprefix("integrations/"))
        if integration is None:
            raise NotFound(f"route {key} of HTTP API {api_id} has no integration")
        function = function_of(integration.integration_uri)
        if function is None:
            raise NotImplementedError(f"integration URI {integration.integration_uri!r} names no Lambda function")
        version = str(integration.payload_format_version or "2.0")
        return Match(function, version, key, parameters, stage, api_id, True)
    raise NotFound(f"no route of HTTP API {api_id} matches {method} {path}")


def resolve(path_info: str, method: str) -> tuple[Match, str]:
    """The integration a request under PATH_PREFIX reaches, and the path the API sees."""
    rest = path_info[len(PATH_PREFIX) :]
    api_id, _, remainder = rest.partition("/")
    remainder = "/" + remainder
    v2 = backends.backend("apigatewayv2", endpoint.ACCOUNT_ID, endpoint.REGION)
    if api_id in v2.apis:
        match = match_http(api_id, remainder, method)
        path = remainder if match.stage == "$default" else "/" + remainder.lstrip("/").partition("/")[2]
        return match, path
    stage, _, path = remainder.lstrip("/").partition("/")
    return match_rest(api_id, stage, "/" + path, method), "/" + path


def _body(request: Request) -> tuple[str | None, bool]:
    data = request.get_data(cache=True)
    if not data:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def proxy_event(request: Request, match: Match, path: str) -> dict[str, Any]:
    body, encoded = _body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = {k: request.args.getlist(k) for k in request.args}
    now = time.time()
    context: dict[str, Any] = {
        "accountId": endpoint.ACCOUNT_ID,
        "apiId": match.api_id,
        "domainName": f"{match.api_id}.execute-api.{endpoint.REGION}.amazonaws.com",
        "requestId": str(uuid.uuid4()),
        "stage": match.stage,
        "requestTimeEpoch": int(now * 1000),
    }
    if match.payload_version == "2.0":
        context.update(
            http={"method": request.method, "path": path, "protocol": "HTTP/1.1",
                  "sourceIp": request.remote_addr or "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            routeKey=match.resource,
            timeEpoch=int(now * 1000),
        )
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": match.resource,
            "rawPath": path,
            "rawQueryString": request.query_string.decode("latin-1"),
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": encoded,
        }
        if query:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
        if match.path_parameters:
            event["pathParameters"] = match.path_parameters
        if body is not None:
            event["body"] = body
        return event
    context.update(httpMethod=request.method, path=f"/{match.stage}{path}", resourcePath=match.resource,
                   identity={"sourceIp": request.remote_addr or "127.0.0.1"})
    return {
        "resource": match.resource,
        "path": path,
        "httpMethod": request.method,
        "headers": dict(request.headers.items()),
        "multiValueHeaders": {k: request.headers.getlist(k) for k in request.headers.keys()},  # noqa: SIM118
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    }


def proxy_response(payload: bytes, function_error: str | None, http_api: bool) -> Response:
    headers: dict[str, str] = {}
    if function_error:
        return Response(json.dumps({"message": "Internal server error"}), 502, headers, content_type="application/json")
    try:
        result = json.loads(payload or b"null")
    except ValueError:
        return Response(json.dumps({"message": "Internal server error"}), 502, headers, content_type="application/json")
    if http_api and not (isinstance(result, dict) and "statusCode" in result):
        # Payload 2.0: anything but a {statusCode, ...} object is the JSON body of a 200.
        return Response(json.dumps(result), 200, headers, content_type="application/json")
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps({"message": "Internal server error"}), 502, headers, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(data, int(result["statusCode"]), headers, content_type="application/json")
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    return response


def handle(request: Request) -> Response:
    """Answer one request under PATH_PREFIX as API Gateway would."""
    from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

    try:
        match, path = resolve(request.path, request.method)
    except NotFound as exc:
        return Response(json.dumps({"message": "Not Found", "detail": str(exc)}), 404, content_type="application/json")
    except NotImplementedError as exc:
        return Response(json.dumps({"message": str(exc)}), 500, content_type="application/json")
    event = proxy_event(request, match, path)
    try:
        result = lambda_runtime.invoke(match.function, json.dumps(event).encode())
    except Exception as exc:  # noqa: BLE001 - API Gateway answers 500 whatever the invoke error
        return Response(json.dumps({"message": "Internal server error", "detail": str(exc)}), 500,
                        content_type="application/json")
    return proxy_response(result.payload, result.function_error, match.http_api)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
    """``handle`` as a WSGI application (what the local cloud's server mounts under PATH_PREFIX)."""
    return handle(Request(environ))(environ, start_response)
