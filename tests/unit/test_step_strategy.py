"""stepdeploy.yml's step strategy (stepdeploy's own engine): validated like the rest."""

from __future__ import annotations

import pytest

from stepdeploy.app_config.target_config import StepStrategy, parse_config
from stepdeploy.errors import ConfigurationError

pytestmark = pytest.mark.unit

CONFIG = """version: 1
targets:
  - branch: main
    stack: orders-prod
    deployment:
      strategy: {strategy}
"""


def deployment(strategy: str):
    return parse_config(CONFIG.format(strategy=strategy)).targets[0].deployment


def test_a_step_strategy_with_defaults():
    d = deployment("{steps: [1, 5, 25, 50, 100]}")
    assert isinstance(d.strategy, StepStrategy) and d.steps is d.strategy
    assert d.strategy.pause_minutes == 5
    assert d.strategy.analysis.min_invocations == 50
    assert d.strategy.analysis.max_p99_increase_percent == 25.0
    with pytest.raises(ValueError, match="no CodeDeploy deployment configuration"):
        _ = d.deployment_config_name


def test_codedeploy_strategies_are_unchanged():
    assert deployment("LambdaCanary10Percent5Minutes").steps is None
    custom = deployment("{type: linear, percent: 10, interval_minutes: 1}")
    assert custom.deployment_config_name == "StepdeployLinear10PercentEvery1Minutes"


def test_the_strategy_survives_the_trip_through_the_state_machine():
    d = deployment("{steps: [10, 100], pause_minutes: 2, analysis: {min_invocations: 5}}")
    dumped = d.model_dump(mode="json")
    assert dumped["strategy"]["steps"] == [10, 100]
    assert type(d).model_validate(dumped) == d


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ("{steps: [5, 1, 100]}", "strategy.steps: expected percentages from 1 to 100 in increasing order"),
        ("{steps: [5, 50]}", "strategy.steps: expected a last step of 100"),
        ("{steps: [0, 100]}", "strategy.steps: expected percentages from 1 to 100"),
        ("{steps: []}", "strategy.steps: expected at least 1 item"),
        ("{steps: [10, 100], pause_minutes: 0}", "strategy.pause_minutes: expected greater than or equal to 1"),
        ("{steps: [10, 100], analysis: {min_invocation: 3}}", "strategy.analysis.min_invocation: is not a known key"),
        ("{steps: [10, 100], analysis: {max_error_rate_increase: -1}}",
         "strategy.analysis.max_error_rate_increase: expected greater than or equal to 0"),
        ("[1, 100]", "strategy: expected a CodeDeployDefault.Lambda* name, {type, percent, interval_minutes} or "
                     "{steps, pause_minutes, analysis}"),
    ],
)
def test_a_bad_step_strategy_names_the_key_and_what_was_expected(strategy, message):
    with pytest.raises(ConfigurationError) as raised:
        deployment(strategy)
    assert f"stepdeploy.yml: targets[0].deployment.{message}" in str(raised.value)


def test_hooks_are_refused_with_the_step_engine():
    text = CONFIG.format(strategy="{steps: [50, 100]}") + "      hooks: {before_allow_traffic: Check}\n"
    with pytest.raises(ConfigurationError, match="the step engine .* does not run them"):
        parse_config(text)
