"""AWS/Lambda metrics from the invocations the local runtime ran, read back through CloudWatch's API.

The test says when the invocations happen (``lambda_metrics.set_clock``), so every count is exact and
no test waits on the wall clock.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stepdeploy_localcloud import endpoint, patching
from stepdeploy_localcloud.awslambda import metrics as lambda_metrics
from stepdeploy_localcloud.awslambda import patch as lambda_patch
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.cloudwatch import alarms
from stepdeploy_localcloud.cloudwatch import patch as cloudwatch_patch

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]

HANDLER = """
import os, time

class Regression(Exception):
    pass

def handler(event, context):
    version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    if os.environ["MODE"] == "regressed":
        time.sleep(0.02)
        if event["i"] % 3 == 0:
            raise Regression("version " + version + " fails every third request")
    return version
"""
REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: (?P<ms>[0-9.]+) ms")


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def role(moto_server: str) -> Iterator[str]:
    lambda_patch.apply()
    cloudwatch_patch.apply()
    saved_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = moto_server.rsplit(":", 1)[1]
    iam = boto3.client(
        "iam", endpoint_url=moto_server, region_name=endpoint.REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="lambda-metrics-test-role", AssumeRolePolicyDocument="{}")
    yield iam.get_role(RoleName="lambda-metrics-test-role")["Role"]["Arn"]
    lambda_runtime.shutdown()
    lambda_runtime.clear_faults()
    if saved_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = saved_port


@pytest.fixture()
def at() -> Iterator[Callable[[datetime], None]]:
    """Invocations from now on happen at the given moment (naive UTC, as moto keeps time)."""
    moment: list[datetime] = []
    lambda_metrics.set_clock(lambda: moment[-1])
    yield moment.append
    lambda_metrics.set_clock(None)


def a_minute_of_its_own() -> datetime:
    """A minute no other test invokes in: across-all-functions counts stay exact."""
    return datetime(2001, 1, 1) + timedelta(minutes=uuid.uuid4().int % 500_000)


def canary(aws: Aws, role: str) -> str:
    """Version 1 healthy, version 2 regressed, alias ``live`` 50/50 between them."""
    client = aws("lambda")
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name, Role=role, Handler="app.handler", Runtime="python3.11",
        Code={"ZipFile": zipped(HANDLER)}, Environment={"Variables": {"MODE": "healthy"}},
    )
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "regressed"}})
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    return name


def dims(name: str, resource: str | None = None, version: str | None = None) -> list[dict[str, str]]:
    found = [{"Name": "FunctionName", "Value": name}]
    if resource:
        found.append({"Name": "Resource", "Value": f"{name}:{resource}"})
    if version:
        found.append({"Name": "ExecutedVersion", "Value": version})
    return found


def metric_data(
    cloudwatch: Any, metric: str, dimensions: list[dict[str, str]], stat: str, start: datetime, minutes: int = 1
) -> dict[str, Any]:
    (result,) = cloudwatch.get_metric_data(
        MetricDataQueries=[{
            "Id": "q",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions},
                "Period": 60,
                "Stat": stat,
            },
        }],
        StartTime=start.replace(tzinfo=UTC),
        EndTime=(start + timedelta(minutes=minutes)).replace(tzinfo=UTC),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    return {"values": result["Values"], "timestamps": [t.replace(tzinfo=None) for t in result["Timestamps"]]}


def one_value(cloudwatch: Any, metric: str, dimensions: list[dict[str, str]], stat: str, start: datetime) -> float:
    values = metric_data(cloudwatch, metric, dimensions, stat, start)["values"]
    return values[0] if values else 0.0


def nearest_rank(values: list[float], rank: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def test_weighted_alias_metrics_by_executed_version(aws: Aws, role: str, at: Callable[[datetime], None]) -> None:
    name = canary(aws, role)
    client, cloudwatch = aws("lambda"), aws("cloudwatch")
    minute = a_minute_of_its_own()
    at(minute)
    invocations: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    for i in range(60):
        response = client.invoke(
            FunctionName=name, Qualifier="live", Payload=json.dumps({"i": i}).encode(), LogType="Tail"
        )
        version = response["ExecutedVersion"]
        invocations[version] += 1
        errors[version] += 1 if response.get("FunctionError") else 0
        report = REPORT.search(base64.b64decode(response["LogResult"]).decode())
        assert report is not None
        durations[version].append(float(report["ms"]))
    assert set(invocations) == {"1", "2"}  # 60 draws of a 50/50 alias: both versions ran
    assert errors["1"] == 0 and errors["2"] > 0

    for version in ("1", "2"):
        by_version = dims(name, "live", version)
        assert one_value(cloudwatch, "Invocations", by_version, "Sum", minute) == invocations[version]
        assert one_value(cloudwatch, "Errors", by_version, "Sum", minute) == errors[version]
        assert one_value(cloudwatch, "Errors", by_version, "Average", minute) == errors[version] / invocations[version]
        p99 = nearest_rank(durations[version], 99)
        assert one_value(cloudwatch, "Duration", by_version, "p99", minute) == p99
        (point,) = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Duration", Dimensions=by_version,
            StartTime=minute, EndTime=minute + timedelta(minutes=1), Period=60,
            Statistics=["SampleCount", "Maximum"], ExtendedStatistics=["p99", "p50"],
        )["Datapoints"]
        assert point["SampleCount"] == invocations[version]
        assert point["Maximum"] == max(durations[version])
        assert point["ExtendedStatistics"] == {"p99": p99, "p50": nearest_rank(durations[version], 50)}
        assert point["Unit"] == "Milliseconds"
    # the regressed version sleeps 20 ms on every request: its p99 is the slower one
    assert one_value(cloudwatch, "Duration", dims(name, "live", "2"), "p99", minute) >= 20.0

    # every dimension set counts each invocation once, exactly (not the sets that carry more dimensions)
    for dimensions in (dims(name), dims(name, "live"), []):
        assert one_value(cloudwatch, "Invocations", dimensions, "Sum", minute) == 60
        (point,) = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Errors", Dimensions=dimensions, StartTime=minute,
            EndTime=minute + timedelta(minutes=1), Period=60, Statistics=["Sum", "SampleCount"],
        )["Datapoints"]
        assert (point["Sum"], point["SampleCount"]) == (sum(errors.values()), 60)


def test_dimension_sets_follow_how_the_function_was_invoked(
    aws: Aws, role: str, at: Callable[[datetime], None]
) -> None:
    name = canary(aws, role)
    client, cloudwatch = aws("lambda"), aws("cloudwatch")
    minute = a_minute_of_its_own()
    at(minute)
    client.invoke(FunctionName=name, Payload=b'{"i": 1}')  # $LATEST, unqualified
    client.invoke(FunctionName=name, Qualifier="2", Payload=b'{"i": 3}')  # a version: fails
    client.invoke(FunctionName=f"{name}:live", Payload=b'{"i": 1}')  # an alias, in the ARN

    listed = cloudwatch.list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=[{"Name": "FunctionName", "Value": name}]
    )["Metrics"]
    sets = {tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])) for metric in listed}
    executed = next(v for s in sets for k, v in s if k == "ExecutedVersion")
    assert sets == {
        (("FunctionName", name),),
        (("FunctionName", name), ("Resource", f"{name}:2")),
        (("FunctionName", name), ("Resource", f"{name}:live")),
        (("ExecutedVersion", executed), ("FunctionName", name), ("Resource", f"{name}:live")),
    }
    assert one_value(cloudwatch, "Invocations", dims(name), "Sum", minute) == 3
    assert one_value(cloudwatch, "Errors", dims(name, "2"), "Sum", minute) == 1
    assert one_value(cloudwatch, "Errors", dims(name), "Sum", minute) == 1


def test_periods_and_throttles_follow_the_time_the_test_gives(
    aws: Aws, role: str, at: Callable[[datetime], None]
) -> None:
    name = canary(aws, role)
    client, cloudwatch = aws("lambda"), aws("cloudwatch")
    minute = a_minute_of_its_own()
    at(minute + timedelta(seconds=10))
    client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"i": 1}')
    at(minute + timedelta(seconds=130))
    client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"i": 1}')
    client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"i": 2}')
    lambda_runtime.inject_fault(name, "throttle")
    once = boto3.client(
        "lambda", endpoint_url=endpoint.endpoint_url(), region_name=endpoint.REGION, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as raised:
        once.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"

    by_version = dims(name, "1")
    found = metric_data(cloudwatch, "Invocations", by_version, "Sum", minute, minutes=3)
    assert found == {"values": [1.0, 2.0], "timestamps": [minute, minute + timedelta(minutes=2)]}
    throttled = metric_data(cloudwatch, "Throttles", by_version, "Sum", minute, minutes=3)
    assert throttled == {"values": [1.0], "timestamps": [minute + timedelta(minutes=2)]}


def test_local_alarms_see_the_errors_of_one_executed_version(
    aws: Aws, role: str, at: Callable[[datetime], None]
) -> None:
    name = canary(aws, role)
    client, cloudwatch = aws("lambda"), aws("cloudwatch")
    moment = a_minute_of_its_own()
    at(moment)
    executed = Counter(
        client.invoke(FunctionName=name, Qualifier="live", Payload=json.dumps({"i": 3 * i}).encode())["ExecutedVersion"]
        for i in range(30)
    )
    assert set(executed) == {"1", "2"}
    for version in ("1", "2"):
        cloudwatch.put_metric_alarm(
            AlarmName=f"{name}-v{version}-errors", Namespace="AWS/Lambda", MetricName="Errors",
            Dimensions=dims(name, "live", version), Statistic="Sum", Period=60, EvaluationPeriods=1,
            Threshold=0.0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        )
    alarms.evaluate_once(now=moment + timedelta(seconds=CLOCK.real_seconds(30)))
    states = {
        alarm["AlarmName"]: alarm["StateValue"]
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    }
    assert states == {f"{name}-v1-errors": "OK", f"{name}-v2-errors": "ALARM"}


def test_a_statistic_the_local_cloud_does_not_compute_is_named(aws: Aws, role: str) -> None:
    with pytest.raises(ClientError) as raised:
        aws("cloudwatch").get_metric_data(
            MetricDataQueries=[{
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration"}, "Period": 60, "Stat": "tm99",
                },
            }],
            StartTime=datetime(2001, 1, 1, tzinfo=UTC),
            EndTime=datetime(2001, 1, 2, tzinfo=UTC),
        )
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "'tm99' is not computed by the local cloud" in raised.value.response["Error"]["Message"]
    assert "p99" in raised.value.response["Error"]["Message"]


def test_moto_alone_computes_no_percentile(aws: Aws, role: str) -> None:
    """What the queries adapter is for: if moto learns percentiles, this test says so."""
    cloudwatch = aws("cloudwatch")
    moment = a_minute_of_its_own()
    namespace = f"Test/{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[{"MetricName": "Duration", "Value": float(v), "Timestamp": moment} for v in range(1, 11)],
    )
    query = {
        "MetricDataQueries": [{
            "Id": "q",
            "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Duration"}, "Period": 60, "Stat": "p90"},
        }],
        "StartTime": moment,
        "EndTime": moment + timedelta(minutes=1),
    }
    once = aws_without_retries()
    with patching.suspended(), pytest.raises(ClientError):
        once.get_metric_data(**query)
    assert once.get_metric_data(**query)["MetricDataResults"][0]["Values"] == [9.0]


def aws_without_retries() -> Any:
    return boto3.client(
        "cloudwatch", endpoint_url=endpoint.endpoint_url(), region_name=endpoint.REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
    )
