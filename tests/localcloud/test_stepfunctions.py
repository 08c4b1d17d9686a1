"""The Step Functions adapter: each test fails if moto's executing backend moves (or the fix breaks)."""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend

from stepdeploy_dev.asl_lint import execution_coverage
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION
from stepdeploy_localcloud.stepfunctions import patch as stepfunctions

pytestmark = pytest.mark.localcloud

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/state-machine"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
_names = itertools.count()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def adapter(moto_server: str) -> None:
    stepfunctions.apply()
    stepfunctions.apply()  # idempotent


@pytest.fixture()
def sfn(aws: Callable[[str], Any]) -> Any:
    return aws("stepfunctions")


@pytest.fixture()
def speed() -> Iterator[Callable[[float], None]]:
    before = CLOCK.speed
    yield CLOCK.set_speed
    CLOCK.set_speed(before)


class FunctionError(Exception):
    """Raised by a fake function: the invocation ends with FunctionError: Unhandled."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class FakeLambdas:
    """Lambda functions of the test, run by moto's Lambda backend in place of its canned reply."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.release = threading.Event()

    def __setitem__(self, name: str, handler: Callable[[Any], Any]) -> None:
        self.handlers[name] = handler

    def payloads(self, name: str) -> list[Any]:
        return [payload for called, payload in self.calls if called == name]

    def wait_for_call(self, name: str, count: int = 1, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            payloads = self.payloads(name)
            if len(payloads) >= count:
                return payloads[count - 1]
            time.sleep(0.02)
        raise AssertionError(f"{name} was not invoked {count} time(s): calls {self.calls}")

    def block(self, _payload: Any) -> Any:
        self.release.wait(10)
        return {"released": True}

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        payload = json.loads(body) if body else None
        self.calls.append((name, payload))
        try:
            result = self.handlers[name](payload)
        except FunctionError as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": error.error_type, "errorMessage": str(error)}
        return json.dumps(result).encode()


@pytest.fixture()
def lambdas(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambdas]:
    fake = FakeLambdas()

    def invoke(
        _backend: Any, function_name: str, _qualifier: Any, body: Any, _headers: Any, response_headers: dict[str, str]
    ) -> bytes:
        return fake.invoke(function_name, body, response_headers)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    yield fake
    fake.release.set()


# --- helpers --------------------------------------------------------------------------------


def create_machine(sfn: Any, definition: dict[str, Any], prefix: str = "sm") -> str:
    name = f"{prefix}-{next(_names)}-{time.time_ns()}"
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)["stateMachineArn"]


def wait_until_closed(sfn: Any, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still RUNNING after {timeout} s")
        time.sleep(0.02)


def wait_until_in_state(sfn: Any, execution_arn: str, event_type: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["type"] == event_type for e in history(sfn, execution_arn)):
            return
        time.sleep(0.02)
    raise AssertionError(f"{execution_arn} never reached {event_type}")


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def run(sfn: Any, definition: dict[str, Any], payload: Any = None, timeout: float = 60.0) -> dict[str, Any]:
    arn = create_machine(sfn, definition)
    execution_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))["executionArn"]
    return wait_until_closed(sfn, execution_arn, timeout)


def lambda_task(function: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "ResultSelector": {"value.$": "$.Payload"},
        **fields,
    }


def pass_machine(result: Any) -> dict[str, Any]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}}


def callback_machine(timeout_seconds: int = 3600, heartbeat_seconds: int = 600) -> dict[str, Any]:
    return {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "request-approval",
                    "Payload": {"token.$": "$$.Task.Token", "input.$": "$"},
                },
                "TimeoutSeconds": timeout_seconds,
                "HeartbeatSeconds": heartbeat_seconds,
                "ResultPath": "$.approval",
                "End": True,
            }
        },
    }


# --- 1. StartExecution without a name ------------------------------------------------------


def test_start_execution_without_a_name_gets_a_unique_uuid_name(sfn: Any) -> None:
    arn = create_machine(
        sfn,
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"name.$": "$$.Execution.Name"}, "End": True}}},
    )

    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    assert first != second
    for execution_arn in (first, second):
        name = execution_arn.rsplit(":", 1)[1]
        assert len(name) == 36 and name.count("-") == 4, execution_arn
        described = wait_until_closed(sfn, execution_arn)
        assert described["name"] == name
        assert json.loads(described["output"]) == {"name": name}


def test_start_execution_still_validates_a_given_name(sfn: Any) -> None:
    arn = create_machine(sfn, pass_machine(1))
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=arn, name="has space")
    assert raised.value.response["Error"]["Code"] == "InvalidName"


# --- 2. virtual time ---------------------------------------------------------------------


def test_wait_states_sleep_virtual_seconds(sfn: Any, speed: Callable[[float], None]) -> None:
    speed(3600)  # one virtual hour per real second
    in_ten_minutes = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=10)
    timestamp = in_ten_minutes.strftime("%Y-%m-%dT%H:%M:%SZ")
    definition = {
        "StartAt": "Seconds",
        "States": {
            "Seconds": {"Type": "Wait", "Seconds": 600, "Next": "SecondsPath"},
            "SecondsPath": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Timestamp"},
            "Timestamp": {"Type": "Wait", "Timestamp": timestamp, "Next": "TimestampPath"},
            "TimestampPath": {"Type": "Wait", "TimestampPath": "$.until", "End": True},
        },
    }
    started = time.monotonic()
    described = run(sfn, definition, {"seconds": 600, "until": timestamp})
    elapsed = time.monotonic() - started

    assert described["status"] == "SUCCEEDED"
    # 600 + 600 virtual seconds, then two waits until a timestamp ~600 virtual seconds away.
    assert 0.3 < elapsed < 3.0, elapsed


def test_retry_intervals_follow_backoff_and_max_delay_in_virtual_time(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    speed(300)
    lambdas["flaky"] = lambda _p: (_ for _ in ()).throw(FunctionError("Transient", "try again"))
    definition = {
        "StartAt": "T",
        "States": {
            "T": lambda_task(
                "flaky",
                Retry=[
                    {
                        "ErrorEquals": ["Transient"],
                        "IntervalSeconds": 60,
                        "BackoffRate": 2.0,
                        "MaxAttempts": 3,
                        "MaxDelaySeconds": 100,
                    }
                ],
                End=True,
            )
        },
    }

    described = run(sfn, definition)

    assert described["status"] == "FAILED" and described["error"] == "Transient"
    events = history(sfn, described["executionArn"])
    failed = [e["timestamp"] for e in events if e["type"] == "TaskFailed"]
    scheduled = [e["timestamp"] for e in events if e["type"] == "TaskScheduled"]
    assert len(failed) == 4 and len(scheduled) == 4
    gaps = [(s - f).total_seconds() for f, s in zip(failed, scheduled[1:], strict=False)]
    # 60, min(120, 100), min(240, 100) virtual seconds at speed 300.
    for gap, expected in zip(gaps, [0.2, 1 / 3, 1 / 3], strict=True):
        assert expected * 0.9 <= gap < expected + 0.3, gaps


def test_full_jitter_never_waits_longer_than_the_interval(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    speed(600)
    lambdas["flaky"] = lambda _p: (_ for _ in ()).throw(FunctionError("Transient", "try again"))
    definition = {
        "StartAt": "T",
        "States": {
            "T": lambda_task(
                "flaky",
                Retry=[
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 300,
                        "MaxAttempts": 2,
                        "BackoffRate": 1.0,
                        "JitterStrategy": "FULL",
                    }
                ],
                End=True,
            )
        },
    }

    started = time.monotonic()
    described = run(sfn, definition)

    assert described["status"] == "FAILED"
    assert len(lambdas.payloads("flaky")) == 3
    assert time.monotonic() - started < 1.0 + 0.6  # two intervals of at most 300/600 s


def test_request_response_task_timeout_is_real_seconds(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    # A Lambda does real work at real speed, so its task's TimeoutSeconds are not accelerated;
    # at speed 3600 a virtual timeout of 1 s would otherwise be 0.3 ms.
    speed(3600)
    lambdas["slow"] = lambdas.block
    definition = {"StartAt": "T", "States": {"T": lambda_task("slow", TimeoutSeconds=1, End=True)}}

    started = time.monotonic()
    described = run(sfn, definition)

    assert described["status"] == "FAILED" and described["error"] == "States.Timeout"
    assert 0.9 <= time.monotonic() - started < 4.0
    assert "TaskTimedOut" in [e["type"] for e in history(sfn, described["executionArn"])]


def test_wait_for_task_token_times_out_in_virtual_time(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    speed(3600)  # a one-hour approval lasts one real second
    lambdas["request-approval"] = lambda _p: {}

    started = time.monotonic()
    described = run(sfn, callback_machine(timeout_seconds=3600, heartbeat_seconds=3000))

    assert described["status"] == "FAILED" and described["error"] == "States.Timeout"
    assert 0.7 <= time.monotonic() - started < 4.0


def test_heartbeat_seconds_are_virtual_and_heartbeats_keep_the_task_alive(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    speed(600)  # HeartbeatSeconds 300 = half a real second
    lambdas["request-approval"] = lambda _p: {}
    arn = create_machine(sfn, callback_machine(timeout_seconds=36000, heartbeat_seconds=300))
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    token = lambdas.wait_for_call("request-approval")["token"]

    for _ in range(4):  # 1.2 real seconds, longer than two heartbeat periods
        time.sleep(0.3)
        sfn.send_task_heartbeat(taskToken=token)
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    described = wait_until_closed(sfn, execution_arn)
    assert described["error"] == "States.Timeout"


def test_heartbeat_without_timeout_seconds_has_no_task_timeout(
    sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]
) -> None:
    # moto gives such a task a 60 s TimeoutSeconds; AWS gives it none.
    speed(600)  # 60 virtual seconds = 0.1 real second
    lambdas["request-approval"] = lambda _p: {}
    definition = callback_machine(heartbeat_seconds=300)
    del definition["States"]["Approve"]["TimeoutSeconds"]
    arn = create_machine(sfn, definition)
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    token = lambdas.wait_for_call("request-approval")["token"]

    for _ in range(3):
        time.sleep(0.2)
        sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output="{}")

    assert wait_until_closed(sfn, execution_arn)["status"] == "SUCCEEDED"


def test_machine_timeout_seconds_are_virtual(sfn: Any, speed: Callable[[float], None]) -> None:
    speed(600)
    definition = {
        "TimeoutSeconds": 120,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": True}},
    }

    started = time.monotonic()
    described = run(sfn, definition)

    assert described["status"] == "TIMED_OUT"
    assert time.monotonic() - started < 3.0
    assert history(sfn, described["executionArn"])[-1]["type"] == "ExecutionTimedOut"


# --- 3. SendTaskFailure keeps the cause; SendTaskSuccess and $$.Task.Token -------------


def test_send_task_failure_keeps_error_and_cause(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["request-approval"] = lambda _p: {}
    arn = create_machine(sfn, callback_machine())
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    token = lambdas.wait_for_call("request-approval")["token"]

    sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause="rejected by alice")

    described = wait_until_closed(sfn, execution_arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "ApprovalRejected",
        "rejected by alice",
    )
    failed = [e for e in history(sfn, execution_arn) if e["type"] == "TaskFailed"][0]
    assert failed["taskFailedEventDetails"]["cause"] == "rejected by alice"


def test_wait_for_task_token_passes_the_token_and_resumes_on_success(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["request-approval"] = lambda _p: {"StatusCode": 200}
    arn = create_machine(sfn, callback_machine())
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"commit": "abc"}')["executionArn"]
    payload = lambdas.wait_for_call("request-approval")
    assert payload["input"] == {"commit": "abc"} and payload["token"]

    sfn.send_task_success(taskToken=payload["token"], output='{"approved_by": "alice"}')

    described = wait_until_closed(sfn, execution_arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"commit": "abc", "approval": {"approved_by": "alice"}}


# --- 4. StopExecution ----------------------------------------------------------------------


def _stop_and_check(sfn: Any, execution_arn: str) -> None:
    started = time.monotonic()
    stopped = sfn.stop_execution(executionArn=execution_arn, error="Operator.Stop", cause="bad commit")
    assert time.monotonic() - started < 2.0
    described = sfn.describe_execution(executionArn=execution_arn)
    assert described["status"] == "ABORTED"
    assert (described["error"], described["cause"]) == ("Operator.Stop", "bad commit")
    assert described["stopDate"] == stopped["stopDate"]
    last = history(sfn, execution_arn)[-1]
    assert last["type"] == "ExecutionAborted"
    assert last["executionAbortedEventDetails"] == {"error": "Operator.Stop", "cause": "bad commit"}


def test_stop_execution_in_a_wait_state(sfn: Any) -> None:
    arn = create_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**7, "End": True}}})
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_until_in_state(sfn, execution_arn, "WaitStateEntered")
    _stop_and_check(sfn, execution_arn)


def test_stop_execution_waiting_for_a_task_token(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["request-approval"] = lambda _p: {}
    arn = create_machine(sfn, callback_machine(timeout_seconds=10**7, heartbeat_seconds=10**6))
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    token = lambdas.wait_for_call("request-approval")["token"]
    _stop_and_check(sfn, execution_arn)
    with pytest.raises(ClientError):  # the token died with the execution
        sfn.send_task_success(taskToken=token, output="{}")


def test_stop_execution_in_a_running_lambda_task(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["slow"] = lambdas.block
    arn = create_machine(sfn, {"StartAt": "T", "States": {"T": lambda_task("slow", End=True)}})
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    lambdas.wait_for_call("slow")
    _stop_and_check(sfn, execution_arn)


# --- 5. RedriveExecution -----------------------------------------------------------------


def _redrive_machine() -> dict[str, Any]:
    return {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Parameters": {"commit.$": "$.commit", "prepared": True}, "Next": "Build"},
            "Build": lambda_task(
                "build",
                Parameters={
                    "FunctionName": "build",
                    "Payload": {"input.$": "$", "redrive.$": "$$.Execution.RedriveCount"},
                },
                ResultPath="$.build",
                Next="Done",
            ),
            "Done": {"Type": "Succeed"},
        },
    }


def test_redrive_resumes_at_the_failed_state_with_its_input(sfn: Any, lambdas: FakeLambdas) -> None:
    outcomes = iter([FunctionError("BuildFailed", "compiler crashed"), {"artifact": "a.zip"}])

    def build(_payload: Any) -> Any:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    lambdas["build"] = build
    arn = create_machine(sfn, _redrive_machine())
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"commit": "abc"}')["executionArn"]
    failed = wait_until_closed(sfn, execution_arn)
    assert (failed["status"], failed["redriveStatus"], failed["redriveCount"]) == ("FAILED", "REDRIVABLE", 0)
    first_attempt = history(sfn, execution_arn)

    redriven = sfn.redrive_execution(executionArn=execution_arn)

    described = wait_until_closed(sfn, execution_arn)
    assert described["status"] == "SUCCEEDED"
    assert described["executionArn"] == execution_arn
    assert described["redriveCount"] == 1 and described["redriveDate"] == redriven["redriveDate"]
    assert json.loads(described["output"])["build"] == {"value": {"artifact": "a.zip"}}
    first_input, second_input = lambdas.payloads("build")
    assert first_input["input"] == second_input["input"] == {"commit": "abc", "prepared": True}
    assert (first_input["redrive"], second_input["redrive"]) == (0, 1)

    events = history(sfn, execution_arn)
    assert events[: len(first_attempt)] == first_attempt
    redrive_event = events[len(first_attempt)]
    assert redrive_event["type"] == "ExecutionRedriven"
    assert redrive_event["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert redrive_event["previousEventId"] == first_attempt[-1]["id"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["Prepare", "Build", "Build", "Done"]  # Prepare is not rerun

    with pytest.raises(ClientError) as raised:
        sfn.redrive_execution(executionArn=execution_arn)
    assert raised.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert raised.value.response["Error"]["Message"] == "Execution is SUCCEEDED and cannot be redriven"


def test_redrive_refuses_a_running_execution(sfn: Any) -> None:
    arn = create_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**7, "End": True}}})
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    described = sfn.describe_execution(executionArn=execution_arn)
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    assert described["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"
    with pytest.raises(ClientError) as raised:
        sfn.redrive_execution(executionArn=execution_arn)
    assert raised.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    sfn.stop_execution(executionArn=execution_arn)


def test_redrive_of_an_aborted_execution_resumes_in_the_wait_state(sfn: Any, speed: Callable[[float], None]) -> None:
    speed(3600)
    arn = create_machine(
        sfn,
        {
            "StartAt": "First",
            "States": {
                "First": {"Type": "Pass", "Result": {"n": 1}, "Next": "Wait"},
                "Wait": {"Type": "Wait", "Seconds": 10**7, "Next": "End"},
                "End": {"Type": "Pass", "End": True},
            },
        },
    )
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_until_in_state(sfn, execution_arn, "WaitStateEntered")
    sfn.stop_execution(executionArn=execution_arn)
    assert sfn.describe_execution(executionArn=execution_arn)["redriveStatus"] == "REDRIVABLE"

    sfn.redrive_execution(executionArn=execution_arn)
    # The redriven Wait waits its 10**7 s again: stop it, and check where it resumed.
    wait_until_in_state(sfn, execution_arn, "ExecutionRedriven")
    sfn.stop_execution(executionArn=execution_arn)
    events = history(sfn, execution_arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["First", "Wait", "Wait"]
    second_wait = [e for e in events if e["type"] == "WaitStateEntered"][1]
    assert json.loads(second_wait["stateEnteredEventDetails"]["input"]) == {"n": 1}
    assert sfn.describe_execution(executionArn=execution_arn)["redriveCount"] == 1


def test_redrive_of_a_timed_out_execution(sfn: Any, speed: Callable[[float], None]) -> None:
    speed(600)
    definition = {
        "TimeoutSeconds": 120,
        "StartAt": "Slow",
        "States": {
            "Slow": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    arn = create_machine(sfn, definition)
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"wait": 30}')["executionArn"]
    # 30 < 120: this attempt succeeds; a second one with a longer wait times out.
    assert wait_until_closed(sfn, execution_arn)["status"] == "SUCCEEDED"
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"wait": 600}')["executionArn"]
    assert wait_until_closed(sfn, execution_arn)["status"] == "TIMED_OUT"

    sfn.redrive_execution(executionArn=execution_arn)

    # The machine timeout restarts at 0 on a redrive: the 600 s wait times out again.
    described = wait_until_closed(sfn, execution_arn)
    assert (described["status"], described["redriveCount"]) == ("TIMED_OUT", 1)


def test_redrive_of_an_unknown_execution(sfn: Any) -> None:
    arn = create_machine(sfn, pass_machine(1))
    with pytest.raises(ClientError) as raised:
        sfn.redrive_execution(executionArn=arn.replace(":stateMachine:", ":execution:") + ":nope")
    assert raised.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


# --- 6. plain-string output ---------------------------------------------------------------


def test_plain_string_output_is_json(sfn: Any) -> None:
    described = run(sfn, pass_machine("big"))
    assert described["output"] == '"big"'
    assert json.loads(run(sfn, pass_machine({"a": [1, 2]}))["output"]) == {"a": [1, 2]}


# --- 7. execution status change events -------------------------------------------------


@pytest.fixture()
def status_events(aws: Callable[[str], Any]) -> Callable[[str], list[dict[str, Any]]]:
    """Events of the rule 'aws.states status changes' for one state machine, via an SQS target."""
    sqs, events = aws("sqs"), aws("events")

    def collect(state_machine_arn: str) -> Callable[[], list[dict[str, Any]]]:
        name = f"status-{next(_names)}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name=name,
            EventPattern=json.dumps(
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {"stateMachineArn": [state_machine_arn]},
                }
            ),
        )
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])

        def received() -> list[dict[str, Any]]:
            assert stepfunctions.flush_status_events(5)
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

        return received

    return collect  # type: ignore[return-value]


def test_status_change_events_reach_the_default_bus(sfn: Any, status_events: Any) -> None:
    arn = create_machine(sfn, pass_machine("big"))
    received = status_events(arn)
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"k": 1}')["executionArn"]
    wait_until_closed(sfn, execution_arn)

    running, succeeded = received()
    for event in (running, succeeded):
        assert event["source"] == "aws.states"
        assert event["detail-type"] == "Step Functions Execution Status Change"
        assert event["resources"] == [execution_arn]
        assert event["region"] == REGION  # (moto's SQS delivery drops "account": the events adapter's)
        assert set(event["detail"]) == {
            "executionArn",
            "stateMachineArn",
            "name",
            "status",
            "startDate",
            "stopDate",
            "input",
            "output",
            "stateMachineVersionArn",
            "stateMachineAliasArn",
            "redriveCount",
            "redriveDate",
            "redriveStatus",
            "redriveStatusReason",
            "inputDetails",
            "outputDetails",
            "error",
            "cause",
        }
    assert running["detail"]["status"] == "RUNNING"
    assert running["detail"]["stopDate"] is None and running["detail"]["output"] is None
    assert running["detail"]["input"] == '{"k": 1}'
    assert running["detail"]["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"
    detail = succeeded["detail"]
    assert detail["status"] == "SUCCEEDED" and detail["output"] == '"big"'
    assert detail["outputDetails"] == {"included": True}
    assert isinstance(detail["startDate"], int) and detail["stopDate"] >= detail["startDate"]
    assert detail["name"] == execution_arn.rsplit(":", 1)[1] and detail["stateMachineArn"] == arn


def test_status_change_events_for_failure_abort_and_redrive(sfn: Any, status_events: Any) -> None:
    arn = create_machine(
        sfn,
        {
            "StartAt": "Decide",
            "States": {
                "Decide": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Fail"}],
                    "Default": "Hold",
                },
                "Hold": {"Type": "Wait", "Seconds": 10**7, "End": True},
                "Fail": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"},
            },
        },
    )
    received = status_events(arn)
    failing = sfn.start_execution(stateMachineArn=arn, input='{"fail": true}')["executionArn"]
    wait_until_closed(sfn, failing)
    holding = sfn.start_execution(stateMachineArn=arn, input='{"fail": false}')["executionArn"]
    wait_until_in_state(sfn, holding, "WaitStateEntered")
    sfn.stop_execution(executionArn=holding, error="Stop", cause="operator")
    sfn.redrive_execution(executionArn=failing)
    wait_until_closed(sfn, failing)

    details = [e["detail"] for e in received()]
    summary = [(d["executionArn"], d["status"], d["redriveCount"]) for d in details]
    assert summary == [
        (failing, "RUNNING", 0),
        (failing, "FAILED", 0),
        (holding, "RUNNING", 0),
        (holding, "ABORTED", 0),
        (failing, "RUNNING", 1),
        (failing, "FAILED", 1),
    ]
    assert (details[1]["error"], details[1]["cause"], details[1]["redriveStatus"]) == (
        "Broken",
        "on purpose",
        "REDRIVABLE",
    )
    assert (details[3]["error"], details[3]["cause"]) == ("Stop", "operator")
    assert details[4]["redriveDate"] is not None


def test_a_failing_rule_target_does_not_break_the_execution(
    sfn: Any, aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.events.models import Rule

    attempted: list[str] = []

    def unsupported(self: Any, event: Any, *args: Any, **kwargs: Any) -> None:
        attempted.append(event["detail"]["status"])
        raise NotImplementedError("this target type")

    monkeypatch.setattr(Rule, "send_to_targets", unsupported)
    events = aws("events")
    events.put_rule(Name=f"broken-{next(_names)}", EventPattern='{"source": ["aws.states"]}')

    described = run(sfn, pass_machine(1))
    assert stepfunctions.flush_status_events(5)
    assert described["status"] == "SUCCEEDED"
    assert attempted[-2:] == ["RUNNING", "SUCCEEDED"]


# --- 8. machines created for CloudFormation --------------------------------------------


def test_create_executing_state_machine_runs_over_the_api(sfn: Any) -> None:
    name = f"from-cfn-{next(_names)}"
    definition = json.dumps(pass_machine({"from": "cloudformation"}))
    arn = stepfunctions.create_executing_state_machine(
        name,
        definition,
        ROLE_ARN,
        "STANDARD",
        {"level": "OFF"},
        None,
        [{"Key": "app", "Value": "stepdeploy"}],
        ACCOUNT_ID,
        REGION,
    )

    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == definition
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "app", "value": "stepdeploy"}]
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert json.loads(wait_until_closed(sfn, execution_arn)["output"]) == {"from": "cloudformation"}

    assert stepfunctions.create_executing_state_machine(name, definition, ROLE_ARN) == arn
    with pytest.raises(stepfunctions.StateMachineAlreadyExists):
        stepfunctions.create_executing_state_machine(name, json.dumps(pass_machine(2)), ROLE_ARN)
    stepfunctions.update_executing_state_machine(arn, definition=json.dumps(pass_machine(2)))
    execution_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert wait_until_closed(sfn, execution_arn)["output"] == "2"
    stepfunctions.delete_executing_state_machine(arn)
    with pytest.raises(ClientError):
        sfn.describe_state_machine(stateMachineArn=arn)


# --- 9. the ASL and API features the pipeline relies on ----------------------------------


def _pipeline_like_machine() -> dict[str, Any]:
    retry = [{"ErrorEquals": LAMBDA_TRANSIENT_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2}]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    return {
        "StartAt": "Resolve",
        "States": {
            "Resolve": {
                "Type": "Pass",
                "Parameters": {
                    "repo.$": "$.repository",
                    "key.$": "States.Format('artifacts/{}/{}.zip', $.repository, $.sha)",
                    "config.$": "States.StringToJson($.config)",
                    "merged.$": "States.JsonMerge($.defaults, $.overrides, false)",
                    "count.$": "States.ArrayLength($.functions)",
                    "execution.$": "$$.Execution.Id",
                },
                "ResultPath": "$.resolved",
                "Next": "Build",
            },
            "Build": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName": "build", "Payload": {"key.$": "$.resolved.key"}},
                "ResultSelector": {"artifact.$": "$.Payload.artifact", "status.$": "$.StatusCode"},
                "ResultPath": "$.build",
                "TimeoutSeconds": 900,
                "Retry": retry,
                "Catch": catch,
                "Next": "Changed?",
            },
            "Changed?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.build.artifact", "IsPresent": True},
                            {"Variable": "$.resolved.config.approve", "BooleanEquals": False},
                            {"Variable": "$.resolved.count", "NumericGreaterThan": 1},
                            {"Variable": "$.resolved.merged.stage", "StringEquals": "prod"},
                        ],
                        "Next": "Report",
                    },
                ],
                "Default": "NoChange",
            },
            "NoChange": {"Type": "Succeed"},
            "Report": {"Type": "Pass", "OutputPath": "$.build", "End": True},
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }


_PIPELINE_INPUT = {
    "repository": "org/app",
    "sha": "abc123",
    "config": '{"approve": false}',
    "defaults": {"stage": "dev", "memory": 128},
    "overrides": {"stage": "prod"},
    "functions": ["a", "b"],
}


def test_paths_intrinsics_and_choice_rules_as_the_pipeline_uses_them(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["build"] = lambda payload: {"artifact": payload["key"]}

    described = run(sfn, _pipeline_like_machine(), _PIPELINE_INPUT)

    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"artifact": "artifacts/org/app/abc123.zip", "status": 200}
    events = history(sfn, described["executionArn"])
    resolved = json.loads(
        [e for e in events if e["type"] == "PassStateExited"][0]["stateExitedEventDetails"]["output"]
    )["resolved"]
    assert resolved["config"] == {"approve": False}
    assert resolved["merged"] == {"stage": "prod", "memory": 128}
    assert resolved["count"] == 2
    assert resolved["execution"] == described["executionArn"]
    states, transitions = execution_coverage(events)
    assert states == {"Resolve", "Build", "Changed?", "Report"}
    assert ("Changed?", "Report") in transitions


def test_catch_keeps_the_input_and_the_fail_state_reports_error_and_cause(sfn: Any, lambdas: FakeLambdas) -> None:
    lambdas["build"] = lambda _p: (_ for _ in ()).throw(FunctionError("BuildFailed", "tests failed"))

    described = run(sfn, _pipeline_like_machine(), _PIPELINE_INPUT)

    assert described["status"] == "FAILED"
    assert described["error"] == "BuildFailed"
    assert json.loads(described["cause"]) == {"errorType": "BuildFailed", "errorMessage": "tests failed"}
    events = history(sfn, described["executionArn"])
    fail_input = json.loads(
        [e for e in events if e["type"] == "FailStateEntered"][0]["stateEnteredEventDetails"]["input"]
    )
    assert fail_input["repository"] == "org/app"  # the Catch kept the input
    assert fail_input["error"]["Error"] == "BuildFailed"
    _, transitions = execution_coverage(events)
    assert ("Build", "Failed") in transitions


def test_lambda_transient_errors_are_retried(sfn: Any, lambdas: FakeLambdas, speed: Callable[[float], None]) -> None:
    speed(3600)
    attempts = iter([FunctionError("Lambda.TooManyRequestsException", "slow down"), {"artifact": "x"}])

    def build(_payload: Any) -> Any:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    lambdas["build"] = build
    described = run(sfn, _pipeline_like_machine(), {**_PIPELINE_INPUT, "functions": ["a"]})
    assert described["status"] == "SUCCEEDED" and len(lambdas.payloads("build")) == 2


def test_a_choice_on_a_missing_field_fails_as_on_aws(sfn: Any) -> None:
    # moto takes the Default (here: a polling loop that would spin for ever).
    definition = {
        "StartAt": "Done?",
        "States": {
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.build.done", "BooleanEquals": True, "Next": "Finished"}],
                "Default": "Poll",
            },
            "Poll": {"Type": "Pass", "Next": "Done?"},
            "Finished": {"Type": "Succeed"},
        },
    }
    described = run(sfn, definition, {"build": {}})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert described["cause"] == (
        "An error occurred while executing the state 'Done?' (entered at the event id #2). "
        "Invalid path '$.build.done': The choice state's condition path references an invalid value."
    )
    present = {
        **definition,
        "States": {
            **definition["States"],
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.build.done", "IsPresent": False, "Next": "Finished"}],
                "Default": "Poll",
            },
        },
    }
    assert run(sfn, present, {"build": {}})["status"] == "SUCCEEDED"


def test_no_choice_matched_without_default(sfn: Any) -> None:
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Comment": "No default: on purpose",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}],
            },
            "One": {"Type": "Succeed"},
        },
    }
    described = run(sfn, definition, {"n": 2})
    assert (described["status"], described["error"]) == ("FAILED", "States.NoChoiceMatched")


def test_get_execution_history_reverse_order_and_pages(sfn: Any) -> None:
    described = run(
        sfn,
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Pass", "End": True},
            },
        },
    )
    execution_arn = described["executionArn"]
    everything = history(sfn, execution_arn)
    assert len(everything) == 8

    pages, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=3, reverseOrder=True, **kwargs)
        pages.append(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [e["id"] for p in pages for e in p] == list(range(8, 0, -1))
    assert sfn.get_execution_history(executionArn=execution_arn)["events"] == everything

    without_data = sfn.get_execution_history(executionArn=execution_arn, includeExecutionData=False)
    assert all("input" not in e.get("stateEnteredEventDetails", {}) for e in without_data["events"])
    with pytest.raises(ClientError) as raised:
        sfn.get_execution_history(executionArn=execution_arn, nextToken="garbage")
    assert raised.value.response["Error"]["Code"] == "InvalidToken"


def test_list_executions_status_filter(sfn: Any) -> None:
    arn = create_machine(
        sfn,
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "S"}],
                    "Default": "F",
                },
                "S": {"Type": "Succeed"},
                "F": {"Type": "Fail", "Error": "No"},
            },
        },
    )
    ok = sfn.start_execution(stateMachineArn=arn, input='{"ok": true}')["executionArn"]
    bad = sfn.start_execution(stateMachineArn=arn, input='{"ok": false}')["executionArn"]
    wait_until_closed(sfn, ok)
    wait_until_closed(sfn, bad)

    succeeded = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    failed = sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]

    assert [e["executionArn"] for e in succeeded] == [ok]
    assert [e["executionArn"] for e in failed] == [bad]
    assert failed[0]["name"] == bad.rsplit(":", 1)[1]
    assert "stopDate" in failed[0] and failed[0]["redriveCount"] == 0
    assert {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]} == {ok, bad}


def test_executions_of_one_definition_share_its_parse_but_not_their_retry_counts(
    sfn: Any, lambdas: FakeLambdas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepdeploy_localcloud.stepfunctions import parse_cache

    attempts: dict[str, int] = {}

    def flaky_twice(payload: Any) -> Any:
        who = payload["who"]
        attempts[who] = attempts.get(who, 0) + 1
        if attempts[who] <= 2:
            raise FunctionError("Transient", f"{who} attempt {attempts[who]}")
        return {"who": who, "attempts": attempts[who]}

    lambdas["flaky"] = flaky_twice
    definition = {
        "StartAt": "T",
        "States": {"T": lambda_task("flaky", OutputPath="$.value", End=True,
                                    Retry=[{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 2,
                                            "BackoffRate": 1.0}])},
    }
    arn = create_machine(sfn, definition)  # CreateStateMachine parses to validate; then count the executions'
    parses: list[str] = []
    parse = parse_cache.AmazonStateLanguageParser.parse

    def counted(definition: str) -> Any:
        parses.append(definition)
        return parse(definition)

    monkeypatch.setattr(parse_cache.AmazonStateLanguageParser, "parse", staticmethod(counted))
    started = [sfn.start_execution(stateMachineArn=arn, input=json.dumps({"who": who}))["executionArn"]
               for who in ("a", "b", "c")]
    described = [wait_until_closed(sfn, execution) for execution in started]

    # Each execution had its own two retries (MaxAttempts 2), though they ran one parsed program.
    assert [d["status"] for d in described] == ["SUCCEEDED"] * 3, [d.get("cause") for d in described]
    assert [json.loads(d["output"])["attempts"] for d in described] == [3, 3, 3]
    assert len(parses) == 1


# --- an execution listed before it has started ------------------------------------------------


def test_an_execution_listed_before_its_start_is_running_for_every_read(
    sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    arn = create_machine(sfn, pass_machine({"done": True}))
    listed, release = threading.Event(), threading.Event()
    make_worker = Execution._get_start_execution_worker

    def parked(self: Any) -> Any:
        listed.set()  # moto has appended the execution to its machine; start() has not run yet
        release.wait(10)
        return make_worker(self)

    monkeypatch.setattr(Execution, "_get_start_execution_worker", parked)
    started: dict[str, Any] = {}
    starter = threading.Thread(target=lambda: started.update(sfn.start_execution(stateMachineArn=arn)), daemon=True)
    starter.start()
    try:
        assert listed.wait(10), "StartExecution never reached the execution's start"
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        execution_arn = executions[0]["executionArn"]
        described = sfn.describe_execution(executionArn=execution_arn)
        events = history(sfn, execution_arn)
    finally:
        release.set()
        starter.join(10)
    assert [e["status"] for e in executions] == ["RUNNING"]
    assert [e["executionArn"] for e in running] == [execution_arn]
    assert described["status"] == "RUNNING"
    assert events == []
    assert started["executionArn"] == execution_arn
    assert wait_until_closed(sfn, execution_arn)["status"] == "SUCCEEDED"


def test_tasks_starting_together_share_one_client_per_service(moto_server: str) -> None:
    from stepdeploy_localcloud.stepfunctions import backend

    threads_count = 16
    barrier = threading.Barrier(threads_count)
    clients: list[Any] = []

    def first_task_call() -> None:
        barrier.wait(10)
        clients.append(backend.local_cloud_client(REGION, "sqs"))

    threads = [threading.Thread(target=first_task_call, daemon=True) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(clients) == threads_count
    assert len({id(client) for client in clients}) == 1
    assert clients[0].meta.endpoint_url == moto_server
    assert clients[0].list_queues().get("QueueUrls", []) is not None


# --- 10. The Step Functions service integration: a child execution per item -------------------
def test_start_execution_sync_2_runs_named_children_and_gives_their_output_or_failure(sfn: Any) -> None:
    definition = {"StartAt": "Child?", "States": {
        "Child?": {"Type": "Choice", "Choices": [{"Variable": "$.stage", "IsPresent": True, "Next": "Child"}],
                   "Default": "Stages"},
        "Child": {"Type": "Choice", "Choices": [{"Variable": "$.stage", "StringEquals": "bad", "Next": "Refuse"}],
                  "Default": "Deploy"},
        "Deploy": {"Type": "Pass", "Parameters": {"outcome": "Deployed", "stage.$": "$.stage"}, "End": True},
        "Refuse": {"Type": "Fail", "Error": "TestFailed", "Cause": "the smoke test failed"},
        "Stages": {"Type": "Map", "ItemsPath": "$.stages", "MaxConcurrency": 1,
                   "ItemSelector": {"stage.$": "$$.Map.Item.Value", "parent.$": "$$.Execution.Name"},
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Stage", "States": {
                       "Stage": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                                 "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id",
                                                "Name.$": "States.Format('{}-{}', $.parent, $.stage)",
                                                "Input": {"stage.$": "$.stage"}},
                                 "ResultSelector": {"outcome.$": "$.Output.outcome", "name.$": "$.Name",
                                                    "status.$": "$.Status"},
                                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                            "Next": "Stage failed"}],
                                 "End": True},
                       "Stage failed": {"Type": "Fail", "Error": "StageFailed", "CausePath": "$.error.Cause"}}},
                   "ResultPath": "$.results", "End": True}}}
    machine = create_machine(sfn, definition)
    good = sfn.start_execution(stateMachineArn=machine, name="p-good", input=json.dumps({"stages": ["dev", "prod"]}))
    done = wait_until_closed(sfn, good["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["results"] == [
        {"outcome": "Deployed", "name": "p-good-dev", "status": "SUCCEEDED"},
        {"outcome": "Deployed", "name": "p-good-prod", "status": "SUCCEEDED"},
    ]
    bad = sfn.start_execution(stateMachineArn=machine, name="p-bad", input=json.dumps({"stages": ["dev", "bad", "x"]}))
    failed = wait_until_closed(sfn, bad["executionArn"])
    assert failed["status"] == "FAILED" and failed["error"] == "StageFailed"
    child = json.loads(failed["cause"])
    assert (child["Name"], child["Status"], child["Error"]) == ("p-bad-bad", "FAILED", "TestFailed")
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert names == {"p-good", "p-good-dev", "p-good-prod", "p-bad", "p-bad-dev", "p-bad-bad"}  # never p-bad-x
