import pytest

from stepdeploy_dev.bench import pricing
from stepdeploy_dev.bench.pricing import Action, Invocation

pytestmark = pytest.mark.unit


def test_step_functions_cost_per_transition():
    assert pricing.step_functions_cost(24) == pytest.approx(0.0006)
    assert pricing.step_functions_cost(1000) == pytest.approx(0.025)


def test_lambda_duration_is_billed_in_whole_milliseconds_rounded_up():
    assert pricing.billed_milliseconds(0.0001) == 1
    assert pricing.billed_milliseconds(1.2341) == 1235
    assert pricing.billed_milliseconds(0.25) == 250  # no spurious extra millisecond from floating point


def test_lambda_cost_is_requests_plus_gb_seconds_at_the_architectures_price():
    five_minutes_at_256_mb = [Invocation("CheckTrafficShiftFunction", 256, 300.0)]
    assert pricing.lambda_gb_seconds(five_minutes_at_256_mb) == pytest.approx(75.0)
    assert pricing.lambda_cost(five_minutes_at_256_mb, "arm64") == pytest.approx(75 * 0.0000133334 + 0.0000002)
    assert pricing.lambda_cost(five_minutes_at_256_mb, "x86_64") == pytest.approx(75 * 0.0000166667 + 0.0000002)
    with pytest.raises(ValueError, match="architecture"):
        pricing.lambda_cost(five_minutes_at_256_mb, "sparc")


def test_codepipeline_bills_each_action_in_whole_minutes_rounded_up():
    assert pricing.action_minutes(Action("source", 0.1)) == 1
    assert pricing.action_minutes(Action("build", 60.0)) == 1
    assert pricing.action_minutes(Action("build", 60.5)) == 2
    assert pricing.action_minutes(Action("canary", 300.24)) == 6
    assert pricing.action_minutes(Action("approval", 3600.0, billed=False)) == 0
    actions = [Action("source", 2), Action("build", 90), Action("approval", 600, billed=False)]
    assert pricing.codepipeline_v2_cost(actions) == pytest.approx(3 * 0.002)


def test_equivalent_pipeline_of_a_canary_deployment():
    actions = pricing.equivalent_pipeline(
        0.2, {"build": 40.0, "changeset": 12.0, "stack": 30.0, "shift": 300.3, "bake": 120.0}
    )
    assert [a.name for a in actions] == [
        "Source (S3)", "Build (CodeBuild)", "Deploy: create change set (CloudFormation)",
        "Deploy: execute change set (CloudFormation)", "Deploy: traffic shift (CodeDeploy)", "Bake: alarm watch",
    ]
    assert [pricing.action_minutes(a) for a in actions] == [1, 1, 1, 1, 6, 2]
    assert pricing.codepipeline_v2_cost(actions) == pytest.approx(0.024)


def test_a_no_op_still_runs_codepipelines_execute_action_and_a_prebuilt_artifact_no_build():
    no_op = pricing.equivalent_pipeline(0.1, {"build": 30.0, "changeset": 11.0})
    assert [a.name for a in no_op][-1] == "Deploy: execute change set (CloudFormation)"
    assert pricing.action_minutes(no_op[-1]) == 1
    prebuilt = pricing.equivalent_pipeline(0.1, {"changeset": 11.0, "stack": 30.0})
    assert "Build (CodeBuild)" not in [a.name for a in prebuilt]
    failed_build = pricing.equivalent_pipeline(0.1, {"build": None})
    assert [(a.name, a.seconds) for a in failed_build] == [("Source (S3)", 0.1), ("Build (CodeBuild)", 0.0)]


def test_deployment_cost_adds_step_functions_and_lambda():
    cost = pricing.deployment_cost(24, [Invocation("A", 256, 0.1), Invocation("B", 1024, 2.0)])
    assert cost.lambda_requests == 2
    assert cost.lambda_gb_seconds == pytest.approx(0.025 + 2.0)
    assert cost.total_usd == pytest.approx(0.0006 + 2 * 0.0000002 + 2.025 * 0.0000133334)
    assert cost.as_dict()["transitions"] == 24
