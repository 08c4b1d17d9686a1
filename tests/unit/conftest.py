"""Fixtures the unit tests of the operator commands share."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stepdeploy.aws.ledger import create_ledger_table
from stepdeploy_cli.context import Operator, Options

WAITING_MACHINE = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@pytest.fixture()
def op(monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    """An operator against moto as it ships: a ledger table and a state machine whose executions stay RUNNING
    (its ARN and the table are the orchestrator's outputs)."""
    from moto import mock_aws

    from stepdeploy_localcloud import patching

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with patching.suspended(), mock_aws():  # moto as it ships, whatever ran before in this worker
        operator = Operator(Options(region="us-east-1"))
        create_ledger_table(operator.client("dynamodb"), "ledger")
        machine = operator.sfn.create_state_machine(
            name="deploy", roleArn="arn:aws:iam::123456789012:role/sfn", definition=json.dumps(WAITING_MACHINE),
        )["stateMachineArn"]
        operator.__dict__["outputs"] = {"StateMachineArn": machine, "TableName": "ledger"}
        yield operator
