"""The Step Functions API responses where moto's differ from AWS's.

- DescribeExecution: output is JSON also for a plain string (moto returns ``big`` for
  ``"big"``); redriveCount/redriveStatus/redriveStatusReason/redriveDate; stopDate also for
  TIMED_OUT; error and cause of an aborted execution.
- ListExecutions: redriveCount/redriveDate and stopDate of every closed execution.
- GetExecutionHistory: reverseOrder, maxResults/nextToken pagination, includeExecutionData.
- SendTaskFailure: keeps ``cause`` (moto drops it).
- StopExecution: honours error and cause and really stops (see lifecycle).
- RedriveExecution: implemented (see redrive).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from stepdeploy_localcloud.patching import original, replace
from stepdeploy_localcloud.stepfunctions.extras import extras_of
from stepdeploy_localcloud.stepfunctions.lifecycle import stop_execution
from stepdeploy_localcloud.stepfunctions.redrive import redrive_execution
from stepdeploy_localcloud.stepfunctions.status_events import output_json, redrive_status

DEFAULT_HISTORY_PAGE = 100
MAX_HISTORY_PAGE = 1000


class InvalidToken(AWSError):
    TYPE = "InvalidToken"
    STATUS = 400


class UnsupportedOperation(AWSError):
    TYPE = "UnsupportedOperation"
    STATUS = 400


def _executing_backend(response: StepFunctionResponse) -> StepFunctionsParserBackend | None:
    backend = response.stepfunction_backend
    return backend if isinstance(backend, StepFunctionsParserBackend) else None


def describe_output(execution: Any) -> dict[str, Any]:
    extras = extras_of(execution)
    status = execution.status
    redrive_state, reason = redrive_status(status)
    out: dict[str, Any] = {
        "executionArn": execution.execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": execution.start_date,
        "input": execution.execution_input,
        "inputDetails": {"included": True},
        "redriveCount": extras.redrive_count,
        "redriveStatus": redrive_state,
    }
    if reason is not None:
        out["redriveStatusReason"] = reason
    if extras.redrive_date is not None:
        out["redriveDate"] = extras.redrive_date
    if status != "RUNNING" and execution.stop_date is not None:
        out["stopDate"] = execution.stop_date
    if status == "SUCCEEDED":
        out["output"] = output_json(execution.output)
        out["outputDetails"] = {"included": True}
    if execution.error is not None:
        out["error"] = execution.error
    if execution.cause is not None:
        out["cause"] = execution.cause
    return out


def list_item(execution: Any) -> dict[str, Any]:
    extras = extras_of(execution)
    item: dict[str, Any] = {
        "executionArn": execution.execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": execution.status,
        "startDate": execution.start_date,
        "redriveCount": extras.redrive_count,
    }
    if execution.status != "RUNNING" and execution.stop_date is not None:
        item["stopDate"] = execution.stop_date
    if extras.redrive_date is not None:
        item["redriveDate"] = extras.redrive_date
    return item


def history_page(
    events: list[dict[str, Any]],
    *,
    reverse_order: bool = False,
    max_results: int | None = None,
    next_token: str | None = None,
    include_execution_data: bool = True,
) -> dict[str, Any]:
    """One page of an execution history, paginated as GetExecutionHistory is."""
    ordered = list(reversed(events)) if reverse_order else list(events)
    page_size = max_results if max_results and max_results > 0 else DEFAULT_HISTORY_PAGE
    page_size = min(page_size, MAX_HISTORY_PAGE)
    start = _decode_token(next_token) if next_token else 0
    if start > len(ordered):
        raise InvalidToken(f"Invalid Token: '{next_token}'")
    page = ordered[start : start + page_size]
    if not include_execution_data:
        page = [_without_execution_data(event) for event in page]
    out: dict[str, Any] = {"events": page}
    if start + page_size < len(ordered):
        out["nextToken"] = _encode_token(start + page_size)
    return out


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"history:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix != "history":
            raise ValueError(prefix)
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidToken(f"Invalid Token: '{token}'") from error


def _without_execution_data(event: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ("input", "output")}
        stripped[key] = value
    return stripped


# --- the response methods -------------------------------------------------------------------


def _describe_execution(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        return original(StepFunctionResponse, "describe_execution")(self)
    execution = backend.describe_execution(self._get_param("executionArn"))
    return ActionResult(describe_output(execution))


def _list_executions(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        return original(StepFunctionResponse, "list_executions")(self)
    arn = self._get_param("stateMachineArn")
    backend.describe_state_machine(arn)
    executions, next_token = backend.list_executions(
        arn,
        status_filter=self._get_param("statusFilter"),
        max_results=self._get_int_param("maxResults"),
        next_token=self._get_param("nextToken"),
    )
    redrive_filter = self._get_param("redriveFilter")
    if redrive_filter == "REDRIVEN":
        executions = [e for e in executions if extras_of(e).redrive_count > 0]
    elif redrive_filter == "NOT_REDRIVEN":
        executions = [e for e in executions if extras_of(e).redrive_count == 0]
    response: dict[str, Any] = {"executions": [list_item(e) for e in executions]}
    if next_token:
        response["nextToken"] = next_token
    return ActionResult(response)


def _get_execution_history(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        return original(StepFunctionResponse, "get_execution_history")(self)
    history = backend.get_execution_history(self._get_param("executionArn"))
    include = self._get_param("includeExecutionData")
    return ActionResult(
        history_page(
            list(history["events"]),
            reverse_order=bool(self._get_param("reverseOrder")),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
            include_execution_data=include is None or bool(include),
        )
    )


def _send_task_failure(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        return original(StepFunctionResponse, "send_task_failure")(self)
    backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _stop_execution(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        return original(StepFunctionResponse, "stop_execution")(self)
    execution = stop_execution(
        backend,
        self._get_param("executionArn"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return ActionResult({"stopDate": execution.stop_date})


def _redrive_execution(self: StepFunctionResponse) -> Any:
    backend = _executing_backend(self)
    if backend is None:
        raise UnsupportedOperation(
            "RedriveExecution needs executing state machines: set "
            "stepfunctions.execute_state_machine in moto's configuration"
        )
    redrive_date = redrive_execution(
        backend, self._get_param("executionArn"), client_token=self._get_param("clientToken")
    )
    return ActionResult({"redriveDate": redrive_date})


def install() -> None:
    replace(StepFunctionResponse, "describe_execution", _describe_execution)
    replace(StepFunctionResponse, "list_executions", _list_executions)
    replace(StepFunctionResponse, "get_execution_history", _get_execution_history)
    replace(StepFunctionResponse, "send_task_failure", _send_task_failure)
    replace(StepFunctionResponse, "stop_execution", _stop_execution)
    replace(StepFunctionResponse, "redrive_execution", _redrive_execution)
