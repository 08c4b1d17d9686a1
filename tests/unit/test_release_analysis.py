"""The step engine's judgement of one step: pure, no network."""

from __future__ import annotations

import pytest

from stepdeploy.app_config.target_config import Analysis
from stepdeploy.release.release_analysis import Sample, alarms_fired, judge, judge_function

pytestmark = pytest.mark.unit

ANALYSIS = Analysis(min_invocations=50, max_error_rate_increase=1.0, max_throttle_rate_increase=1.0,
                    max_p99_increase_percent=25.0)
HEALTHY_OLD = Sample(invocations=1000, errors=5, throttles=0, p99_ms=100.0)


def test_a_new_version_as_good_as_the_old_passes():
    verdict = judge_function("orders", Sample(100, 1, 0, 110.0), HEALTHY_OLD, ANALYSIS)
    assert verdict.verdict == "Pass" and verdict.reasons == []


def test_an_error_rate_over_the_threshold_fails_with_its_numbers():
    verdict = judge_function("orders", Sample(100, 5, 0, 100.0), HEALTHY_OLD, ANALYSIS)
    assert verdict.verdict == "Fail"
    assert verdict.reasons == ["error rate 5.00% against 0.50% (+4.50 points, at most +1)"]


def test_the_threshold_itself_is_allowed():
    assert judge_function("orders", Sample(100, 1, 0), Sample(100, 0, 0), ANALYSIS).verdict == "Pass"
    assert judge_function("orders", Sample(100, 2, 0), Sample(100, 0, 0), ANALYSIS).verdict == "Fail"


def test_throttles_are_a_rate_of_the_attempts():
    verdict = judge_function("orders", Sample(90, 0, 10), HEALTHY_OLD, ANALYSIS)
    assert verdict.verdict == "Fail" and "throttle rate 10.00%" in verdict.reasons[0]


def test_a_slower_p99_fails_and_a_missing_one_is_not_judged():
    slow = judge_function("orders", Sample(100, 0, 0, 126.0), HEALTHY_OLD, ANALYSIS)
    assert slow.verdict == "Fail" and "p99 duration 126.0 ms against 100.0 ms (+26%, at most +25%)" in slow.reasons
    assert judge_function("orders", Sample(100, 0, 0, None), HEALTHY_OLD, ANALYSIS).verdict == "Pass"
    assert judge_function("orders", Sample(100, 0, 0, 500.0), Sample(10, 0, 0, None), ANALYSIS).verdict == "Pass"


def test_too_few_invocations_is_inconclusive_even_with_errors():
    verdict = judge_function("orders", Sample(49, 49, 0), HEALTHY_OLD, ANALYSIS)
    assert verdict.verdict == "Inconclusive"
    assert verdict.reasons[-1] == "49 invocations of the new version, fewer than the 50 needed to judge"


def test_one_failing_function_fails_the_whole_release():
    judgement = judge({"a": (Sample(100), HEALTHY_OLD), "b": (Sample(100, 50), HEALTHY_OLD),
                       "c": (Sample(3), HEALTHY_OLD)}, ANALYSIS, {})
    assert judgement.verdict == "Fail"
    assert [j.verdict for j in judgement.functions] == ["Pass", "Fail", "Inconclusive"]
    assert judgement.summary.startswith("Fail: b: error rate 50.00%")
    record = judgement.as_record()
    assert record["functions"][1]["new"]["error_rate"] == 50.0 and record["verdict"] == "Fail"


def test_inconclusive_when_none_fails_but_one_cannot_be_judged():
    judgement = judge({"a": (Sample(100), HEALTHY_OLD), "c": (Sample(3), HEALTHY_OLD)}, ANALYSIS, {})
    assert judgement.verdict == "Inconclusive"


def test_an_alarm_that_fired_during_the_release_fails_it():
    judgement = judge({"a": (Sample(100), HEALTHY_OLD)}, ANALYSIS, {"orders-errors": "Threshold crossed"})
    assert judgement.verdict == "Fail" and "alarm orders-errors in ALARM since the release began" in judgement.summary


def test_an_alarm_already_in_alarm_at_the_start_does_not_count_unless_it_fired_again():
    states = {
        "old-trouble": {"state": "ALARM", "reason": "since yesterday", "updated": "2026-12-04T10:00:00+00:00"},
        "refired": {"state": "ALARM", "reason": "again", "updated": "2026-12-05T10:05:00+00:00"},
        "new": {"state": "ALARM", "reason": "now", "updated": "2026-12-05T10:06:00+00:00"},
        "quiet": {"state": "OK", "reason": "", "updated": "2026-12-05T10:06:00+00:00"},
    }
    at_start = {"old-trouble": "2026-12-04T10:00:00+00:00", "refired": "2026-12-04T09:00:00+00:00"}
    assert alarms_fired(states, at_start) == {"refired": "again", "new": "now"}
