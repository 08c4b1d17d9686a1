"""Pipelines of stages: the configuration, the deployment window and the gates, on a clock the test drives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stepdeploy.app_config.stage_window import AllowedRange
from stepdeploy.app_config.target_config import Gates, PipelineTarget, Target, parse_config
from stepdeploy.errors import ConfigurationError, StageGateFailed
from stepdeploy.release.stage_gates import (
    MAX_WAIT_SECONDS,
    SOAK_CHECK_SECONDS,
    soak_decision,
    verdict_of_test,
    window_decision,
)
from stepdeploy.tasks.check_stage_gates import child_name

pytestmark = pytest.mark.unit

PIPELINE = """
version: 1
targets:
  - branch: main
    name: shop
    concurrency: queued
    pipeline:
      - {name: dev, stack: shop-dev, parameters: {Greeting: Hi}}
      - name: staging
        stack: shop-staging
        account: "111122223333"
        region: eu-west-1
        gates: {test: {function: SmokeTestFunction}, soak_minutes: 10}
      - name: production
        stack: shop-prod
        approval: {required: true}
        deployment: {strategy: LambdaCanary10Percent5Minutes, alarms: [ErrorsAlarm], bake_minutes: 5}
        gates:
          window:
            timezone: Europe/Paris
            allow: ["mon-fri 09:00-17:00"]
            freeze: [{from: "2026-12-21 00:00", to: "2027-01-04 00:00"}]
  - branch: "feature/*"
    stack: shop-feature
"""
PARIS = ZoneInfo("Europe/Paris")


def test_a_pipeline_target_expands_to_one_single_stack_target_per_stage():
    config = parse_config(PIPELINE)
    pipeline = config.target_for("main")
    assert isinstance(pipeline, PipelineTarget) and pipeline.pipeline_name == "shop"
    dev, staging, production = pipeline.stage_targets()
    assert (dev.stack, dev.environment, dev.parameters, dev.concurrency) == ("shop-dev", "dev", {"Greeting": "Hi"},
                                                                             "queued")
    assert (staging.account, staging.region) == ("111122223333", "eu-west-1")
    assert production.approval.required and production.deployment.bake_minutes == 5
    assert config.pipeline("shop") is pipeline
    single = config.target_for("feature/x")
    assert isinstance(single, Target) and single.stack == "shop-feature"  # single-stack targets unchanged


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ("[{name: dev, stack: a}, {name: dev, stack: b}]", "targets[0]: expected stage names that are all different"),
        ("[{name: dev, stack: a}, {name: prod, stack: a}]", "targets[0]: expected stacks that are all different"),
        ("[{name: dev, stack: a, gates: {test: {function: T}}}]", "no test or soak gate on the first stage ('dev')"),
        ("[{name: dev, stack: a, gates: {soak_minutes: 5}}]", "no test or soak gate on the first stage"),
        ("[]", "targets[0].pipeline: expected at least 1 item"),
        ("[{name: Dev, stack: a}]", "targets[0].pipeline[0].name: expected a stage name"),
        ("[{name: dev, stak: a}]", "targets[0].pipeline[0].stak: is not a known key"),
        ("[{name: dev}]", "targets[0].pipeline[0].stack: is required"),
        ("[{name: dev, stack: a, account: 12345}]", "targets[0].pipeline[0].account: expected an AWS account id"),
        ("[{name: dev, stack: '1a'}]", "targets[0].pipeline[0].stack: expected a CloudFormation stack name"),
        ("[{name: dev, stack: a, region: mars}]", "targets[0].pipeline[0].region: expected an AWS region name"),
        ("[{name: dev, stack: a, parameters: {'a-b': 1}}]", "targets[0].pipeline[0].parameters: expected parameter"),
        ("[{name: dev, stack: a}, {name: p, stack: b, gates: {test: {function: 'a b'}}}]",
         "targets[0].pipeline[1].gates.test.function: expected a function's logical id or name"),
        ("[{name: dev, stack: a}, {name: p, stack: b, gates: {test: {command: make test}}}]",
         "targets[0].pipeline[1].gates.test.command: is not a known key"),
        ("[{name: dev, stack: a, gates: {window: {timezone: Mars/Base}}}]",
         "targets[0].pipeline[0].gates.window.timezone: expected an IANA time zone"),
        ("[{name: dev, stack: a, gates: {window: {allow: ['weekdays 9-5']}}}]",
         "targets[0].pipeline[0].gates.window.allow: expected '<days> HH:MM-HH:MM'"),
        ("[{name: dev, stack: a, gates: {window: {allow: ['mon-fri 17:00-09:00']}}}]",
         "a range whose end is after its start"),
        ("[{name: dev, stack: a, gates: {window: {freeze: [{from: '2027-01-04 00:00', to: '2026-12-21 00:00'}]}}}]",
         "a freeze whose 'to' is after its 'from'"),
        ("[{name: dev, stack: a, gates: {window: {outside: skip}}}]",
         "targets[0].pipeline[0].gates.window.outside: expected 'wait' or 'fail'"),
    ],
)
def test_hostile_stage_configs_name_the_key_and_the_expectation(stages, expected):
    with pytest.raises(ConfigurationError) as error:
        parse_config(f"version: 1\ntargets: [{{branch: main, pipeline: {stages}}}]", file="stepdeploy.yml")
    assert str(error.value).startswith("stepdeploy.yml: ")
    assert expected in str(error.value)


def test_a_stack_in_two_targets_is_refused_across_pipelines():
    with pytest.raises(ConfigurationError, match="stack 'shop-dev' is the target of two branch patterns"):
        parse_config("version: 1\ntargets: [{branch: main, pipeline: [{name: dev, stack: shop-dev}]},"
                     " {branch: dev, stack: shop-dev}]")


def test_allowed_ranges():
    business = AllowedRange.parse("mon-fri 09:00-17:00")
    assert business.contains(datetime(2026, 12, 7, 9, 0, tzinfo=PARIS))  # a Monday
    assert not business.contains(datetime(2026, 12, 7, 17, 0, tzinfo=PARIS))
    assert not business.contains(datetime(2026, 12, 5, 12, 0, tzinfo=PARIS))  # a Saturday
    assert AllowedRange.parse("fri-mon 00:00-24:00").contains(datetime(2026, 12, 6, 23, 59, tzinfo=PARIS))
    assert AllowedRange.parse("sat,sun 10:00-12:00").days == frozenset({5, 6})


def test_window_opens_at_the_next_allowed_time_and_after_a_freeze():
    window = parse_config(PIPELINE).target_for("main").pipeline[2].gates.window.window()  # type: ignore[union-attr]
    monday_noon = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    assert window.next_open(monday_noon) == monday_noon
    friday_evening = datetime(2026, 12, 11, 17, 30, tzinfo=PARIS)
    assert window.next_open(friday_evening) == datetime(2026, 12, 14, 9, 0, tzinfo=PARIS)
    in_the_freeze = datetime(2026, 12, 22, 10, 0, tzinfo=PARIS)
    assert window.next_open(in_the_freeze) == datetime(2027, 1, 4, 9, 0, tzinfo=PARIS)


def _gates(**window: object) -> Gates:
    return Gates.model_validate({"window": {"timezone": "Europe/Paris", "allow": ["mon-fri 09:00-17:00"], **window}})


def test_window_decision_waits_cheaply_or_fails_when_configured():
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=PARIS)
    assert window_decision(Gates(), "prod", saturday) is None
    waiting = window_decision(_gates(), "prod", saturday)
    assert waiting is not None and waiting.wait_seconds == MAX_WAIT_SECONDS  # checked again hourly
    assert "2026-12-07T09:00:00+01:00" in waiting.reason and waiting.gate == "window"
    sunday_late = datetime(2026, 12, 7, 8, 30, tzinfo=PARIS)
    assert window_decision(_gates(), "prod", sunday_late).wait_seconds == 1800  # type: ignore[union-attr]
    assert window_decision(_gates(), "prod", datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)) is None
    with pytest.raises(StageGateFailed, match="stage prod: outside its deployment window.*'fail'"):
        window_decision(_gates(outside="fail"), "prod", saturday)


def test_soak_waits_with_the_alarms_watched_then_opens():
    gates = Gates(soak_minutes=10)
    deployed = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    early = soak_decision(gates, "prod", "staging", deployed, deployed + timedelta(minutes=1), {})
    assert early is not None and early.wait_seconds == SOAK_CHECK_SECONDS and early.gate == "soak"
    late = soak_decision(gates, "prod", "staging", deployed, deployed + timedelta(minutes=9, seconds=30), {})
    assert late is not None and late.wait_seconds == 30
    assert soak_decision(gates, "prod", "staging", deployed, deployed + timedelta(minutes=10), {}) is None
    with pytest.raises(StageGateFailed, match="an alarm of stage staging fired during the soak: Errors: 5 > 0"):
        soak_decision(gates, "prod", "staging", deployed, deployed, {"Errors": "5 > 0"})
    with pytest.raises(StageGateFailed, match="no release of this commit on stage staging"):
        soak_decision(gates, "prod", "staging", None, deployed, {})
    assert soak_decision(Gates(), "prod", "staging", None, deployed, {"Errors": "x"}) is None


def test_verdicts_of_tests():
    assert verdict_of_test("prod", "staging", "Smoke", {"passed": True, "message": "3 checks"}) == (
        "test Smoke passed against stage staging: 3 checks")
    with pytest.raises(StageGateFailed, match="test Smoke failed against stage staging: greeting wrong"):
        verdict_of_test("prod", "staging", "Smoke", {"passed": False, "message": "greeting wrong"})
    with pytest.raises(StageGateFailed, match=r"expected \{\"passed\": true\|false\}"):
        verdict_of_test("prod", "staging", "Smoke", {"ok": True})
    with pytest.raises(StageGateFailed, match="answered"):
        verdict_of_test("prod", "staging", "Smoke", "yes")


def test_child_execution_names_keep_the_stage():
    assert child_name("sample-app-main-1a2b3c4-5d6e7f", "production") == "sample-app-main-1a2b3c4-5d6e7f-production"
    long = child_name("x" * 80, "production")
    assert len(long) == 80 and long.endswith("-production")
