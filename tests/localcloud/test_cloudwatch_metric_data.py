"""GetMetricData of the local cloud: percentiles, and Lambda's by-version metrics read back by the step engine.

moto 5.2.5 answers a percentile statistic over raw data with a null that breaks its own response; the
CloudWatch adapter computes it. The step engine's reader (stepdeploy.aws.version_metrics) is checked
here against that CloudWatch: the metrics are put with put_metric_data under the dimensions AWS
documents for an alias's versions (FunctionName, Resource, ExecutedVersion), then read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy.aws.version_metrics import VersionMetrics, dimensions, period_for
from stepdeploy_localcloud.cloudwatch import patch as cloudwatch_patch

pytestmark = pytest.mark.localcloud


@pytest.fixture()
def cloudwatch(aws: Callable[[str], Any]) -> Any:
    cloudwatch_patch.apply()
    return aws("cloudwatch")


def put(cloudwatch: Any, function: str, version: str, metric: str, values: list[float], unit: str = "Count",
        at: datetime | None = None) -> None:
    stamp = at or datetime.now(UTC) - timedelta(seconds=5)
    for start in range(0, len(values), 500):
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": metric, "Value": value, "Unit": unit, "Timestamp": stamp,
             "Dimensions": dimensions(function, "live", version)}
            for value in values[start : start + 500]
        ])


def test_get_metric_data_answers_a_percentile(cloudwatch: Any):
    function = f"orders-{uuid.uuid4().hex[:6]}"
    put(cloudwatch, function, "2", "Duration", [float(v) for v in range(1, 201)], "Milliseconds")
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "p", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dimensions(function, "live", "2")},
            "Period": 60, "Stat": "p99"}}],
        StartTime=now - timedelta(minutes=1), EndTime=now,
    )["MetricDataResults"]
    assert answer[0]["Values"] == [198.0]


def test_the_reader_gives_each_version_its_own_numbers(cloudwatch: Any):
    function = f"orders-{uuid.uuid4().hex[:6]}"
    put(cloudwatch, function, "3", "Invocations", [1.0] * 120)
    put(cloudwatch, function, "3", "Errors", [1.0] * 6 + [0.0] * 114)
    put(cloudwatch, function, "3", "Duration", [10.0] * 100 + [90.0] * 20, "Milliseconds")
    put(cloudwatch, function, "2", "Invocations", [1.0] * 880)
    put(cloudwatch, function, "2", "Errors", [0.0] * 880)
    put(cloudwatch, function, "2", "Throttles", [1.0] * 4)
    put(cloudwatch, function, "2", "Duration", [10.0] * 880, "Milliseconds")
    # another alias's and a whole function's data are not these versions'
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Errors", "Value": 50.0, "Dimensions": [{"Name": "FunctionName", "Value": function}]},
        {"MetricName": "Errors", "Value": 50.0, "Dimensions": [
            {"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": f"{function}:beta"},
            {"Name": "ExecutedVersion", "Value": "3"}]},
    ])
    end = datetime.now(UTC)
    got = VersionMetrics(cloudwatch).samples(function, "live", ["3", "2", "1"], end - timedelta(seconds=90), end)
    assert got["3"].invocations == 120 and got["3"].errors == 6 and got["3"].error_rate == 5.0
    assert got["3"].p99_ms == 90.0
    assert got["2"].invocations == 880 and got["2"].throttles == 4 and got["2"].p99_ms == 10.0
    assert got["1"].invocations == 0 and got["1"].p99_ms is None


def test_the_window_is_the_step_s_own(cloudwatch: Any):
    function = f"orders-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    put(cloudwatch, function, "2", "Invocations", [1.0] * 10, at=now - timedelta(minutes=10))  # before the step
    put(cloudwatch, function, "2", "Invocations", [1.0] * 7, at=now - timedelta(seconds=20))
    got = VersionMetrics(cloudwatch).samples(function, "live", ["2"], now - timedelta(seconds=60), now)
    assert got["2"].invocations == 7


def test_the_reader_refuses_what_is_not_a_version_or_a_window():
    start = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert period_for(start, start + timedelta(seconds=5)) == 60
    assert period_for(start, start + timedelta(seconds=61)) == 120
    with pytest.raises(ValueError, match="must end after it starts"):
        period_for(start, start)
    with pytest.raises(ValueError, match="'live' is not a published version number"):
        VersionMetrics(object()).samples("orders", "live", ["live"], start, start)  # type: ignore[arg-type]
