"""Bake (check_alarms) against moto's CloudWatch and Lambda: wait out the bake time, or move the aliases back."""

from __future__ import annotations

import copy

import pytest

from stepdeploy.errors import AlarmDuringBake
from stepdeploy.models import iso

from .deploy_support import (
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    document_of,
    execution_of,
    run,
    shifted_document,
)

pytestmark = pytest.mark.handler


def baking_document(aws, bake_minutes: int) -> dict:
    """A function whose alias moved to version 2 (CodeDeploy's work), previous version 1."""
    document = shifted_document(aws, alarms=["GreeterErrorsAlarm"], bake_minutes=bake_minutes)
    greeter = next(f for f in document["versions"]["functions"] if f["logical_id"] == "Greeter")
    aws.client("lambda").update_alias(FunctionName=greeter["function_name"], Name="live", FunctionVersion="2")
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="GreeterErrorsAlarm",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    aws.client("cloudwatch").set_alarm_state(AlarmName="GreeterErrorsAlarm", StateValue="OK", StateReason="quiet")
    shift_piece = copy.deepcopy(document_of("check_alarms")["shift"])
    shift_piece["finished_at"] = iso()  # the shift just finished: the bake starts now
    return {**document, "shift": shift_piece}


def bake(document: dict) -> dict:
    return run("check_alarms", document, execution_of("check_alarms", "demo-2"))


def test_bake_of_zero_minutes_is_one_check(deploy_aws):
    baked = bake(baking_document(deploy_aws, 0))["bake"]
    assert baked["done"] and baked["alarms"] == ["GreeterErrorsAlarm"]


def test_bake_takes_the_time_between_checks_off_what_is_left(deploy_aws):
    document = bake(baking_document(deploy_aws, 2))
    assert not document["bake"]["done"]
    assert 119 < document["bake"]["remaining_seconds"] <= 120
    document["bake"]["checked_at"] = "2000-01-01T00:00:00.000Z"  # long ago: the bake time has passed
    again = bake(document)["bake"]
    assert again["done"] and again["remaining_seconds"] <= 0


def test_an_alarm_while_baking_moves_the_aliases_back(deploy_aws):
    document = bake(baking_document(deploy_aws, 10))
    deploy_aws.client("cloudwatch").set_alarm_state(
        AlarmName="GreeterErrorsAlarm", StateValue="ALARM", StateReason="Threshold Crossed: 3 errors"
    )
    greeter = next(f for f in document["versions"]["functions"] if f["logical_id"] == "Greeter")
    with pytest.raises(AlarmDuringBake) as caught:
        bake(document)
    message = str(caught.value)
    assert "GreeterErrorsAlarm: Threshold Crossed: 3 errors" in message
    assert f"{greeter['function_name']}:live 2 -> 1" in message
    alias = deploy_aws.client("lambda").get_alias(FunctionName=greeter["function_name"], Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
