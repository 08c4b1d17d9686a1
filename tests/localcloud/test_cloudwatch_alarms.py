"""CloudWatch alarm evaluation of the local cloud: moto stores metrics but never evaluates alarms."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.cloudwatch.models import cloudwatch_backends

from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.cloudwatch import alarms
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION
from tests.localcloud.event_shapes import assert_documented_shape

pytestmark = pytest.mark.localcloud

FUNCTION_DIMENSIONS = [{"Name": "FunctionName", "Value": "orders"}]


@pytest.fixture()
def speed() -> Iterator[Callable[[float], None]]:
    original = CLOCK.speed
    yield CLOCK.set_speed
    CLOCK.set_speed(original)


@pytest.fixture()
def cloudwatch(aws: Callable[[str], Any]) -> Any:
    return aws("cloudwatch")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def errors_alarm(cloudwatch: Any, namespace: str, **overrides: Any) -> str:
    name = unique("errors")
    settings: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": namespace,
        "MetricName": "Errors",
        "Dimensions": FUNCTION_DIMENSIONS,
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    settings.update(overrides)
    cloudwatch.put_metric_alarm(**settings)
    return name


def put(
    cloudwatch: Any, namespace: str, value: float, at: datetime, dimensions: list[dict[str, str]] | None = None
) -> None:
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Errors", "Dimensions": dimensions or FUNCTION_DIMENSIONS, "Value": value, "Timestamp": at}
        ],
    )


def alarm(cloudwatch: Any, name: str) -> dict[str, Any]:
    (found,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return found


def period_seconds() -> float:
    """The real length of a 60-second virtual period at the current clock speed."""
    return CLOCK.real_seconds(60)


def test_moto_alone_does_not_evaluate_alarms(cloudwatch: Any) -> None:
    """Fails when moto starts evaluating alarms itself; then this evaluator may be redundant."""
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace)
    put(cloudwatch, namespace, 5.0, datetime.now(UTC))
    time.sleep(0.2)
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "OK"
    assert found["StateReason"].startswith("Unchecked")


def test_errors_in_the_window_raise_the_alarm_then_no_data_clears_it(
    cloudwatch: Any, speed: Callable[[float], None]
) -> None:
    speed(6)  # a 60 s period is 10 real seconds: timestamps have room to spare
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, TreatMissingData="notBreaching")
    now = datetime.now(UTC)
    put(cloudwatch, namespace, 2.0, now - timedelta(seconds=1))

    changes = alarms.evaluate_once(now=now)
    assert any(change.alarm_name == name and change.new_state == "ALARM" for change in changes)
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "ALARM"
    stamp = (now - timedelta(seconds=period_seconds())).strftime("%d/%m/%y %H:%M:%S")  # the period's start
    assert found["StateReason"] == (
        f"Threshold Crossed: 1 datapoint [2.0 ({stamp})] was greater than the threshold (0.0)."
    )
    reason_data = json.loads(found["StateReasonData"])
    assert reason_data["recentDatapoints"] == [2.0]
    assert reason_data["statistic"] == "Sum" and reason_data["threshold"] == 0.0

    later = now + timedelta(seconds=2 * period_seconds())
    alarms.evaluate_once(now=later)
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "OK"
    assert found["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
        "was treated as [NonBreaching]."
    )
    history = cloudwatch_backends[ACCOUNT_ID][REGION].alarms[name].history
    assert [entry[0] for entry in history][-2:] == ["StateUpdate", "StateUpdate"]


def test_missing_data_by_default_is_insufficient_data(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(6)
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace)
    alarms.evaluate_once()
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "INSUFFICIENT_DATA"
    assert found["StateReason"] == "Insufficient Data: 1 datapoint was unknown."


def test_missing_data_treated_as_breaching_alarms(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(6)
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, TreatMissingData="breaching")
    alarms.evaluate_once()
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "ALARM"
    assert "treated as [Breaching]" in found["StateReason"]


def test_ignore_keeps_the_state_without_data(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(6)
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, TreatMissingData="ignore")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="set by hand")
    alarms.evaluate_once()
    assert alarm(cloudwatch, name)["StateReason"] == "set by hand"


def test_m_out_of_n_datapoints(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(6)
    period = period_seconds()
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=1.0)
    now = datetime.now(UTC)
    put(cloudwatch, namespace, 3.0, now - timedelta(seconds=period * 0.5))
    alarms.evaluate_once(now=now)
    one_of_three = alarm(cloudwatch, name)
    assert one_of_three["StateValue"] == "OK"
    assert "fewer than the 2 datapoints needed" in one_of_three["StateReason"]

    put(cloudwatch, namespace, 5.0, now - timedelta(seconds=period * 2.5))
    alarms.evaluate_once(now=now)
    found = alarm(cloudwatch, name)
    assert found["StateValue"] == "ALARM"
    assert found["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints [3.0 (")
    assert (
        "were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
        in (found["StateReason"])
    )


def test_only_the_exact_dimension_set_counts(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(6)
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, TreatMissingData="notBreaching")
    now = datetime.now(UTC)
    # the Lambda runtime also reports [FunctionName, Resource] and [FunctionName, ExecutedVersion]
    put(cloudwatch, namespace, 4.0, now, FUNCTION_DIMENSIONS + [{"Name": "Resource", "Value": "orders:live"}])
    put(cloudwatch, namespace, 4.0, now, [{"Name": "FunctionName", "Value": "other"}])
    alarms.evaluate_once(now=now + timedelta(milliseconds=1))
    assert alarm(cloudwatch, name)["StateValue"] == "OK"


@pytest.mark.parametrize(
    ("statistic", "threshold", "state"),
    [
        ("Average", 2.9, "ALARM"),  # (1 + 2 + 6) / 3 = 3
        ("Average", 3.0, "OK"),
        ("Maximum", 5.9, "ALARM"),
        ("Minimum", 1.0, "OK"),
        ("SampleCount", 2.0, "ALARM"),
        ("Sum", 9.0, "OK"),
    ],
)
def test_statistics(
    cloudwatch: Any, speed: Callable[[float], None], statistic: str, threshold: float, state: str
) -> None:
    speed(6)
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, Statistic=statistic, Threshold=threshold)
    now = datetime.now(UTC)
    for value in (1.0, 2.0, 6.0):
        put(cloudwatch, namespace, value, now - timedelta(seconds=1))
    alarms.evaluate_once(now=now)
    assert alarm(cloudwatch, name)["StateValue"] == state


def test_the_background_evaluator_follows_the_data(cloudwatch: Any, speed: Callable[[float], None]) -> None:
    speed(60)  # a 60 s period is one real second; evaluation every sixth of a second
    namespace = unique("Test")
    name = errors_alarm(cloudwatch, namespace, TreatMissingData="notBreaching")
    alarms.start()
    try:
        assert alarms.is_running()
        put(cloudwatch, namespace, 1.0, datetime.now(UTC))
        deadline = time.monotonic() + 5
        while alarm(cloudwatch, name)["StateValue"] != "ALARM":
            assert time.monotonic() < deadline, "the alarm never went to ALARM"
            time.sleep(0.02)
        while alarm(cloudwatch, name)["StateValue"] != "OK":
            assert time.monotonic() < deadline, "the alarm never came back to OK"
            time.sleep(0.02)
    finally:
        alarms.stop()
    assert not alarms.is_running()


def test_state_changes_reach_the_default_bus(aws: Callable[[str], Any], cloudwatch: Any) -> None:
    from stepdeploy_localcloud.cloudwatch import patch as cloudwatch_patch
    from stepdeploy_localcloud.events import patch as events_patch

    events_patch.apply()  # EventBridge's delivery to the queue, in AWS's envelope
    cloudwatch_patch.apply()
    sqs, events = aws("sqs"), aws("events")
    name = errors_alarm(cloudwatch, unique("Ns"), AlarmDescription="errors of the live alias")
    queue_url = sqs.create_queue(QueueName=unique("alarm-events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.cloudwatch"], "detail": {"alarmName": [name]}}))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])

    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="forced for a test")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="again: no change, no event")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")

    received: list[dict[str, Any]] = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = answer.get("Messages", [])
        received.extend(json.loads(m["Body"]) for m in messages)
        if len(received) >= 2:
            break
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in received] == [
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    first = received[0]
    assert first["detail"]["state"]["reason"] == "forced for a test"
    assert first["resources"] == [alarm(cloudwatch, name)["AlarmArn"]]
    assert first["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "Errors"
    for event in received:
        assert_documented_shape(event, "cloudwatch-alarm-state-change")
