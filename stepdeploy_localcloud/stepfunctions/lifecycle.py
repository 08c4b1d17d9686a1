"""The life of an execution: its name, its start, its end, and StopExecution.

- StartExecution without a name (EventBridge and S3 targets send none) gets a UUID, as on AWS;
  moto names it ``None`` and refuses the second one.
- Each status change is published as an EventBridge event (see status_events).
- StopExecution honours error and cause and really stops a running execution, also one waiting
  for a task token, in a Wait state or in a running Lambda task; when it returns, the execution
  is ABORTED and its history ends with ExecutionAborted.
- An execution is RUNNING from the moment it exists: moto lists it (ListExecutions,
  DescribeExecution, GetExecutionHistory) before its ``start()`` sets a status and a worker, and
  answered those with HTTP 500 in that moment.
- The state an execution was in when it failed, stopped or timed out is remembered, so that
  RedriveExecution can resume there.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from stepdeploy_localcloud.patching import replace, wrap
from stepdeploy_localcloud.stepfunctions.extras import extras_of, utc_now
from stepdeploy_localcloud.stepfunctions.status_events import PUBLISHER
from stepdeploy_localcloud.stepfunctions.timing import interrupt_task_waits

# How long StopExecution waits for the interpreter to wind the execution down.
STOP_GRACE_SECONDS = 5.0

RESUME_STATE_ATTRIBUTE = "_stepdeploy_resume_state"
RESUME_INPUT_ATTRIBUTE = "_stepdeploy_resume_input"
REDRIVE_COUNT_ATTRIBUTE = "_stepdeploy_redrive_count"
REDRIVE_TIME_ATTRIBUTE = "_stepdeploy_redrive_time"


def _start_execution(original: Any) -> Any:
    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Execution:
        if name:
            self._validate_name(name)
        else:
            name = str(uuid.uuid4())
        return original(self, state_machine_arn, name, execution_input, trace_header)

    return start_execution


def _status(self: Execution) -> str:
    # moto appends the execution to its machine's list, then starts it: listed in between
    return (self.exec_status or ExecutionStatus.RUNNING).value


def _history_before_start(original: Any) -> Any:
    def to_history_output(self: Execution) -> Any:
        if self.exec_worker is None:
            return {"events": []}  # not started yet: no events, as for a worker without environment
        return original(self)

    return to_history_output


def _execution_start(original: Any) -> Any:
    def start(self: Execution) -> None:
        extras_of(self).finished.clear()
        # Published before the interpreter runs, so RUNNING always precedes the final status.
        PUBLISHER.publish(self, ExecutionStatus.RUNNING.value)
        original(self)

    return start


def _terminated(original: Any) -> Any:
    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        execution = self.execution
        try:
            original(self)
            program_state = execution.exec_worker.env.program_state()
            if execution.exec_status == ExecutionStatus.ABORTED:
                # moto keeps StopExecution's error and cause only in the history.
                execution.error = getattr(program_state, "error", None)
                execution.cause = getattr(program_state, "cause", None)
            PUBLISHER.publish(execution, execution.status)
        finally:
            extras_of(execution).finished.set()

    return terminated


def _remember_resume_point(original: Any) -> Any:
    def set_terminal_state(self: Environment, *args: Any, **kwargs: Any) -> None:
        if not self.is_frame() and self.is_running():
            setattr(self, RESUME_STATE_ATTRIBUTE, self.next_state_name)
            setattr(self, RESUME_INPUT_ATTRIBUTE, self.states.get_input())
        original(self, *args, **kwargs)

    return set_terminal_state


def _evaluation_environment(original: Any) -> Any:
    # $$.Execution.RedriveCount (and RedriveTime once redriven) in the context object.
    def get_evaluation_environment(self: ExecutionWorker) -> Environment:
        env = original(self)
        execution_data = env.states.context_object.context_object_data["Execution"]
        execution_data["RedriveCount"] = getattr(self, REDRIVE_COUNT_ATTRIBUTE, 0)
        redrive_time = getattr(self, REDRIVE_TIME_ATTRIBUTE, None)
        if redrive_time is not None:
            execution_data["RedriveTime"] = redrive_time
        return env

    return get_evaluation_environment


def stop_execution(
    backend: StepFunctionsParserBackend,
    execution_arn: str,
    error: str | None = None,
    cause: str | None = None,
) -> Execution:
    """StopExecution: abort a running execution and wait until it is ABORTED."""
    execution: Execution = backend.describe_execution(execution_arn)
    extras = extras_of(execution)
    with extras.lock:
        if execution.status != ExecutionStatus.RUNNING.value:
            return execution
        env = _wait_for_environment(execution)
        if env is None:
            return execution
        env.set_stop(stop_date=utc_now(), cause=cause, error=error)
        interrupt_task_waits(env)
    extras.finished.wait(STOP_GRACE_SECONDS)
    return execution


def _wait_for_environment(execution: Execution) -> Environment | None:
    # The execution is listed a moment before it has a worker, and its interpreter thread creates
    # its environment a moment after StartExecution returns.
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        worker: ExecutionWorker | None = execution.exec_worker
        if worker is not None and worker.env is not None:
            return worker.env
        time.sleep(0.01)
    return None


def install() -> None:
    wrap(StepFunctionsParserBackend, "start_execution", _start_execution)
    replace(Execution, "status", property(_status))
    wrap(Execution, "to_history_output", _history_before_start)
    wrap(Execution, "start", _execution_start)
    wrap(BaseExecutionWorkerCommunication, "terminated", _terminated)
    for name in ("set_error", "set_stop", "set_timed_out"):
        wrap(Environment, name, _remember_resume_point)
    wrap(ExecutionWorker, "_get_evaluation_environment", _evaluation_environment)
