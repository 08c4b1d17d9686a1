"""``/_stepdeploy/faults``: inject Lambda faults into a running local cloud from another process.

``stepdeploy local fault`` uses it, so that an operator can rehearse a failure and its redrive from
another terminal while ``stepdeploy local up`` runs. The faults are the local Lambda runtime's
(``awslambda.runtime.inject_fault``): the next N invocations of a function fail in the way asked.

- ``GET``: the faults still to happen, by function.
- ``POST`` ``{"function": NAME, "kind": KIND, "error_type": TYPE, "times": N}``: queue N faults.
  ``function`` is a Lambda function name or ARN of this local cloud; ``kind`` one of
  ``unhandled`` (the default: the handler raises ``error_type``, default "InjectedFault"),
  ``service_error``, ``throttle`` or ``timeout``; ``times`` at least 1 (default 1).
- ``DELETE``: clear every fault still to happen.

Bad input answers 400 (404 for a function the local cloud does not have) with a message naming
what was wrong and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION

FAULTS_PATH = "/_stepdeploy/faults"
DEFAULT_ERROR_TYPE = "InjectedFault"


class FaultRequestError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")


def _pending() -> dict[str, list[dict[str, str]]]:
    from stepdeploy_localcloud.awslambda import runtime

    return {
        name: [{"kind": kind, "error_type": error_type} for kind, error_type in queued]
        for name, queued in runtime.pending_faults().items()
    }


def function_names() -> list[str]:
    """Every function of the local cloud's account and region, by name."""
    lambdas = backends.backend("lambda", ACCOUNT_ID, REGION)
    return sorted({fn.function_name for fn in lambdas.list_functions()})


def resolve_function(name_or_arn: str) -> str:
    """The function's name, from its name or ARN; FaultRequestError (404) naming the known ones."""
    from moto.awslambda.exceptions import UnknownFunctionException

    try:
        return str(backends.backend("lambda", ACCOUNT_ID, REGION).get_function(name_or_arn).function_name)
    except UnknownFunctionException:
        known = function_names()
        raise FaultRequestError(
            f"the local cloud has no Lambda function {name_or_arn!r}; expected one of: "
            + (", ".join(known) if known else "(none deployed yet)"),
            status=404,
        ) from None


def parse_fault(body: Any) -> tuple[str, str, str, int]:
    """(function, kind, error type, times) from a POST body; FaultRequestError on bad input."""
    from stepdeploy_localcloud.awslambda.runtime import FAULT_KINDS

    if not isinstance(body, dict):
        raise FaultRequestError('expected a JSON object: {"function": NAME, "kind": KIND, "times": N}')
    unknown = sorted(set(body) - {"function", "kind", "error_type", "times"})
    if unknown:
        raise FaultRequestError(f"unknown field(s) {', '.join(unknown)}; expected function, kind, error_type, times")
    function = body.get("function")
    if not isinstance(function, str) or not function:
        raise FaultRequestError(f"function must be a Lambda function name or ARN, got {function!r}")
    kind = body.get("kind", "unhandled")
    if kind not in FAULT_KINDS:
        raise FaultRequestError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    error_type = body.get("error_type", DEFAULT_ERROR_TYPE)
    if not isinstance(error_type, str) or not error_type.strip():
        raise FaultRequestError(f"error_type must be an error name such as BuildFailed, got {error_type!r}")
    if kind != "unhandled" and "error_type" in body:
        raise FaultRequestError(f"error_type applies to kind unhandled only; kind {kind} fails in its own way")
    times = body.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise FaultRequestError(f"times must be a whole number of at least 1, got {times!r}")
    return function, kind, error_type.strip(), times


def handle(request: Request) -> Response:
    from stepdeploy_localcloud.awslambda import runtime

    try:
        if request.method == "GET":
            return _json({"faults": _pending()})
        if request.method == "DELETE":
            cleared = sum(len(queued) for queued in _pending().values())
            runtime.clear_faults()
            return _json({"cleared": cleared, "faults": {}})
        if request.method == "POST":
            try:
                body = json.loads(request.get_data(cache=False) or b"null")
            except ValueError as exc:
                raise FaultRequestError(f"the body is not JSON ({exc})") from None
            function, kind, error_type, times = parse_fault(body)
            name = resolve_function(function)
            runtime.inject_fault(name, kind, times, error_type=error_type)  # type: ignore[arg-type]
            return _json({"function": name, "kind": kind, "error_type": error_type if kind == "unhandled" else None,
                          "times": times, "faults": _pending()}, status=201)
        response = _json({"message": f"{request.method} is not allowed on {FAULTS_PATH}: use GET, POST or DELETE"},
                         status=405)
        response.headers["Allow"] = "GET, POST, DELETE"
        return response
    except FaultRequestError as exc:
        return _json({"message": str(exc)}, status=exc.status)


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    return handle(Request(environ))(environ, start_response)  # type: ignore[no-any-return]
