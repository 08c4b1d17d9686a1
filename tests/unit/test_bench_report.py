import pytest

from stepdeploy_dev.bench import report

pytestmark = pytest.mark.unit

REQUIRED = {
    "transitions_per_deployment", "lambda_invocations_per_deployment", "cost_per_deployment_usd",
    "codepipeline_v2_cost_usd", "added_latency_seconds", "webhook_p50_ms", "webhook_p99_ms",
    "webhook_requests_per_second", "cold_import_ms", "demo_wall_seconds", "test_wall_seconds", "load",
}


def test_the_summary_has_every_key_of_the_issue_even_when_parts_did_not_run():
    summary = report.summary({"speed": 60.0, "errors": {"load": "boom"}})
    assert set(summary) >= REQUIRED
    assert summary["load"] is None and summary["errors"] == {"load": "boom"}


def test_the_summary_reports_the_canary_deployment_and_the_cost_ratio():
    scenario = {"transitions": 24.0, "lambda_invocations": 16.0, "cost_usd": 0.0024, "codepipeline_v2_usd": 0.024}
    demo = {"scenarios": {report.HEADLINE_SCENARIO: scenario}, "median_wall_seconds": 61.2,
            "added_latency": {"Wait for build": {"median_seconds": 2.5}}}
    summary = report.summary({"demo": demo, "speed": 60.0})
    assert summary["transitions_per_deployment"] == 24.0
    assert summary["codepipeline_v2_cost_ratio"] == 10.0
    assert summary["added_latency_seconds"] == {"Wait for build": 2.5}
    assert summary["demo_wall_seconds"] == 61.2


def test_a_demo_without_the_reported_scenario_is_an_error_that_names_it():
    with pytest.raises(KeyError, match="code change"):
        report.summary({"demo": {"scenarios": {"first push": {}}}})


def _latency(speed: float, build: float, bake: float) -> dict:
    return {"speed": speed, "scenarios": {"a": {}, "b": {}},
            "added_latency": {"Wait for build": {"median_seconds": build},
                              "Wait while baking": {"median_seconds": bake}}}


def test_the_slow_clock_latency_is_the_headline_and_the_loop_per_poll_design_is_compared():
    scenario = {"transitions": 24.0, "lambda_invocations": 16.0, "cost_usd": 0.0024, "codepipeline_v2_usd": 0.024}
    before_scenario = {"transitions": 55.0, "lambda_invocations": 27.0, "cost_usd": 0.0031}
    demo = {"scenarios": {report.HEADLINE_SCENARIO: scenario}, "speed": 60.0,
            "added_latency": {"Wait for build": {"median_seconds": 2.5},
                              "Wait for traffic shift": {"median_seconds": 1.0,
                                                         "by_scenario": {report.HEADLINE_SCENARIO: 0.8}}}}
    latency = {**_latency(6.0, 0.5, 0.4),
               "before": {"latency": _latency(6.0, 7.5, 14.0),
                          "demo": {"speed": 60.0, "scenarios": {report.HEADLINE_SCENARIO: before_scenario},
                                   "added_latency": {"Wait for traffic shift": {
                                       "by_scenario": {report.HEADLINE_SCENARIO: 16.0}}}}}}
    summary = report.summary({"demo": demo, "latency": latency, "speed": 60.0})
    assert summary["added_latency_seconds"] == {"Wait for build": 0.5, "Wait while baking": 0.4}
    assert summary["added_latency_clock_speed"] == 6.0
    assert summary["added_latency_seconds_at_demo_speed"]["Wait for build"] == 2.5
    assert summary["before_event_waits"]["transitions_per_deployment"] == 55.0
    assert summary["before_event_waits"]["added_latency_seconds"]["Wait while baking"] == 14.0

    lines = report._improvement(latency, latency["before"], {**demo, "runs": 2})
    assert any(line.startswith("| Wait for build | 7.50 | 0.50 |") for line in lines), lines
    assert "| Wait for traffic shift | 16 | 0.80 |" in lines
    assert any(line.startswith(f"| {report.HEADLINE_SCENARIO} | 55 | 24 | 27 | 16 |") for line in lines), lines


def _load_run(wall: float, **extra: object) -> dict:
    return {"pushes": 20, "repositories": 5, "modes": {"superseded": 3, "queued": 2}, "push_window_seconds": 4.0,
            "redeliveries": 0, "pushes_redelivered": 0, "webhook_refused": 0, "executions_started": 20,
            "executions_ended": 20, "all_ended": True, "execution_statuses": {"SUCCEEDED": 20},
            "ledger_outcomes": {"Deployed": 12, "Superseded": 8}, "overlapping_stack_changes": 0, "pushes_lost": 0,
            "accepted_pushes_lost": 0, "stacks_on_newest_commit": 5, "stacks_on_newest_accepted_commit": 5,
            "wall_seconds": wall, "transitions": 400, "lambda_invocations": 300, **extra}


def test_the_load_is_reported_quiet_and_beside_a_cpu_hog_side_by_side():
    quiet, busy = _load_run(60.0), _load_run(95.5, cpu_hog_processes=2, lost=["sample-1#2 abc1234: ..."])
    lines = report._load(quiet, busy)
    assert lines[2] == "| | quiet | beside a CPU hog (2 busy loops) |"
    assert "| wall time, first delivery to last execution ended | 60.0 s | 95.5 s |" in lines
    assert "Lost pushes (beside a CPU hog (2 busy loops)):" in lines
    summary = report.summary({"load": quiet, "load-busy": busy, "speed": 60.0})
    assert summary["load"]["wall_seconds"] == 60.0
    assert summary["load_beside_cpu_hog"]["wall_seconds"] == 95.5
    assert summary["load_beside_cpu_hog"]["cpu_hog_processes"] == 2
    assert report._load(None, None) == [] and report._load(quiet, None)[2] == "| | quiet |"
