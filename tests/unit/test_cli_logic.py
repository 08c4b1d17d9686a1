"""The operator CLI's pure parts: reading histories, choosing a rollback target, replay input, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from typer.testing import CliRunner

from stepdeploy_cli.errors import CliError, OperatorGroup, explain
from stepdeploy_cli.executions import parse_since, trigger_of
from stepdeploy_cli.recovery import replay_input
from stepdeploy_cli.releases import choose_release, current_position
from stepdeploy_cli.watch import state_runs, timeline_rows

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SHA = "a" * 40


def event(kind: str, second: float, **details: object) -> dict[str, object]:
    key = {
        "TaskStateEntered": "stateEnteredEventDetails",
        "ChoiceStateEntered": "stateEnteredEventDetails",
        "WaitStateEntered": "stateEnteredEventDetails",
        "FailStateEntered": "stateEnteredEventDetails",
        "TaskStateExited": "stateExitedEventDetails",
        "ChoiceStateExited": "stateExitedEventDetails",
        "WaitStateExited": "stateExitedEventDetails",
    }.get(kind, kind[0].lower() + kind[1:] + "EventDetails")
    return {"type": kind, "timestamp": T0 + timedelta(seconds=second), key: details}


def test_retries_that_end_in_success_are_counted_not_failed():
    runs = state_runs([
        event("TaskStateEntered", 0, name="Package artifact"),
        event("TaskScheduled", 0),
        event("TaskFailed", 1, error="Lambda.ServiceException", cause="boom"),
        event("TaskScheduled", 3),
        event("TaskSucceeded", 4),
        event("TaskStateExited", 4, name="Package artifact"),
    ])
    assert [(r.name, r.status, r.attempts, r.retried) for r in runs] == [
        ("Package artifact", "done", 2, ["Lambda.ServiceException"])
    ]
    assert runs[0].seconds(T0) == 4.0


def test_a_fatal_failure_then_a_redrive_shows_both_runs():
    runs = state_runs([
        event("TaskStateEntered", 0, name="Package artifact"),
        event("TaskScheduled", 0),
        event("TaskFailed", 1, error="Lambda.ServiceException", cause="boom"),
        event("ExecutionFailed", 1, error="Lambda.ServiceException", cause="boom"),
        event("ExecutionRedriven", 10, redriveCount=1),
        event("TaskStateEntered", 10, name="Package artifact"),
        event("TaskScheduled", 10),
        event("TaskSucceeded", 11),
        event("TaskStateExited", 11, name="Package artifact"),
    ])
    assert [(r.status, r.redrive, r.failed) for r in runs] == [
        ("failed", 0, "Lambda.ServiceException"), ("done", 1, None)
    ]
    assert runs[0].result() == "FAILED: Lambda.ServiceException"


def test_a_caught_error_and_a_callback_wait_read_as_such():
    runs = state_runs([
        event("TaskStateEntered", 0, name="Check build"),
        event("TaskScheduled", 0),
        event("TaskFailed", 1, error="BuildFailed", cause="tests failed"),
        event("TaskStateExited", 1, name="Check build"),
        event("TaskStateEntered", 1, name="Wait for approval"),
        event("TaskScheduled", 1),
        event("TaskSubmitted", 2),
    ])
    assert [r.status for r in runs] == ["caught", "waiting"]
    assert runs[0].result() == "failed: BuildFailed (to the failure path)"


def test_poll_loops_are_one_timeline_row_per_state():
    history = [event("TaskStateEntered", 0, name="Start build"), event("TaskStateExited", 1, name="Start build")]
    for round_start in (1, 3, 5):
        history += [
            event("WaitStateEntered", round_start, name="Wait for build"),
            event("WaitStateExited", round_start + 1, name="Wait for build"),
            event("TaskStateEntered", round_start + 1, name="Check build"),
            event("TaskStateExited", round_start + 2, name="Check build"),
        ]
    rows = timeline_rows(state_runs(history), T0 + timedelta(seconds=10))
    assert [(r.first.name, r.visits, r.seconds) for r in rows] == [
        ("Start build", 1, 1.0), ("Wait for build", 3, 3.0), ("Check build", 3, 3.0)
    ]


def push_input() -> str:
    return json.dumps({"source": "ghe", "event": {"time": "2024-05-01T12:00:00Z", "detail": {
        "repository": "platform/orders", "ref": "refs/heads/main", "after": "b" * 40, "pusher": "ada",
        "head_commit_message": "Fix", "head_commit_timestamp": "2024-05-01T11:59:00Z"}}})


def test_trigger_of_a_push_and_an_upload():
    assert trigger_of(push_input()) == {"source": "ghe", "replay_of": None, "repository": "platform/orders",
                                        "branch": "main", "commit": "b" * 40, "pusher": "ada"}
    upload = json.dumps({"source": "s3", "event": {"detail": {"object": {"key": "uploads/platform/orders/r1.zip"}}}})
    assert trigger_of(upload)["repository"] == "platform/orders"
    assert trigger_of("not json") == {"source": None, "replay_of": None}


def test_replay_input_at_another_commit_is_stamped_now_and_names_its_original():
    described = {"name": "orders-main", "executionArn": "arn:x", "input": push_input()}
    now = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    replayed = replay_input(described, SHA.upper(), now)
    assert replayed["event"]["detail"]["after"] == SHA
    assert "head_commit_message" not in replayed["event"]["detail"]
    assert replayed["event"]["time"] == "2024-06-01T08:30:00Z" and replayed["replay_of"] == "arn:x"
    assert replay_input(described, None, now)["event"]["detail"] == json.loads(push_input())["event"]["detail"]
    with pytest.raises(CliError, match="40-hex-digit"):
        replay_input(described, "abc", now)
    upload = {**described, "input": json.dumps({"source": "s3", "event": {"detail": {}}})}
    with pytest.raises(CliError, match="uploaded artifact"):
        replay_input(upload, SHA, now)


def test_since_takes_a_duration_or_a_time():
    assert abs((datetime.now(UTC) - parse_since("2h")).total_seconds() - 7200) < 5
    assert parse_since("2024-05-01T12:00Z") == T0
    with pytest.raises(CliError, match="--since"):
        parse_since("last tuesday")


def release(name: str, outcome: str, greeter: str, **extra: object) -> dict[str, object]:
    versions = [{"function_name": "greeter", "alias": "live", "version": greeter}] if greeter else []
    return {"execution_name": name, "outcome": outcome, "versions": versions, **extra}


def test_rollback_goes_to_the_deployed_release_before_the_current_one():
    records = [  # newest first, as the ledger lists them
        release("d4", "Deployed", "4"),
        release("f3", "BuildFailed", ""),
        release("d3", "Deployed", "3"),
        release("d2", "Deployed", "2"),
    ]
    assert current_position(records) == 0
    assert choose_release(records, {"greeter": "4"}, "orders")["execution_name"] == "d3"
    rolled = [release("rb", "RolledBack", "3", rolled_back_to="d3"), *records]
    assert current_position(rolled) == 3  # the release it restored
    assert choose_release(rolled, {"greeter": "3"}, "orders")["execution_name"] == "d2"
    with pytest.raises(CliError, match="pass --release ID or --to VERSION"):
        choose_release([release("d1", "Deployed", "1")], {"greeter": "1"}, "orders")


def test_errors_are_one_line_with_an_exit_code():
    assert explain(NoCredentialsError()).code == 2
    assert "cannot reach http://127.0.0.1:9" in explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")).message
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "RedriveExecution")
    assert explain(denied).message == "not allowed to call RedriveExecution: no" and explain(denied).code == 1


def test_an_unexpected_exception_prints_no_traceback(monkeypatch):
    app = typer.Typer(cls=OperatorGroup, pretty_exceptions_enable=False)

    @app.command()
    def explode() -> None:
        raise RuntimeError("the disk is on fire")

    @app.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["explode"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: unexpected RuntimeError: the disk is on fire" in result.stderr
    monkeypatch.setenv("STEPDEPLOY_DEBUG", "1")
    assert isinstance(CliRunner().invoke(app, ["explode"]).exception, RuntimeError)


def test_a_listing_prints_json_or_says_there_is_none_else_leaves_the_table_to_the_command(capsys):
    from stepdeploy_cli.output import printed_json_or_none

    assert printed_json_or_none([], json_output=True, none="no releases recorded yet")
    assert json.loads(capsys.readouterr().out) == []
    assert printed_json_or_none([], json_output=False, none="no releases recorded yet")
    assert capsys.readouterr().out.strip() == "no releases recorded yet"
    assert not printed_json_or_none([{"stack": "orders"}], json_output=False, none="no releases recorded yet")
    assert capsys.readouterr().out == ""
