"""Virtual time for the ASL interpreter.

moto sleeps real seconds for Wait states and Retry intervals and measures TimeoutSeconds and
HeartbeatSeconds in real seconds. Here every one of them is virtual: it lasts
``CLOCK.real_seconds(v)`` (v / speed), and every wait ends early when the execution stops
(StopExecution, the execution's own timeout), as AWS ends a Wait or a task wait at once.

A request-response task's TimeoutSeconds are real seconds (its Lambda does real work) and do not
count the time its Lambda request waited for a free local worker (``queueing``).

moto also gives a Task with HeartbeatSeconds but no TimeoutSeconds a 60 s timeout; on AWS a
Task without TimeoutSeconds has none (99999999 s), heartbeat or not.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsOutcome
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.component.common.retry.retrier_outcome import RetrierOutcome
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
    EvalTimeoutError,
    Timeout,
    TimeoutSeconds,
)
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.state_props import StateProps
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint
from moto.stepfunctions.parser.asl.eval.environment import Environment

from stepdeploy_localcloud import queueing
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.patching import replace, wrap

# Longest real pause between two looks at whether the execution is still running.
_POLL_SECONDS = 0.05
# How long an execution that timed out may take to record ExecutionTimedOut in its history.
_TIMED_OUT_GRACE_SECONDS = 2.0

RESUME_AT_ATTRIBUTE = "_stepdeploy_resume_at"
"""Set on a top-level Environment to start the program at that state (RedriveExecution)."""


def interruptible_sleep(env: Environment, virtual_seconds: float) -> None:
    """Sleep ``virtual_seconds`` of virtual time, or less if the execution stops running."""
    deadline = time.monotonic() + CLOCK.real_seconds(virtual_seconds)
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(min(remaining, _POLL_SECONDS))


def wait_for(event: threading.Event, env: Environment, virtual_seconds: float) -> bool:
    """Wait for ``event`` at most ``virtual_seconds``; False on timeout or when the execution stops."""
    deadline = time.monotonic() + CLOCK.real_seconds(virtual_seconds)
    while not event.is_set():
        if not env.is_running():
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return event.is_set()
        event.wait(min(remaining, _POLL_SECONDS))
    return True


def wait_for_work(event: threading.Event, env: Environment, real_seconds: float, token: str) -> bool:
    """Wait for ``event`` at most ``real_seconds`` plus the time task ``token`` waited for a worker."""
    started = time.monotonic()
    while not event.is_set():
        if not env.is_running():
            return False
        remaining = started + real_seconds + queueing.waited(token) - time.monotonic()
        if remaining <= 0:
            return event.is_set()
        event.wait(min(remaining, _POLL_SECONDS))
    return True


def interrupt_task_waits(env: Environment | None) -> None:
    """Wake every thread waiting for a task token or heartbeat of this execution."""
    if env is None:
        return
    for endpoint in list(env.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


def _wait_interval(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
    if wait_seconds > 0:
        interruptible_sleep(env, wait_seconds)


def _timestamp_wait_seconds(self: Timestamp, env: Environment) -> int:
    # moto compares the UTC timestamp with the local wall clock; compare in UTC.
    self.string.eval(env=env)
    timestamp_text: str = env.stack.pop()
    timestamp = self._from_timestamp_string(timestamp=timestamp_text)
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_text))
    now = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
    return int((timestamp - now).total_seconds())


def _retrier_eval_body(self: RetrierDecl, env: Environment) -> None:
    # moto's retrier, with the interval slept in virtual time and cut short by a stop.
    self.error_equals.eval(env)
    if not env.stack.pop():
        env.stack.append(RetrierOutcome.Skipped)
        return
    self.max_attempts.eval(env=env)
    if env.stack.pop() == MaxAttemptsOutcome.EXHAUSTED:
        env.stack.append(RetrierOutcome.Failed)
        return
    # IntervalSeconds, then BackoffRate, MaxDelaySeconds and JitterStrategy transform it.
    self.interval_seconds.eval(env=env)
    self.backoff_rate.eval(env=env)
    self.max_delay_seconds.eval(env=env)
    self.jitter_strategy.eval(env=env)
    interval_seconds: float = env.stack.pop()
    interruptible_sleep(env, interval_seconds)
    env.stack.append(RetrierOutcome.Executed)


def waits_outside(state: ExecutionState) -> bool:
    """True for .waitForTaskToken and .sync tasks: they wait on people and services (virtual time)."""
    resource = getattr(state, "resource", None)
    return getattr(resource, "condition", None) is not None


def _evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
    # moto's ExecutionState._evaluate_with_timeout, with TimeoutSeconds in virtual time and
    # the wait abandoned when the execution stops (the task's thread is left to finish alone).
    self.timeout.eval(env=env)
    timeout_seconds: int = env.stack.pop()

    frame: Environment = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    outputs: list[Any] = []
    errors: list[Exception] = []
    finished = threading.Event()

    token = queueing.new_token()

    def run_task() -> None:
        try:
            with queueing.task(token):
                self._eval_execution(frame)
            outputs.extend(frame.stack)
        except Exception as error:  # handed to the state's Retry/Catch below
            errors.append(error)
        finally:
            finished.set()

    threading.Thread(target=run_task, name=f"sfn-task-{self.name}", daemon=True).start()
    try:
        if waits_outside(self):
            finished_in_time = wait_for(finished, env, timeout_seconds)
        else:
            # A request-response task is real work (a Lambda runs at real speed here), so its
            # TimeoutSeconds are real seconds, not counting time its Lambda request waited for a
            # local worker (AWS would have run it at once); only waits on the outside world run on
            # virtual time.
            finished_in_time = wait_for_work(finished, env, timeout_seconds, token)
    finally:
        queueing.forget(token)
    frame.set_ended()
    env.close_frame(frame)

    if not env.is_running():
        return
    if errors:
        raise errors[-1]
    if not finished_in_time:
        raise EvalTimeoutError()

    output = outputs.pop()
    env.stack.append(output)
    if not self._is_language_query_jsonpath():
        env.states.set_result(output)
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


def _program_eval(self: Program, env: Environment) -> None:
    # moto's Program.eval, with the machine's TimeoutSeconds in virtual time and a start state
    # that RedriveExecution can move.
    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = getattr(env, RESUME_AT_ATTRIBUTE, None) or self.start_at.start_at_name
    worker = threading.Thread(target=EvalComponent.eval, args=(self, env), name="sfn-program", daemon=True)
    worker.start()
    worker.join(CLOCK.real_seconds(timeout) if timeout is not None else None)
    if worker.is_alive():
        env.set_timed_out()
        interrupt_task_waits(env)
        worker.join(_TIMED_OUT_GRACE_SECONDS)


def _callback_wait(self: CallbackEndpoint, timeout: float | None = None) -> Any:
    self._notify_event.wait(timeout=None if timeout is None else CLOCK.real_seconds(timeout))
    return self._outcome


def _heartbeat_clear_and_wait(self: HeartbeatEndpoint) -> bool:
    with self._mutex:
        if self._next_heartbeat_event.is_set():
            self._next_heartbeat_event.clear()
            return True
    return self._next_heartbeat_event.wait(timeout=CLOCK.real_seconds(self._heartbeat_seconds))


def _task_timeout_default(original: Any) -> Any:
    def from_state_props(self: ExecutionState, state_props: StateProps) -> None:
        original(self, state_props)
        timeout = self.timeout
        if (
            state_props.get(Timeout) is None
            and isinstance(timeout, TimeoutSeconds)
            and timeout.is_default
            and timeout.timeout_seconds != TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS
        ):
            self.timeout = TimeoutSeconds(timeout_seconds=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS)

    return from_state_props


def install() -> None:
    replace(WaitFunction, "_wait_interval", _wait_interval)
    replace(Timestamp, "_get_wait_seconds", _timestamp_wait_seconds)
    replace(RetrierDecl, "_eval_body", _retrier_eval_body)
    replace(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)
    wrap(ExecutionState, "from_state_props", _task_timeout_default)
    replace(Program, "eval", _program_eval)
    replace(CallbackEndpoint, "wait", _callback_wait)
    replace(HeartbeatEndpoint, "clear_and_wait", _heartbeat_clear_and_wait)
