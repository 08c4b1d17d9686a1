"""`stepdeploy local fault`: make a function of a running `local up` fail, from another terminal.

For rehearsing a failure and its recovery (docs/local-cloud.md): the next N invocations of the
function fail as asked, then it works again. The running local cloud keeps the faults
(``/_stepdeploy/faults`` on its port); this command only asks for them.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import boto3
import requests
import typer
from rich.console import Console

from stepdeploy_cli.errors import CliError

FAULTS_PATH = "/_stepdeploy/faults"
KINDS = ("unhandled", "service_error", "throttle", "timeout")
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
console = Console(highlight=False)


def logical_id(task: str) -> str:
    """``create_change_set`` (a folder of functions/) -> ``CreateChangeSetFunction`` (its logical id)."""
    return "".join(part.capitalize() for part in task.split("_")) + "Function"


def stack_functions(endpoint: str, stack: str) -> dict[str, str]:
    """Logical id -> function name of the orchestrator stack's functions ({} when it cannot be read)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    try:
        resources = session.client("cloudformation", endpoint_url=endpoint).describe_stack_resources(
            StackName=stack)["StackResources"]
    except Exception:  # noqa: BLE001 - the server then judges the name as given
        return {}
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
            if r.get("ResourceType") == "AWS::Lambda::Function" and r.get("PhysicalResourceId")}


def function_name(given: str, functions: dict[str, str]) -> str:
    """The function's name from its name, its logical id in the stack, or its folder under functions/."""
    if given in functions.values() or given.startswith("arn:"):
        return given
    if given in functions:
        return functions[given]
    if _TASK_NAME.match(given) and logical_id(given) in functions:
        return functions[logical_id(given)]
    return given  # the local cloud says whether it has such a function


def _request(method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = requests.request(method, url, timeout=30, **kwargs)
    except requests.ConnectionError:
        base = url.rsplit(FAULTS_PATH, 1)[0]
        raise CliError(
            f"no local cloud answers at {base}; start it with `stepdeploy local up` (or give its --port)"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text}
    if response.status_code >= 400:
        raise CliError(str(body.get("message") or body))
    return body


def _describe(faults: dict[str, list[dict[str, str]]]) -> list[str]:
    lines = []
    for name, queued in sorted(faults.items()):
        kinds = ", ".join(f["error_type"] if f["kind"] == "unhandled" else f["kind"] for f in queued)
        lines.append(f"{name}: the next {len(queued)} invocation(s) fail ({kinds})")
    return lines or ["no faults pending"]


def _show(answer: dict[str, Any], json_output: bool, lines: list[str]) -> None:
    if json_output:
        print(json.dumps(answer))
    else:
        console.print("\n".join(lines), markup=False)


def fault(
    function: Annotated[str | None, typer.Argument(
        help="The function: its name, its logical id (CreateChangeSetFunction) or its folder (create_change_set). "
             "Without it, the faults still pending are listed.")] = None,
    error: Annotated[str | None, typer.Option(
        "--error", help="The error the handler raises (the state sees it as the error name). Default InjectedFault."
    )] = None,
    kind: Annotated[str, typer.Option(
        help="unhandled (the handler raises --error), service_error (Lambda.ServiceException), throttle "
             "(Lambda.TooManyRequestsException) or timeout (Sandbox.Timedout).")] = "unhandled",
    times: Annotated[int, typer.Option(help="How many invocations in a row fail.")] = 1,
    clear: Annotated[bool, typer.Option("--clear", help="Clear every fault still pending.")] = False,
    port: Annotated[int, typer.Option(help="Port of `stepdeploy local up`.")] = 4566,
    stack: Annotated[str, typer.Option(help="The orchestrator's stack on the local cloud.")] = "stepdeploy",
    json_output: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Make the next N invocations of FUNCTION on a running `local up` fail (--clear: clear them)."""
    endpoint = f"http://127.0.0.1:{port}"
    url = endpoint + FAULTS_PATH
    if clear:
        if function is not None or error is not None:
            raise CliError("--clear clears every pending fault: give it without FUNCTION or --error")
        answer = _request("DELETE", url)
        _show(answer, json_output, [f"cleared {answer['cleared']} pending fault(s)"])
        return
    if function is None:
        if error is not None:
            raise CliError("--error needs the FUNCTION that should raise it")
        answer = _request("GET", url)
        _show(answer, json_output, _describe(answer["faults"]))
        return
    if kind not in KINDS:
        raise CliError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if error is not None and kind != "unhandled":
        raise CliError(f"--error names the error an unhandled fault raises; --kind {kind} fails in its own way")
    if times < 1:
        raise CliError(f"--times must be at least 1, got {times}")
    body: dict[str, Any] = {"function": function_name(function, stack_functions(endpoint, stack)),
                            "kind": kind, "times": times}
    if error is not None:
        body["error_type"] = error
    answer = _request("POST", url, json=body)
    how = answer["error_type"] if kind == "unhandled" else kind
    _show(answer, json_output, [f"the next {times} invocation(s) of {answer['function']} fail with {how}"])
