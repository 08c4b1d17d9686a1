"""stepdeploy_cli/placement.py: which account a stack lives in, per the ledger, and the stage role the CLI
assumes there with the operator's credentials (stepdeploy.aws.accounts' role, ExternalId and cache)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy.aws.accounts import forget_credentials
from stepdeploy_cli import placement
from stepdeploy_cli.context import Operator, Options
from stepdeploy_cli.errors import CliError
from stepdeploy_cli.placement import Placement

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:eu-west-1:111111111111:stateMachine:stepdeploy-prod-deploy"


class FakeLedger:
    def __init__(self, releases: dict[str, list[dict[str, Any]]], latest: list[dict[str, Any]]) -> None:
        self.releases, self.latest = releases, latest

    def releases_of(self, stack: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.releases.get(stack, [])[:limit]

    def latest_releases(self) -> list[dict[str, Any]]:
        return self.latest


class FakeSts:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.refuse:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")
        return {"Credentials": {"AccessKeyId": "ASIASTAGE", "SecretAccessKey": "s", "SessionToken": "t",
                                "Expiration": datetime.now(UTC) + timedelta(hours=1)}}


class FakeSession:
    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []

    def client(self, service: str, **kwargs: Any) -> tuple[str, str]:
        self.made.append((service, kwargs))
        return ("stage-client", service)


class FakeCfn:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        return {"Stacks": [{"StackName": StackName,
                            "Parameters": [{"ParameterKey": "StageRoleName", "ParameterValue": "deployer"}]}]}


class FakeOperator:
    def __init__(self, ledger: FakeLedger, sts: FakeSts | None = None) -> None:
        self.ledger = ledger
        self.options = Options(orchestrator="stepdeploy-prod")
        self.state_machine_arn = MACHINE
        self.cache: dict[str, Any] = {}
        self.session = FakeSession()
        self.operator_name = "ada"
        self.caller_arn = "arn:aws:sts::111111111111:assumed-role/Operators/ada"
        self.clients = {"sts": sts or FakeSts(), "cloudformation": FakeCfn(), "lambda": ("own-client", "lambda")}

    def client(self, service: str) -> Any:
        return self.clients[service]

    new_client = Operator.new_client  # the operator's own, over the fake session


@pytest.fixture(autouse=True)
def no_cached_credentials() -> Any:
    forget_credentials()
    yield
    forget_credentials()


def test_the_newest_release_that_says_so_places_the_stack() -> None:
    ledger = FakeLedger({"orders-prod": [{"outcome": "RolledBack"},  # says nothing of its account
                                         {"outcome": "Deployed", "account": "222222222222", "region": None}]}, [])
    assert placement.recorded(FakeOperator(ledger), "orders-prod") == Placement("222222222222", None)  # type: ignore[arg-type]


def test_a_pipelines_stage_places_a_stack_whose_releases_do_not_say() -> None:
    stages = [{"name": "dev", "stack": "orders-dev"},
              {"name": "prod", "stack": "orders-prod", "account": "222222222222"}]
    ledger = FakeLedger({}, [{"stack": "pipeline:orders", "stages": stages}, {"stack": "orders-prod"}])
    op = FakeOperator(ledger)
    assert placement.recorded(op, "orders-prod") == Placement("222222222222", None)  # type: ignore[arg-type]
    assert placement.recorded(op, "orders-dev") == Placement()  # type: ignore[arg-type]
    assert placement.recorded(op, "elsewhere") == Placement()  # type: ignore[arg-type]


def test_the_orchestrators_own_account_gets_the_operators_own_client() -> None:
    op = FakeOperator(FakeLedger({}, []))
    for where in (Placement(), Placement("111111111111"), Placement("111111111111", "eu-west-1")):
        assert placement.client(op, "lambda", where) == ("own-client", "lambda")  # type: ignore[arg-type]
    assert op.clients["sts"].calls == []


def test_another_account_is_reached_through_its_stage_role_as_the_orchestrator_names_it() -> None:
    op = FakeOperator(FakeLedger({}, []))
    made = placement.client(op, "lambda", Placement("222222222222"))  # type: ignore[arg-type]
    assert made == ("stage-client", "lambda")
    [call] = op.clients["sts"].calls
    assert call["RoleArn"] == "arn:aws:iam::222222222222:role/deployer"  # the orchestrator's StageRoleName
    assert call["ExternalId"] == "stepdeploy-prod"  # the orchestrator stack's name, as its task roles give it
    assert call["RoleSessionName"] == "stepdeploy-cli-ada"
    service, kwargs = op.session.made[0]
    assert (service, kwargs["region_name"], kwargs["aws_access_key_id"]) == ("lambda", "eu-west-1", "ASIASTAGE")
    placement.client(op, "lambda", Placement("222222222222"))  # type: ignore[arg-type]
    assert len(op.clients["sts"].calls) == 1 and len(op.session.made) == 1  # credentials and client reused
    assert placement.client(op, "sts", Placement("222222222222")) is op.clients["sts"]  # not a stage service


def test_a_stage_role_that_does_not_trust_the_operator_says_what_allows_it() -> None:
    op = FakeOperator(FakeLedger({}, []), FakeSts(refuse=True))
    with pytest.raises(CliError) as refused:
        placement.client(op, "lambda", Placement("222222222222"))  # type: ignore[arg-type]
    message = str(refused.value)
    assert "arn:aws:sts::111111111111:assumed-role/Operators/ada" in message
    assert "arn:aws:iam::222222222222:role/deployer" in message and "OperatorRoleArns" in message
