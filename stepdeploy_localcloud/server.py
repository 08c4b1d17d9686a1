"""The local cloud's one HTTP front: the AWS API, the GHE webhook and the GHE REST API on one port.

- ``/webhook``: the webhook Lambda's function URL. The raw request becomes a function URL event
  (payload format 2.0) for ``lambda_runtime.invoke``; the Lambda's result becomes the response.
- ``/api/v3/...``: the local GHE's REST API (``LocalGHE.api_app``).
- ``/_stepdeploy/faults``: Lambda faults injected from another process (``faults``).
- ``/_aws/execute-api/<api id>/...``: requests through a deployed REST or HTTP API
  (``apigateway.invoke``).
- ``/_aws/lambda-url/<function name>[:<alias>]/...``: the function's own URL or its alias's (auth type
  NONE; the function name alone also reaches its only URL when that is an alias's), which invokes the
  URL's qualifier (an alias: its weights pick the version) or the unqualified function.
- ``/_localcloud``: where this local cloud keeps its GHE (``ghe_root``), so that ``stepdeploy local push``
  works from any directory with only the endpoint URL.
- any prefix given to ``LocalServer.mount`` (``stepdeploy local up`` mounts its dashboard at ``/dashboard``).
- everything else: moto's server app, so any boto3 client works with ``endpoint_url``. A service or
  action moto does not emulate (moto answers an HTML 404/500 or raises) answers a JSON error naming
  the service and the action instead, which any AWS SDK reads as an error code and message.

A request signed for AWS (SigV4 header or presigned query) always goes to moto, so an S3 bucket
named ``webhook`` or ``api`` still works path-style.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from stepdeploy_localcloud import endpoint, faults
from stepdeploy_localcloud.apigateway import invoke as execute_api

if TYPE_CHECKING:
    from stepdeploy_localcloud.ghe.server import LocalGHE

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
FUNCTION_URL_PATH = "/_aws/lambda-url/"
GHE_API_PATH = "/api/v3"
INFO_PATH = "/_localcloud"
# Function URLs take at most 6 MB of request (the invoke payload limit).
MAX_FUNCTION_URL_PAYLOAD = 6 * 1024 * 1024

# Content types a function URL passes as text; any other body arrives base64-encoded.
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/x-javascript")

Invoker = Callable[[str, dict[str, Any]], Any]


class LambdaInvokeFailed(Exception):
    """The function ran and failed (FunctionError), or could not be invoked at all."""


def _default_invoke(function_name: str, payload: dict[str, Any]) -> Any:
    from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

    return lambda_runtime.invoke(function_name, json.dumps(payload).encode())


def _is_text(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return (
        not mime or mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+json") or mime.endswith("+xml")
    )


def _url_id(function_name: str) -> str:
    """A stable 32-character id in the shape of a function URL's ``<url-id>``."""
    digest = hashlib.sha256(f"{endpoint.ACCOUNT_ID}:{function_name}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:32]


def function_url_event(request: Request, raw_path: str, function_name: str) -> dict[str, Any]:
    """The event a Lambda function URL (auth type NONE) builds from ``request``."""
    body = request.get_data(cache=True)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    source_ip = request.remote_addr or "127.0.0.1"
    headers.setdefault("x-forwarded-for", source_ip)
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-forwarded-port", str(request.environ.get("SERVER_PORT", "")))
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    url_id = _url_id(function_name)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
    }
    if cookies:
        event["cookies"] = cookies
    if request.args:
        event["queryStringParameters"] = {k: ",".join(request.args.getlist(k)) for k in request.args}
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": url_id,
        "domainName": f"{url_id}.lambda-url.{endpoint.REGION}.on.aws",
        "domainPrefix": url_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": source_ip,
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if body:
        text = _is_text(request.headers.get("Content-Type", ""))
        if text:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                text = False
        if not text:
            event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = not text
    else:
        event["isBase64Encoded"] = False
    return event


def _lambda_result(outcome: Any) -> Any:
    """The function's returned value from what the invoker gave back.

    Accepts ``lambda_runtime.InvokeResult`` (``payload``/``function_error``), boto3's invoke shape
    (``Payload``/``FunctionError``) or the returned value itself; raises LambdaInvokeFailed on a
    function error.
    """
    if isinstance(outcome, dict) and "Payload" in outcome and "StatusCode" in outcome:
        if outcome.get("FunctionError"):
            raise LambdaInvokeFailed(f"{outcome['FunctionError']}: {_decode_payload(outcome['Payload'])}")
        return _decode_payload(outcome["Payload"])
    if hasattr(outcome, "function_error") and hasattr(outcome, "payload"):
        if outcome.function_error:
            raise LambdaInvokeFailed(f"{outcome.function_error}: {_decode_payload(outcome.payload)}")
        return _decode_payload(outcome.payload)
    if isinstance(outcome, bytes | bytearray):
        return _decode_payload(outcome)
    return outcome


def _decode_payload(payload: Any) -> Any:
    if hasattr(payload, "read"):
        payload = payload.read()
    if isinstance(payload, bytes | bytearray):
        payload = payload.decode("utf-8")
    if isinstance(payload, str):
        try:
            return json.loads(payload) if payload else None
        except ValueError:
            return payload
    return payload


def function_url_response(result: Any) -> Response:
    """The HTTP response a function URL makes of the function's returned value."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return Response(json.dumps(result), status=200, content_type="application/json")
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise LambdaInvokeFailed(f"invalid statusCode {status!r} in the function's response: expected 100-599")
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    else:
        data = json.dumps(body).encode()
    response = Response(data, status=status)
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


def service_exception(exc: Exception) -> Response:
    """An internal failure as AWS answers one: 500, an error type and a request id.

    Without the request id (werkzeug's plain 500 page), callers that read
    ``ResponseMetadata.RequestId`` of an error fail on the error itself: the ASL interpreter's
    Lambda task raised ``KeyError('RequestId')`` instead of ``Lambda.ServiceException``, which
    the orchestrator's Retry handles.
    """
    request_id = str(uuid.uuid4())
    message = f"The local cloud failed on this request: {type(exc).__name__}: {exc}"
    return Response(
        json.dumps({"__type": "ServiceException", "Type": "Service", "message": message, "Message": message}),
        status=500,
        content_type="application/json",
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": "ServiceException"},
    )


def _aws_signed(environ: dict[str, Any]) -> bool:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = environ.get("QUERY_STRING", "")
    return auth.startswith(("AWS4-HMAC-SHA256", "AWS ")) or "X-Amz-Signature=" in query or "Signature=" in query


_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
NOT_EMULATED_TYPE = "NotImplementedByLocalCloud"


def _service_and_action(environ: dict[str, Any]) -> tuple[str, str]:
    """The service (its signing name) and the action a request asks for, as far as the request says."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    scope = _CREDENTIAL_SCOPE.search(auth) or _CREDENTIAL_SCOPE.search(
        "Credential=" + (query.get("X-Amz-Credential") or [""])[0]
    )
    service = scope["service"] if scope else environ.get("HTTP_HOST", "").split(".")[0] or "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif query.get("Action"):
        action = query["Action"][0]
    else:
        action = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
    return service, action


def not_emulated_response(environ: dict[str, Any], detail: str) -> Response:
    service, action = _service_and_action(environ)
    message = (
        f"The local cloud does not emulate {service} {action} ({detail}); "
        "docs/local-cloud.md lists what it emulates"
    )
    return Response(
        json.dumps({"__type": NOT_EMULATED_TYPE, "message": message}),
        status=501,
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-ErrorType": NOT_EMULATED_TYPE},
    )


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class LocalServer:
    """One threaded werkzeug server for moto, the webhook function URL and the GHE API."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, log_requests: bool = False) -> None:
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._webhook_function: str | None = None
        self._ghe: LocalGHE | None = None
        self._moto_app: Any = None
        self._mounts: dict[str, Any] = {}
        self.invoke: Invoker = _default_invoke

    # ----- configuration

    def set_webhook_function(self, name: str | None) -> None:
        self._webhook_function = name

    @property
    def webhook_function(self) -> str | None:
        return self._webhook_function

    def set_ghe(self, ghe: LocalGHE | None) -> None:
        self._ghe = ghe

    @property
    def ghe(self) -> LocalGHE | None:
        return self._ghe

    def mount(self, prefix: str, app: Any) -> None:
        """Serve the WSGI ``app`` under ``prefix`` (e.g. ``/dashboard``) for requests not signed for AWS."""
        if not prefix.startswith("/") or prefix.endswith("/") or _under(prefix, WEBHOOK_PATH) or _under(
            prefix, GHE_API_PATH
        ):
            raise ValueError(f"mount prefix {prefix!r}: expected a path like /dashboard, not /webhook or /api/v3")
        self._mounts[prefix] = app

    # ----- lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local server is not started: call start() first")
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def start(self) -> str:
        if self._server is not None:
            return self.url
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        log_requests = self.log_requests

        class RequestHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if log_requests:
                    super().log_request(code, size)

        from stepdeploy_localcloud.core import patch as core

        core.apply()  # many threads serve the first requests to a service at once
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.port, self, threaded=True, request_handler=RequestHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-cloud-server", daemon=True)
        self._thread.start()
        endpoint.set_endpoint_url(self.url)
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def wait(self) -> None:
        """Block until the server stops (``stepdeploy local up`` in the foreground)."""
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(timeout=0.5)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not _aws_signed(environ):
            if _under(path, WEBHOOK_PATH):
                return self._webhook(environ, start_response)
            if _under(path, GHE_API_PATH):
                return self._ghe_api(environ, start_response)
            if _under(path, faults.FAULTS_PATH):
                return faults.app(environ, start_response)
            if path.startswith(execute_api.PATH_PREFIX):
                return execute_api.wsgi_app(environ, start_response)
            if path.startswith(FUNCTION_URL_PATH):
                return self.handle_function_url(Request(environ))(environ, start_response)
            if path == INFO_PATH:
                return self._info(environ, start_response)
            for prefix, app in self._mounts.items():
                if _under(path, prefix):
                    environ = dict(environ)
                    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                    environ["PATH_INFO"] = path[len(prefix) :]
                    return app(environ, start_response)  # type: ignore[no-any-return]
        return self._moto(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """moto's answer; a failure inside it answers as AWS answers an internal failure (500 with a request
        id), and an HTML error page (no route: not emulated) a JSON error naming the service and action."""
        captured: list[tuple[str, list[tuple[str, str]], Any]] = []
        passthrough = False

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if passthrough:
                return start_response(status, headers, exc_info)
            captured.append((status, headers, exc_info))
            return lambda data: None  # werkzeug applications never use write()

        find_backend = getattr(self._moto_app, "get_application", None)
        try:
            if find_backend is not None:
                find_backend(environ)  # moto has no backend for the service: not emulated
        except Exception as exc:  # noqa: BLE001 - moto raises whatever its lookup met
            log.info("not emulated: %s", exc)
            return not_emulated_response(environ, f"{type(exc).__name__}: {exc}")(environ, start_response)
        try:
            body = self._moto_app(environ, capture)
        except Exception as exc:  # noqa: BLE001 - answered as AWS answers an internal failure
            log.exception("the AWS API failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return service_exception(exc)(environ, start_response)
        if not captured:  # an application that starts its response lazily: nothing to look at
            passthrough = True
            return body
        status, headers, exc_info = captured[-1]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status[:3] in ("404", "405", "500", "501") and content_type.startswith("text/html"):
            # werkzeug's error page (moto has no route, or raised); an empty HEAD answer is S3's own 404
            data = b"".join(body)
            close = getattr(body, "close", None)
            if close is not None:
                close()
            if data.lstrip().lower().startswith(b"<!doctype html"):
                return not_emulated_response(environ, f"moto answered {status}")(environ, start_response)
            body = [data]
        start_response(status, headers, exc_info)
        return body

    def _info(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        info = {"endpoint_url": self.url, "ghe_root": str(self._ghe.root) if self._ghe is not None else None}
        return Response(json.dumps(info), content_type="application/json")(environ, start_response)

    def _ghe_api(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self._ghe is None:
            response = Response(
                json.dumps({"message": "no local GHE is attached to this server (LocalServer.set_ghe)"}),
                status=503,
                content_type="application/json",
            )
            return response(environ, start_response)
        environ = dict(environ)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + GHE_API_PATH
        environ["PATH_INFO"] = environ["PATH_INFO"][len(GHE_API_PATH) :] or "/"
        return self._ghe.api_app(environ, start_response)

    def _webhook(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle_webhook(Request(environ))(environ, start_response)

    def handle_function_url(self, request: Request) -> Response:
        from stepdeploy_localcloud import backends
        from stepdeploy_localcloud.awslambda import function_urls

        name, _, rest = request.path[len(FUNCTION_URL_PATH) :].partition("/")
        lam = backends.backend("lambda", endpoint.ACCOUNT_ID, endpoint.REGION)
        url = function_urls.url_for(lam, name)
        if url is None:
            message = json.dumps(
                {"Message": f"no function URL for {name} (a function's own URL: <name>; an alias's: <name>:<alias>)"}
            )
            return Response(message, 404, content_type="application/json")
        qualifier = getattr(url, "qualifier", None)
        function_name = name.partition(":")[0]
        return self._invoke_as_url(request, f"{function_name}:{qualifier}" if qualifier else function_name, "/" + rest)

    def handle_webhook(self, request: Request) -> Response:
        function_name = self._webhook_function
        if function_name is None:
            return Response(
                json.dumps(
                    {
                        "Message": "no webhook function is deployed yet: deploy the stack, then "
                        "LocalServer.set_webhook_function(<function name>)"
                    }
                ),
                status=503,
                content_type="application/json",
            )
        return self._invoke_as_url(request, function_name, request.path[len(WEBHOOK_PATH) :] or "/")

    def _invoke_as_url(self, request: Request, function_name: str, raw_path: str) -> Response:
        event = function_url_event(request, raw_path, function_name)
        if len(json.dumps(event)) > MAX_FUNCTION_URL_PAYLOAD:
            return Response(
                json.dumps(
                    {
                        "Message": f"Request must be smaller than {MAX_FUNCTION_URL_PAYLOAD} bytes "
                        "for the InvokeFunction operation"
                    }
                ),
                status=413,
                content_type="application/json",
            )
        try:
            result = _lambda_result(self.invoke(function_name, event))
            return function_url_response(result)
        except Exception as exc:  # a function URL answers 502 whatever went wrong in the function
            log.warning("webhook function %s failed: %s", function_name, exc)
            return Response(
                json.dumps({"Message": "Internal Server Error"}),
                status=502,
                content_type="application/json",
                headers={"x-amzn-ErrorType": "LambdaFunctionError"},
            )
