"""One Lambda execution environment: a warm Python process that runs a function's handler.

Started by runtime.py as ``pythonX.Y -I -S <this file> <result fd>`` (the interpreter of the function's
runtime, no site-packages) with the function's code directory as working directory and the function's
environment. Standard library only, compatible with every Python Lambda runs (3.9+), and run by path
rather than with ``-m``: the handler's own packages (even one named ``stepdeploy``) must win over this
project's, as /var/task does on AWS. sys.path is laid out as on AWS: the entries of PYTHONPATH (the code,
then the layers) first, then the standard library, then LAMBDA_RUNTIME_DIR (boto3 and botocore).

Protocol (all JSON lines):
- requests arrive on the original stdin, which is then pointed at /dev/null for the handler;
- each reply goes to the result fd, a pipe the handler never sees;
- the handler's stdout and stderr (one pipe) end each invocation with END_MARKER + request id,
  so the parent can tell which log lines belong to which invocation.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

END_MARKER = "\x1fSTEPDEPLOY-LAMBDA-END "


class LambdaContext:
    """The context object of the AWS Python runtime (the attributes handlers and powertools read)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id: str = request["request_id"]
        self.function_name: str = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: str = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = request.get("client_context")
        self._deadline_ms: int = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class HandlerError(Exception):
    """An error of the runtime itself (import, handler lookup), reported as AWS names it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler: str) -> Any:
    try:
        module_path, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise HandlerError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from None
    except ImportError as exc:
        raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    function = getattr(module, function_name, None)
    if function is None:
        raise HandlerError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return function


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(exc, HandlerError):
        return {"errorMessage": str(exc), "errorType": exc.error_type, "requestId": request_id, "stackTrace": []}
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop this runtime's own frame
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def run_one(request: dict[str, Any], handler_cache: dict[str, Any]) -> dict[str, Any]:
    request_id = request["request_id"]
    try:
        if "handler" not in handler_cache:
            handler_cache["handler"] = load_handler(os.environ.get("_HANDLER", ""))
        event = json.loads(request["event"])
        result = handler_cache["handler"](event, LambdaContext(request))
    except Exception as exc:
        error = error_payload(exc, request_id)
        # The AWS runtime logs an unhandled error like this before answering.
        print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
        if not isinstance(exc, HandlerError):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return {"request_id": request_id, "error": error}
    try:
        payload = json.dumps(result)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        print(f"[ERROR] Runtime.MarshalError: {message}", file=sys.stderr)
        error = {
            "errorMessage": message,
            "errorType": "Runtime.MarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }
        return {"request_id": request_id, "error": error}
    return {"request_id": request_id, "payload": payload}


def set_path() -> None:
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "")
    front = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != runtime_dir]
    sys.path[:0] = front
    if runtime_dir:
        sys.path.append(runtime_dir)


def main() -> None:
    set_path()
    result_fd = int(sys.argv[1])
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    handler_cache: dict[str, Any] = {}
    for line in iter(requests.readline, b""):
        request = json.loads(line)
        reply = run_one(request, handler_cache)
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(1, f"\n{END_MARKER}{request['request_id']}\n".encode())
        data = (json.dumps(reply) + "\n").encode()
        while data:
            data = data[os.write(result_fd, data) :]


if __name__ == "__main__":
    main()
