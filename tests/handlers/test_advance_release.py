"""Advance release (stepdeploy's step engine) against moto's Lambda, CloudWatch and the ledger.

The by-version metrics are put here with put_metric_data, under the dimensions Lambda uses for an
alias's versions, as the invocations of each step would have made them.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy.aws.ledger import ledger
from stepdeploy.aws.version_metrics import dimensions
from stepdeploy.errors import DeploymentRolledBack
from stepdeploy.models import iso

from .deploy_support import (
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    execution_of,
    run,
    shifted_document,
)

pytestmark = pytest.mark.handler

STEPS = {"steps": [10, 50, 100], "pause_minutes": 5, "analysis": {"min_invocations": 20}}
STACK = "sample-prod"


def execution(name: str = "demo-2") -> dict[str, Any]:
    context = execution_of("publish_versions", name)
    context["state"] = "Advance release"
    return context


def released(aws: Any, **deployment: Any) -> dict[str, Any]:
    document = shifted_document(aws, strategy=STEPS, **deployment)
    assert [f for f in document["versions"]["functions"] if f["changed"] and f["previous_version"]]
    return document


def functions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["versions"]["functions"]
            if f["changed"] and not f["alias_created"] and f["previous_version"] not in (None, f["version"])]


def alias(aws: Any, function: dict[str, Any]) -> tuple[str, dict[str, float]]:
    answer = aws.client("lambda").get_alias(FunctionName=function["function_name"], Name=function["alias"])
    return answer["FunctionVersion"], dict((answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


def advance(document: dict[str, Any]) -> dict[str, Any]:
    return run("advance_release", document, execution())


def earlier(document: dict[str, Any], minutes: int = 5) -> dict[str, Any]:
    """The step began ``minutes`` ago (its pause is over)."""
    document = copy.deepcopy(document)
    document["progress"]["step_started_at"] = iso(datetime.now(UTC) - timedelta(minutes=minutes))
    return document


def invoked(aws: Any, document: dict[str, Any], *, new: int, new_errors: int = 0, old: int = 100) -> None:
    stamp = datetime.now(UTC) - timedelta(seconds=30)
    for function in functions(document):
        for version, count, errors in ((function["version"], new, new_errors), (function["previous_version"], old, 0)):
            dims = dimensions(function["function_name"], function["alias"], version)
            aws.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": "Invocations", "Value": float(count), "Unit": "Count", "Timestamp": stamp,
                 "Dimensions": dims},
                {"MetricName": "Errors", "Value": float(errors), "Unit": "Count", "Timestamp": stamp,
                 "Dimensions": dims},
            ])


def test_the_first_call_moves_every_alias_to_the_first_step_and_opens_the_control_record(deploy_aws):
    document = advance(released(deploy_aws))
    progress = document["progress"]
    assert (progress["step"], progress["percent"], progress["status"]) == (0, 10, "running")
    assert progress["wait_seconds"] == 300 and not progress["done"]
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["previous_version"], {function["version"]: 0.1})
    control = ledger().progress(STACK)
    assert control["execution_arn"] == execution()["Id"] and control["percent"] == 10
    assert [e["type"] for e in ledger().journal_of(STACK, "demo-2")] == ["step"]


def test_a_step_with_healthy_new_versions_passes_to_the_next(deploy_aws):
    document = advance(released(deploy_aws))
    invoked(deploy_aws, document, new=40)
    document = advance(earlier(document))
    assert document["progress"]["percent"] == 50
    assert document["progress"]["judgements"][0]["verdict"] == "Pass"
    judgement = next(e for e in ledger().journal_of(STACK, "demo-2") if e["type"] == "judgement")
    assert judgement["functions"][0]["new"]["invocations"] == 40  # its numbers are in the ledger


def test_the_last_step_serves_the_new_versions_alone(deploy_aws):
    document = advance(released(deploy_aws))
    for _ in range(2):
        invoked(deploy_aws, document, new=40)
        document = advance(earlier(document))
    assert document["progress"]["done"] and document["progress"]["percent"] == 100
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["version"], {})
    assert ledger().progress(STACK)["status"] == "done"


def test_a_regression_rolls_every_alias_back(deploy_aws):
    document = advance(released(deploy_aws))
    invoked(deploy_aws, document, new=40, new_errors=10)
    with pytest.raises(DeploymentRolledBack, match=r"release judged at 10%: Fail: .*error rate 25.00%"):
        advance(earlier(document))
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["previous_version"], {})
    assert [e["type"] for e in ledger().journal_of(STACK, "demo-2")] == ["step", "judgement", "rollback"]


def test_too_few_invocations_pause_the_release_for_a_person(deploy_aws):
    document = advance(released(deploy_aws))
    invoked(deploy_aws, document, new=3)
    document = advance(earlier(document))
    progress = document["progress"]
    assert (progress["status"], progress["paused_reason"], progress["percent"]) == ("paused", "inconclusive", 10)
    assert progress["wait_seconds"] == 3600
    again = advance(document)  # the paused wait's reconciling look: nothing changes
    assert again["progress"]["status"] == "paused" and again["progress"]["percent"] == 10
    assert ledger().command_progress(STACK, execution()["Id"], {"verb": "resume", "by": "ada", "at": iso()})
    resumed = advance(again)["progress"]
    assert (resumed["status"], resumed["percent"]) == ("running", 50)  # approved: the next step
    commands = [e for e in ledger().journal_of(STACK, "demo-2") if e["type"] == "command"]
    assert commands[0]["verb"] == "resume" and commands[0]["by"] == "ada"
    assert "command" not in ledger().progress(STACK)


def test_promote_goes_to_100_percent_at_once(deploy_aws):
    document = advance(released(deploy_aws))
    ledger().command_progress(STACK, execution()["Id"], {"verb": "promote", "by": "ada", "at": iso()})
    progress = advance(document)["progress"]
    assert progress["done"] and progress["percent"] == 100
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["version"], {})


def test_abort_rolls_back_now_and_says_who(deploy_aws):
    document = advance(released(deploy_aws))
    ledger().command_progress(STACK, execution()["Id"], {"verb": "abort", "by": "ada", "at": iso()})
    with pytest.raises(DeploymentRolledBack, match="release aborted by ada at 10%"):
        advance(document)
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["previous_version"], {})
    assert ledger().progress(STACK)["status"] == "done"
    assert not ledger().command_progress(STACK, execution()["Id"], {"verb": "pause", "by": "ada", "at": iso()})


def test_pause_then_resume_restarts_the_step_s_pause(deploy_aws):
    document = advance(released(deploy_aws))
    ledger().command_progress(STACK, execution()["Id"], {"verb": "pause", "by": "ada", "at": iso()})
    document = advance(document)
    assert document["progress"]["status"] == "paused" and document["progress"]["paused_reason"] == "operator"
    ledger().command_progress(STACK, execution()["Id"], {"verb": "resume", "by": "ada", "at": iso()})
    progress = advance(document)["progress"]
    assert (progress["status"], progress["percent"], progress["wait_seconds"]) == ("running", 10, 300)


def test_an_alarm_already_firing_does_not_block_but_a_new_one_fails(deploy_aws):
    cloudwatch = deploy_aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="GreeterErrorsAlarm", StateValue="ALARM", StateReason="before the release")
    document = advance(released(deploy_aws, alarms=["GreeterErrorsAlarm"]))
    assert list(document["progress"]["alarms_at_start"]) == ["GreeterErrorsAlarm"]
    invoked(deploy_aws, document, new=40)
    document = advance(earlier(document))
    assert document["progress"]["percent"] == 50  # the old trouble did not count
    cloudwatch.set_alarm_state(AlarmName="GreeterErrorsAlarm", StateValue="OK", StateReason="fixed")
    cloudwatch.set_alarm_state(AlarmName="GreeterErrorsAlarm", StateValue="ALARM", StateReason="the new version")
    invoked(deploy_aws, document, new=40)
    with pytest.raises(DeploymentRolledBack, match="alarm GreeterErrorsAlarm in ALARM since the release began"):
        advance(earlier(document))


def test_a_codedeploy_strategy_is_not_the_step_engine_s(deploy_aws):
    document = shifted_document(deploy_aws)
    with pytest.raises(ValueError, match=r"strategy of \{steps: \[...\]\} only"):
        run("advance_release", document, execution())


def test_a_failed_execution_leaves_no_release_half_way(deploy_aws):
    from stepdeploy.models import Document
    from stepdeploy.tasks.advance_release import abandon_release

    document = advance(released(deploy_aws))
    moved = abandon_release(Document.model_validate(document), execution()["Id"], "the execution failed: X")
    assert len(moved) == len(functions(document)) > 0
    for function in functions(document):
        assert alias(deploy_aws, function) == (function["previous_version"], {})
    assert ledger().progress(STACK)["status"] == "done"
    assert ledger().journal_of(STACK, "demo-2")[-1]["reason"] == "the execution failed: X"
    done = {**document, "progress": {**document["progress"], "done": True}}
    assert abandon_release(Document.model_validate(done), execution()["Id"], "again") == []  # finished: untouched
