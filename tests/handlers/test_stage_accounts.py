"""A target in another account (stepdeploy.aws.accounts) against moto: the stage services go through
the assumed stage role, everything else stays the orchestrator's; refusals come before anything is built."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy.app_config.target_config import Target
from stepdeploy.aws import accounts, clients
from stepdeploy.errors import ArtifactRejected, ConfigurationError, RequestRejected
from stepdeploy.ghe.api import GheApi

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
STAGE = "222222222222"
ORCHESTRATOR = "123456789012"


@pytest.fixture()
def stage_settings(orchestrator, monkeypatch) -> dict[str, Any]:
    from stepdeploy.settings import settings

    monkeypatch.setenv("ORCHESTRATOR_ACCOUNT", ORCHESTRATOR)
    monkeypatch.setenv("STAGE_ACCOUNTS", STAGE)
    monkeypatch.setenv("ORCHESTRATOR_STACK", "stepdeploy")
    settings.cache_clear()
    accounts.forget_credentials()
    yield orchestrator
    accounts.forget_credentials()


def in_account(service: str, account: str) -> Any:
    """A client acting in ``account`` (moto: credentials of an assumed role there)."""
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="test")
    c = creds["Credentials"]
    return boto3.client(service, aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])


def target(**fields: Any) -> Target:
    return Target.model_validate({"branch": "main", "stack": "sample-prod", **fields})


class RecordingSts:
    def __init__(self, answer: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer = answer

    def assume_role(self, **params: Any) -> Any:
        self.calls.append(params)
        if self.answer is not None:
            raise self.answer
        return boto3.client("sts").assume_role(**params)


def test_stage_services_go_to_the_stage_account_and_the_rest_stays(stage_settings):
    stage = accounts.stage_of(target(account=STAGE), "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1")
    assert stage is not None and stage.role_arn == f"arn:aws:iam::{STAGE}:role/stepdeploy-stage"
    with accounts.deploying_into(stage):
        clients.client("cloudwatch").put_metric_alarm(
            AlarmName="sample-prod-errors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        assert clients.client("s3") is clients.orchestrator_client("s3")
        assert clients.client("dynamodb") is clients.orchestrator_client("dynamodb")
    names = [a["AlarmName"] for a in in_account("cloudwatch", STAGE).describe_alarms()["MetricAlarms"]]
    assert names == ["sample-prod-errors"]
    assert boto3.client("cloudwatch").describe_alarms()["MetricAlarms"] == []  # not in the orchestrator's
    assert clients.client("cloudwatch") is clients.orchestrator_client("cloudwatch")  # outside the step


def test_credentials_are_assumed_once_per_execution_with_external_id_and_session_name(stage_settings):
    sts = RecordingSts()
    stage = accounts.stage_of(target(account=STAGE), "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1")
    assert stage is not None
    first = accounts.credentials(stage, sts)
    assert accounts.credentials(stage, sts) is first
    assert sts.calls == [{"RoleArn": f"arn:aws:iam::{STAGE}:role/stepdeploy-stage", "RoleSessionName": "run-1",
                          "DurationSeconds": 3600, "ExternalId": "stepdeploy"}]
    other = accounts.stage_of(target(account=STAGE), "arn:aws:states:us-east-1:123456789012:execution:deploy:run-2")
    assert other is not None
    accounts.credentials(other, sts)
    assert [c["RoleSessionName"] for c in sts.calls] == ["run-1", "run-2"]


def test_a_refused_assume_role_names_account_role_and_what_to_deploy(stage_settings):
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")
    stage = accounts.stage_of(target(account=STAGE), "run-1")
    assert stage is not None
    with pytest.raises(RequestRejected) as refused:
        accounts.credentials(stage, RecordingSts(denied))
    message = str(refused.value)
    assert f"cannot assume the stage role arn:aws:iam::{STAGE}:role/stepdeploy-stage in account {STAGE}" in message
    assert "(AccessDenied: not authorized)" in message
    assert "deploy templates/stage-account.yaml in account 222222222222" in message
    assert f"OrchestratorAccount={ORCHESTRATOR}" in message and "ExternalId=stepdeploy" in message


def test_the_orchestrators_own_account_and_region_is_no_stage(stage_settings):
    assert accounts.stage_of(target(), "run-1") is None
    assert accounts.stage_of(target(account=ORCHESTRATOR, region="us-east-1"), "run-1") is None


@pytest.mark.parametrize(
    ("fields", "error", "expected"),
    [
        ({"account": "333333333333"}, RequestRejected,
         r"targets \(stack sample-prod\).account: 333333333333 is not one of the orchestrator's stage accounts "
         r"\(222222222222\); the platform team lists it in the StageAccounts parameter"),
        ({"account": STAGE, "region": "eu-west-1"}, RequestRejected,
         r"targets \(stack sample-prod\).region: no stage template is deployed in eu-west-1 of account "
         r"222222222222 \(its code bucket stepdeploy-code-222222222222-eu-west-1 is missing"),
        ({"region": "eu-west-1"}, RequestRejected,
         r"targets \(stack sample-prod\).region: 123456789012 is not one of the orchestrator's stage accounts "
         r"\(222222222222\); a stage in the orchestrator's own account but another region \(eu-west-1\)"),
        ({"account": STAGE, "deployment": {"hooks": {"before_allow_traffic": "Check"}}}, ConfigurationError,
         r"targets \(stack sample-prod\).deployment.hooks: traffic hooks are not supported for a target in another"),
    ],
)
def test_check_stage_refuses_what_cannot_work(stage_settings, fields, error, expected):
    with pytest.raises(error, match=expected):
        accounts.check_stage(target(**fields))


def test_a_stage_in_another_region_with_its_code_bucket_passes(stage_settings):
    bucket = f"stepdeploy-code-{STAGE}-eu-west-1"
    in_account("s3", STAGE).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    stage = accounts.check_stage(target(account=STAGE, region="eu-west-1"))
    assert stage is not None and (stage.region, stage.code_bucket) == ("eu-west-1", bucket)
    assert accounts.in_another_region(stage)


def fake_ghe(monkeypatch, config: bytes) -> None:
    monkeypatch.setattr(GheApi, "file_at", lambda self, repo, path, ref, max_bytes=None:
                        config if path == "stepdeploy.yml" else None)


def test_resolve_request_checks_the_stack_owner_in_the_stage_account(stage_settings, monkeypatch):
    # A stack of that name in the orchestrator's account, not stepdeploy's: refused there, irrelevant here.
    template = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})
    boto3.client("cloudformation").create_stack(StackName="sample-prod", TemplateBody=template)
    handler = load_handler("resolve_request").handler
    fake_ghe(monkeypatch, b"version: 1\ntargets:\n  - {branch: main, stack: sample-prod}\n")
    with pytest.raises(RequestRejected, match="sample-prod"):
        handler(load_event("resolve_request-push"), Context())
    fake_ghe(monkeypatch, b"version: 1\ntargets:\n  - {branch: main, stack: sample-prod, account: '222222222222'}\n")
    out = handler(load_event("resolve_request-push"), Context())
    assert out["request"]["target"]["account"] == STAGE
    in_account("cloudformation", STAGE).create_stack(StackName="sample-prod", TemplateBody=template)
    with pytest.raises(RequestRejected, match="sample-prod"):  # the stage account's stack is not stepdeploy's
        handler(load_event("resolve_request-push"), Context())


def test_the_task_handler_runs_the_step_in_the_targets_stage(stage_settings):
    from stepdeploy.tasks.handler import task_handler

    seen: list[Any] = []

    def step(document: Any, execution: Any) -> None:
        seen.append((accounts.current_stage(), accounts.deploy_names()))

    handler = task_handler(step, "stack", holds_lock=False)
    event = load_event("check_stack")
    handler(event, Context())
    event["document"]["request"]["target"]["account"] = STAGE
    handler(event, Context())
    (own, own_names), (stage, stage_names) = seen
    assert own is None and own_names.codedeploy_application == ""
    assert stage is not None and stage.account == STAGE and stage.session_name == event["execution"]["Name"]
    assert stage_names.cloudformation_role_arn == f"arn:aws:iam::{STAGE}:role/stepdeploy-stage-cloudformation"
    assert stage_names.permissions_boundary_arn == f"arn:aws:iam::{STAGE}:policy/stepdeploy-stage-boundary"
    assert stage_names.codedeploy_application == "stepdeploy-stage"
    assert accounts.current_stage() is None  # only for the duration of the step


def test_resolve_request_refuses_an_image_of_another_region_before_the_build(stage_settings, monkeypatch):
    in_account("s3", STAGE).create_bucket(Bucket=f"stepdeploy-code-{STAGE}-eu-west-1",
                                          CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    image = f"{ORCHESTRATOR}.dkr.ecr.us-east-1.amazonaws.com/greeter@sha256:{'a' * 64}"
    template = json.dumps({"Resources": {"Greeter": {"Type": "AWS::Serverless::Function",
                                                     "Properties": {"PackageType": "Image", "ImageUri": image}}}})
    config = (b"version: 1\ntargets:\n"
              b"  - {branch: main, stack: sample-prod, account: '222222222222', region: eu-west-1}\n")
    files = {"stepdeploy.yml": config, "template.yaml": template.encode()}
    monkeypatch.setattr(GheApi, "file_at", lambda self, repo, path, ref, max_bytes=None: files.get(path))
    with pytest.raises(ConfigurationError, match=r"template.yaml: Greeter is a container-image function with an "
                                                 r"image in us-east-1, but the stack deploys in eu-west-1"):
        load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())


def test_create_change_set_reads_the_template_of_the_stages_region_and_refuses_another_regions(stage_settings):
    from stepdeploy.aws.artifacts import ArtifactStore
    from stepdeploy.models import ArtifactInfo, S3Object
    from stepdeploy.tasks.create_change_set import template_url

    store = ArtifactStore(boto3.client("s3", region_name="us-east-1"))
    home = ArtifactInfo(bundle=S3Object(bucket="art", key="builds/b.zip"), digest="d" * 64,
                        template=S3Object(bucket="art", key="templates/o/r/t.json"), parameters={})
    away = home.model_copy(update={"regional_copy": S3Object(bucket=f"stepdeploy-code-{STAGE}-eu-west-1",
                                                             key="templates/o/r/t.json")})
    assert template_url(store, home) == "https://art.s3.amazonaws.com/templates/o/r/t.json"
    with accounts.deploying_into(accounts.stage_of(target(account=STAGE, region="eu-west-1"), "run-1")):
        assert template_url(store, away) == (
            f"https://stepdeploy-code-{STAGE}-eu-west-1.s3.eu-west-1.amazonaws.com/templates/o/r/t.json")
        with pytest.raises(ArtifactRejected, match="packaged with its code in the orchestrator bucket, but this "
                                                   f"stack's stage reads code from stepdeploy-code-{STAGE}-eu-west-1"):
            template_url(store, home)
    with pytest.raises(ArtifactRejected, match=f"packaged with its code in stepdeploy-code-{STAGE}-eu-west-1"):
        template_url(store, away)
