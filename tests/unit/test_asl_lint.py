"""stepdeploy_dev.asl_lint: one small broken definition per rule, the CLI, and execution coverage."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_dev.asl_coverage import coverage_report
from stepdeploy_dev.asl_lint import LAMBDA_TRANSIENT_ERRORS, execution_coverage, lint_asl, main

pytestmark = pytest.mark.unit

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def good_task(next_state: str = "Done", **overrides: Any) -> dict[str, Any]:
    task = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": "${BuildFunctionArn}", "Payload.$": "$"},
        "TimeoutSeconds": 900,
        "Retry": [
            {"ErrorEquals": list(LAMBDA_TRANSIENT_ERRORS), "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2}
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
        "Next": next_state,
    }
    task.update(overrides)
    return task


def good_machine() -> dict[str, Any]:
    return {
        "StartAt": "Build",
        "States": {
            "Build": good_task(next_state="Changed?"),
            "Changed?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.changed", "BooleanEquals": True, "Next": "Approve"}],
                "Default": "Done",
            },
            "Approve": good_task(
                next_state="Done",
                Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
                Parameters={"FunctionName": "${ApproveFunctionArn}", "Payload": {"token.$": "$$.Task.Token"}},
                HeartbeatSeconds=3600,
                TimeoutSeconds=86400,
            ),
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }


SUBSTITUTIONS = {
    "BuildFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:build",
    "ApproveFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:approve",
}


def lint_with(change: Any, substitutions: dict[str, str] | None = None) -> list[str]:
    machine = good_machine()
    change(machine)
    return lint_asl(machine, substitutions)


def test_a_good_machine_passes() -> None:
    assert lint_asl(good_machine()) == []
    assert lint_asl(good_machine(), SUBSTITUTIONS) == []


def test_next_to_a_missing_state() -> None:
    messages = lint_with(lambda m: m["States"]["Build"].update(Next="Deploy"))
    assert any('State "Build": Next "Deploy" does not exist' in m for m in messages), messages


def test_default_choice_and_catch_targets_must_exist() -> None:
    def change(machine: dict[str, Any]) -> None:
        choice = machine["States"]["Changed?"]
        choice["Default"] = "Nowhere"
        choice["Choices"][0]["Next"] = "Elsewhere"
        machine["States"]["Build"]["Catch"][0]["Next"] = "Lost"

    messages = lint_with(change)
    assert any('"Changed?": Default "Nowhere" does not exist' in m for m in messages)
    assert any('"Changed?": Choices[0].Next "Elsewhere" does not exist' in m for m in messages)
    assert any('"Build": Catch[0].Next "Lost" does not exist' in m for m in messages)


def test_start_at_must_exist() -> None:
    assert any('StartAt "Begin" is not a state' in m for m in lint_with(lambda m: m.update(StartAt="Begin")))
    assert any("StartAt is missing" in m for m in lint_with(lambda m: m.pop("StartAt")))


def test_every_state_is_reachable() -> None:
    messages = lint_with(lambda m: m["States"].update(Orphan={"Type": "Pass", "End": True}))
    assert messages == ['State "Orphan": not reachable from StartAt "Build"']


def test_at_least_one_terminal_state() -> None:
    machine = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    assert any("no terminal state" in m for m in lint_asl(machine))


def test_next_and_end() -> None:
    machine = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B", "End": True},
            "B": {"Type": "Pass"},
            "C": {"Type": "Succeed", "Next": "A"},
        },
    }
    messages = lint_asl(machine)
    assert any('State "A": has both Next and End' in m for m in messages)
    assert any('State "B": has neither Next nor "End": true' in m for m in messages)
    assert any('State "C": a Succeed state takes neither Next nor End' in m for m in messages)


def test_placeholders_need_substitutions_and_substitutions_need_placeholders() -> None:
    messages = lint_asl(good_machine(), {"BuildFunctionArn": "x", "TableName": "t"})
    assert messages == [
        'placeholder "${ApproveFunctionArn}" has no substitution in DefinitionSubstitutions (used in State "Approve")',
        'substitution "TableName" in DefinitionSubstitutions is not used by the definition',
    ]


def test_placeholders_are_not_checked_without_substitutions() -> None:
    assert lint_asl(good_machine(), None) == []


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("TimeoutSeconds", 'State "Build": a Task needs TimeoutSeconds (or TimeoutSecondsPath)'),
        ("Retry", 'State "Build": a Task needs a Retry'),
        ("Catch", 'State "Build": a Task needs a Catch'),
    ],
)
def test_every_task_needs_a_timeout_a_retry_and_a_catch(field: str, expected: str) -> None:
    messages = lint_with(lambda m: m["States"]["Build"].pop(field))
    assert len(messages) == 1 and messages[0].startswith(expected), messages


def test_timeout_seconds_path_counts_as_a_timeout() -> None:
    def change(machine: dict[str, Any]) -> None:
        machine["States"]["Build"].pop("TimeoutSeconds")
        machine["States"]["Build"]["TimeoutSecondsPath"] = "$.timeout"

    assert lint_with(change) == []


def test_lambda_retry_must_cover_the_transient_errors() -> None:
    def change(machine: dict[str, Any]) -> None:
        machine["States"]["Build"]["Retry"] = [
            {"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException"]},
            {"ErrorEquals": ["Lambda.SdkClientException"]},
        ]

    assert lint_with(change) == [
        'State "Build": Retry does not cover the transient Lambda errors Lambda.TooManyRequestsException'
    ]


def test_retry_of_states_all_covers_the_transient_errors() -> None:
    assert lint_with(lambda m: m["States"]["Build"].update(Retry=[{"ErrorEquals": ["States.ALL"]}])) == []


def test_lambda_function_arn_resources_count_as_lambda_tasks() -> None:
    def change(machine: dict[str, Any]) -> None:
        build = machine["States"]["Build"]
        build["Resource"] = "${BuildFunctionArn}"
        build.pop("Parameters")
        build["Retry"] = [{"ErrorEquals": ["Custom"]}]

    messages = lint_with(change, SUBSTITUTIONS)
    assert len(messages) == 1 and "Lambda.ServiceException" in messages[0]


def test_non_lambda_tasks_need_no_lambda_retry() -> None:
    def change(machine: dict[str, Any]) -> None:
        machine["States"]["Build"].update(
            Resource="arn:aws:states:::codebuild:startBuild.sync",
            Retry=[{"ErrorEquals": ["CodeBuild.CodeBuildException"]}],
        )

    assert lint_with(change) == []


def test_wait_for_task_token_needs_heartbeat_seconds() -> None:
    messages = lint_with(lambda m: m["States"]["Approve"].pop("HeartbeatSeconds"))
    assert len(messages) == 1
    assert messages[0].startswith(
        'State "Approve": a .waitForTaskToken Task needs HeartbeatSeconds (or HeartbeatSecondsPath)'
    )

    def documented(machine: dict[str, Any]) -> None:
        machine["States"]["Approve"].pop("HeartbeatSeconds")
        machine["States"]["Approve"]["Comment"] = "No heartbeat: a person answers, TimeoutSeconds bounds it"

    assert lint_with(documented) == []


def test_choice_needs_a_default_or_a_documented_reason() -> None:
    messages = lint_with(lambda m: m["States"]["Changed?"].pop("Default"))
    assert len(messages) == 1 and messages[0].startswith('State "Changed?": a Choice state without Default')

    def documented(machine: dict[str, Any]) -> None:
        choice = machine["States"]["Changed?"]
        choice.pop("Default")
        choice["Comment"] = "No default: $.changed is always a boolean"
        choice["Choices"].append({"Variable": "$.changed", "BooleanEquals": False, "Next": "Done"})

    assert lint_with(documented) == []

    def vague(machine: dict[str, Any]) -> None:
        machine["States"]["Changed?"].pop("Default")
        machine["States"]["Changed?"]["Comment"] = "the default path is below"

    assert len(lint_with(vague)) == 1


def test_state_names_are_at_most_80_characters() -> None:
    long_name = "N" * 81

    def change(machine: dict[str, Any]) -> None:
        machine["States"][long_name] = machine["States"].pop("Done")
        machine["States"]["Build"]["Next"] = "Changed?"
        machine["States"]["Changed?"]["Default"] = long_name
        machine["States"]["Approve"]["Next"] = long_name

    assert lint_with(change) == [f'State "{long_name}": the name is 81 characters long, the limit is 80']


def test_nested_parallel_branches_are_checked() -> None:
    machine = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}],
            }
        },
    }
    assert any('State "Both" branch 0: State "X": Next "Y" does not exist' in m for m in lint_asl(machine))


def test_not_an_object() -> None:
    assert lint_asl([]) == ["the definition must be a JSON object, got list"]  # type: ignore[arg-type]


# --- the command line ------------------------------------------------------------------


TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Pipeline:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/deploy.asl.json
      DefinitionSubstitutions:
        BuildFunctionArn: !GetAtt BuildFunction.Arn
        ApproveFunctionArn: !Sub "${ApproveFunction.Arn}"
      Role: !GetAtt [PipelineRole, Arn]
      Tags: !If [IsProd, {team: deploy}, !Ref AWS::NoValue]
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "statemachines").mkdir()
    (tmp_path / "statemachines" / "deploy.asl.json").write_text(json.dumps(good_machine()))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path


def test_cli_passes_a_good_file_with_template_substitutions(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asl = project / "statemachines" / "deploy.asl.json"
    assert main([str(asl), "--substitutions-from", str(project / "template.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


def test_cli_exits_1_with_the_messages(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asl = project / "statemachines" / "deploy.asl.json"
    broken = good_machine()
    broken["States"]["Build"]["Next"] = "Deploy"
    broken["States"]["Build"]["Parameters"]["FunctionName"] = "${Missing}"
    asl.write_text(json.dumps(broken))

    assert main([str(asl), "--substitutions-from", str(project / "template.yaml")]) == 1

    out = capsys.readouterr().out
    assert 'State "Build": Next "Deploy" does not exist' in out
    assert 'placeholder "${Missing}" has no substitution' in out
    assert 'substitution "BuildFunctionArn" in DefinitionSubstitutions is not used' in out


def test_cli_without_a_template_yet(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asl = project / "statemachines" / "deploy.asl.json"
    assert main([str(asl), "--substitutions-from", str(project / "missing.yaml")]) == 0
    assert "placeholders not checked" in capsys.readouterr().err


def test_cli_names_the_template_that_does_not_load_the_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = project / "statemachines" / "other.asl.json"
    other.write_text(json.dumps(good_machine()))
    assert main([str(other), "--substitutions-from", str(project / "template.yaml")]) == 1
    assert "no state machine with DefinitionUri" in capsys.readouterr().out


def test_cli_reports_invalid_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asl = tmp_path / "bad.asl.json"
    asl.write_text('{"StartAt": ')
    assert main([str(asl)]) == 1
    assert "not valid JSON" in capsys.readouterr().out


# --- execution coverage ----------------------------------------------------------------


def entered(event_id: int, name: str, kind: str = "Task") -> dict[str, Any]:
    return {"id": event_id, "type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def event(event_id: int, kind: str) -> dict[str, Any]:
    return {"id": event_id, "type": kind}


def test_execution_coverage_counts_states_and_transitions_including_catch() -> None:
    events = [
        event(1, "ExecutionStarted"),
        entered(2, "Build"),
        event(3, "TaskScheduled"),
        event(4, "TaskFailed"),
        event(5, "TaskStateExited"),
        entered(6, "Failed", "Fail"),
        event(7, "ExecutionFailed"),
    ]
    states, transitions = execution_coverage(list(reversed(events)))  # reverseOrder histories too
    assert states == {"Build", "Failed"}
    assert transitions == {("Build", "Failed")}


def test_execution_coverage_does_not_invent_a_transition_on_redrive() -> None:
    events = [
        event(1, "ExecutionStarted"),
        entered(2, "Prepare", "Pass"),
        entered(3, "Build"),
        event(4, "ExecutionFailed"),
        event(5, "ExecutionRedriven"),
        entered(6, "Build"),
        entered(7, "Done", "Succeed"),
        event(8, "ExecutionSucceeded"),
    ]
    states, transitions = execution_coverage(events)
    assert states == {"Prepare", "Build", "Done"}
    assert transitions == {("Prepare", "Build"), ("Build", "Done")}


def test_coverage_report_lists_what_no_execution_reached() -> None:
    machine = good_machine()
    run = [entered(1, "Build"), entered(2, "Changed?", "Choice"), entered(3, "Done", "Succeed")]
    report = coverage_report(machine, [run])
    assert report["states_not_entered"] == ["Approve", "Failed"]
    assert ("Build", "Failed") in report["transitions_not_taken"]
    assert report["transitions_taken"] == 2 and report["transitions"] == 6
    assert copy.deepcopy(machine) == good_machine()  # untouched
