"""RedriveExecution, which moto 5.2.5 does not implement, with AWS's Standard-workflow semantics.

Only FAILED, ABORTED and TIMED_OUT executions are redrivable. A redrive keeps the execution ARN,
resumes at the state that was unsuccessful with the input that state had (successful states
are not rerun), appends ExecutionRedriven and the new events to the same history, counts
``redriveCount``/``redriveDate`` and restarts the machine-level timeout. Task/Choice/Wait/Pass/
Succeed/Fail machines are supported; a failed Map or Parallel state is rerun as a whole.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import (
    EventHistoryContext,
    EventManager,
)
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from stepdeploy_localcloud.stepfunctions.extras import extras_of, utc_now
from stepdeploy_localcloud.stepfunctions.lifecycle import (
    REDRIVE_COUNT_ATTRIBUTE,
    REDRIVE_TIME_ATTRIBUTE,
    RESUME_INPUT_ATTRIBUTE,
    RESUME_STATE_ATTRIBUTE,
)
from stepdeploy_localcloud.stepfunctions.status_events import (
    PUBLISHER,
    REDRIVABLE_STATUSES,
    is_standard,
    redrive_status,
)
from stepdeploy_localcloud.stepfunctions.timing import RESUME_AT_ATTRIBUTE


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass(frozen=True)
class ResumePoint:
    state_name: str
    state_input: Any


def resume_point(env: Environment, history: list[dict[str, Any]]) -> ResumePoint | None:
    """Where a finished attempt stopped: the unsuccessful state and the input it was entered with."""
    state_name: str | None = getattr(env, RESUME_STATE_ATTRIBUTE, None)
    if state_name is None:
        return None
    unfinished: dict[str, Any] = {}
    for event in history:
        event_type = str(event.get("type", ""))
        if event_type.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails", {})
            unfinished[details.get("name")] = details.get("input")
        elif event_type.endswith("StateExited"):
            unfinished.pop(event.get("stateExitedEventDetails", {}).get("name"), None)
    if state_name in unfinished and unfinished[state_name] is not None:
        return ResumePoint(state_name, json.loads(unfinished[state_name]))
    # Stopped between two states: the next state's input is the last state's output.
    return ResumePoint(state_name, getattr(env, RESUME_INPUT_ATTRIBUTE, None))


class RedrivenExecutionWorker(ExecutionWorker):
    """Runs one more attempt of an execution, from a resume point, into the same history."""

    def __init__(
        self,
        execution: Execution,
        history: EventManager,
        resume: ResumePoint,
        redrive_count: int,
        redrive_date: datetime.datetime,
    ) -> None:
        super().__init__(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=execution.get_start_state_machine_details(),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        self._history = history
        self._resume = resume
        setattr(self, REDRIVE_COUNT_ATTRIBUTE, redrive_count)
        setattr(self, REDRIVE_TIME_ATTRIBUTE, redrive_date.isoformat())

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        env = self._get_evaluation_environment()
        env.event_manager = self._history
        previous_events = self._history.get_event_history()
        last_event_id = int(previous_events[-1]["id"]) if previous_events else 0
        env.event_history_context = EventHistoryContext(previous_event_id=last_event_id)  # type: ignore[misc]
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=EventDetails(
                executionRedrivenEventDetails={"redriveCount": getattr(self, REDRIVE_COUNT_ATTRIBUTE)}
            ),
        )
        env.states.reset(input_value=self._resume.state_input)
        setattr(env, RESUME_AT_ATTRIBUTE, self._resume.state_name)
        self.env = env
        program.eval(env)
        self._execution_communication.terminated()


def redrive_execution(
    backend: StepFunctionsParserBackend, execution_arn: str, client_token: str | None = None
) -> datetime.datetime:
    """RedriveExecution: returns the redrive date, as the API does."""
    execution: Execution = backend.describe_execution(execution_arn)
    extras = extras_of(execution)
    with extras.lock:
        if client_token and client_token == extras.last_redrive_token and extras.redrive_date:
            return extras.redrive_date  # the same request again
        if not is_standard(execution):
            raise ExecutionNotRedrivable("Execution is EXPRESS and cannot be redriven")
        status = execution.status
        if status not in REDRIVABLE_STATUSES:
            raise ExecutionNotRedrivable(redrive_status(status)[1] or status)
        previous_env = execution.exec_worker.env
        history = previous_env.event_manager.get_event_history()
        resume = resume_point(previous_env, history)
        if resume is None:
            raise ExecutionNotRedrivable(f"Execution '{execution_arn}' has no unsuccessful state to resume at")

        redrive_date = utc_now()
        extras.redrive_count += 1
        extras.redrive_date = redrive_date
        extras.last_redrive_token = client_token
        extras.finished.clear()
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.error = None
        execution.cause = None
        execution.output = None
        worker = RedrivenExecutionWorker(
            execution, previous_env.event_manager, resume, extras.redrive_count, redrive_date
        )
        execution.exec_worker = worker
        PUBLISHER.publish(execution, ExecutionStatus.RUNNING.value)
        worker.start()
    return redrive_date
