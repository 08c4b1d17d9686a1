"""Shared set-up of the deploy-step handler tests: moto in this process and a sample application.

moto ignores SAM transforms in mock mode, so the sample app's template is plain CloudFormation
(AWS::Lambda::Function with a local ``Code`` path, packaged by the Package artifact step).
"""

from __future__ import annotations

import copy
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.awslambda.models import LambdaVersion
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import get_model_list, get_model_map, get_name_type_map
from moto.core.common_models import CloudFormationModel

from stepdeploy.aws.ledger import create_ledger_table
from stepdeploy.models import iso
from stepdeploy_localcloud import patching

from .conftest import Context, load_event, load_handler

REGION = "us-east-1"
ACCOUNT = "123456789012"
ARTIFACT_BUCKET = "stepdeploy-artifacts"
APPLICATION = "stepdeploy-lambda"
CODEDEPLOY_ROLE = "arn:aws:iam::123456789012:role/stepdeploy-codedeploy"
STACK = "sample-prod"
BUNDLE_KEY = "builds/platform/sample-app/6113728f27ae82c7b1a177c8d03f9e96e0adf246/bundle.zip"

TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Description: "sample app, plain CloudFormation (moto does not run SAM transforms in mock mode)"
Parameters:
  Greeting: {Type: String}
  FunctionRole: {Type: String}
Resources:
  Greeter:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !Ref FunctionRole
      Code: src/greeter
      Environment:
        Variables:
          GREETING: !Ref Greeting
  PreTraffic:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: hook.handler
      Role: !Ref FunctionRole
      Code: src/hooks
"""
CONFIG = "version: 1\ntargets:\n  - {branch: main, stack: sample-prod}\n"
NEW_CODE = "def handler(event, context):\n    return 'bonjour'\n"


def make_bundle(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sample_bundle(greeting_code: str = "def handler(event, context):\n    return 'hello'\n") -> bytes:
    return make_bundle(
        {
            "template.yaml": TEMPLATE,
            "stepdeploy.yml": CONFIG,
            "src/greeter/app.py": greeting_code,
            "src/hooks/hook.py": "def handler(event, context):\n    return None\n",
        }
    )


@dataclass
class DeployAws:
    role_arn: str

    @staticmethod
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def put_bundle(self, body: bytes, key: str = BUNDLE_KEY, metadata: dict[str, str] | None = None) -> None:
        """The build's upload: the sample documents' build then reports this body's sha256sum, as Check
        build records CodeBuild's ``artifacts.sha256sum`` of what it uploaded."""
        self.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body, Metadata=metadata or {})
        if key == BUNDLE_KEY:
            _REPORTED_SHA256["build"] = hashlib.sha256(body).hexdigest()

    def release_lock(self) -> None:
        self.client("dynamodb").delete_item(
            TableName="stepdeploy-table", Key={"pk": {"S": f"stack#{STACK}"}, "sk": {"S": "lock"}}
        )

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client("s3").list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listing.get("Contents", []))


class _AliasResource(CloudFormationModel):
    """AWS::Lambda::Alias for moto's own CloudFormation, which lacks it (stepdeploy adds one per managed
    function: stepdeploy.template.alias_wiring). Created and deleted as AWS does, through the Lambda backend."""

    def __init__(self, arn: str, function_name: str, name: str) -> None:
        self.arn, self.function_name, self.name = arn, function_name, name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _AliasResource:
        props = cloudformation_json["Properties"]
        alias = lambda_backend(account_id, region_name).create_alias(  # the backend moto's config picks
            name=props["Name"], function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]), description="", routing_config=None,
        )
        return cls(alias.arn, props["FunctionName"], props["Name"])

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn


def _version_attribute(self: Any, attribute_name: str) -> str:
    """moto's AWS::Lambda::Version has no Fn::GetAtt; AWS gives Version (the alias needs it)."""
    return str(self.version)


@pytest.fixture(name="deploy_aws")
def deploy_aws_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeployAws]:
    env = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ARTIFACT_BUCKET": ARTIFACT_BUCKET,
        "CODEDEPLOY_APPLICATION": APPLICATION,
        "CODEDEPLOY_ROLE_ARN": CODEDEPLOY_ROLE,
        "CLOUDFORMATION_ROLE_ARN": "arn:aws:iam::123456789012:role/stepdeploy-cloudformation",
        "TABLE_NAME": "stepdeploy-table",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # One check per invocation, as the state machine's loop would make; polling has its own tests.
        "POLL_BUDGET_SECONDS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    from stepdeploy.aws import clients, ledger
    from stepdeploy.settings import settings

    settings.cache_clear()
    clients.clear_clients()
    ledger.ledger.cache_clear()
    _REPORTED_SHA256.clear()
    monkeypatch.setattr(LambdaVersion, "get_cfn_attribute", _version_attribute, raising=False)
    for cached in (get_model_list, get_model_map, get_name_type_map):
        cached.cache_clear()  # _AliasResource joins the model map
    with patching.suspended(), mock_aws():  # moto as it ships, even after a local cloud test
        # Every task that changes the stack renews the stack's lock in the ledger table first.
        create_ledger_table(boto3.client("dynamodb", region_name=REGION), env["TABLE_NAME"])
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=ARTIFACT_BUCKET)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="sample-function", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        boto3.client("codedeploy", region_name=REGION).create_application(
            applicationName=APPLICATION, computePlatform="Lambda"
        )
        # The sample events' stepdeploy.yml gates on this alarm; Package artifact checks that it exists.
        boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
            AlarmName="GreeterErrorsAlarm", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        )
        yield DeployAws(role_arn=role)
    settings.cache_clear()
    clients.clear_clients()
    ledger.ledger.cache_clear()


_REPORTED_SHA256: dict[str, str] = {}


def document_of(event_name: str) -> dict[str, Any]:
    """The sample event's document; its build reports the sha256sum of the last bundle put_bundle uploaded."""
    document = copy.deepcopy(load_event(event_name)["document"])
    if document.get("build", {}).get("artifact") and "build" in _REPORTED_SHA256:
        document["build"]["artifact_sha256"] = _REPORTED_SHA256["build"]
    return document


def run(name: str, document: dict[str, Any], execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real handler of functions/<name>/app.py with a full payload."""
    payload = {"document": document, "execution": execution or load_event(name)["execution"]}
    return load_handler(name).handler(payload, Context())


def with_role(document: dict[str, Any], role_arn: str) -> dict[str, Any]:
    """The sample app's target parameters: the sample events' Greeting plus the function role."""
    document = copy.deepcopy(document)
    document["request"]["target"]["parameters"]["FunctionRole"] = role_arn
    return document


def execution_of(event_name: str, name: str = "demo-1") -> dict[str, Any]:
    """The sample event's execution context for another execution name (a new deployment)."""
    execution = copy.deepcopy(load_event(event_name)["execution"])
    execution["Id"] = execution["Id"].rsplit(":", 1)[0] + f":{name}"
    execution["Name"] = name
    execution["StartTime"] = iso()  # the sample's time is fixed; moto stamps resources with now
    return execution


def deploy_stack(aws: DeployAws, code: str | None = None, execution: str = "demo-1", **target: Any) -> dict[str, Any]:
    """Package, create, check, execute and check the stack: the document as Publish versions gets it.

    moto computes and executes change sets at once, so each check answers on its first call.
    """
    aws.release_lock()  # as Record release did at the end of the previous deployment
    aws.put_bundle(sample_bundle(code) if code else sample_bundle())
    document = with_role(document_of("package_artifact"), aws.role_arn)
    document["request"]["target"]["deployment"].update(target)
    document["lock"]["owner"] = execution_of("package_artifact", execution)["Id"]
    steps = [
        ("package_artifact", "package_artifact"),
        ("create_change_set", "create_change_set"),
        ("check_change_set", "check_change_set"),
        ("execute_change_set", "execute_change_set"),
        ("check_stack", "check_stack"),
    ]
    for handler, event in steps:
        document = run(handler, document, execution_of(event, execution))
        if document.get("changeset", {}).get("no_changes"):
            break
    return document


def moto_stack():
    backend = cloudformation_backends[ACCOUNT][REGION]
    return next(s for s in backend.stacks.values() if s.name == STACK)


def packaged(aws) -> dict:
    aws.put_bundle(sample_bundle())
    return run("package_artifact", with_role(document_of("package_artifact"), aws.role_arn))


def shifted_document(aws, **deployment) -> dict:
    """Two deployments of the sample app: the document as Start traffic shift gets it."""
    settings = {"alarms": [], "strategy": "LambdaAllAtOnce", **deployment}
    run("publish_versions", deploy_stack(aws, **settings), execution_of("publish_versions"))
    document = deploy_stack(aws, NEW_CODE, execution="demo-2", **settings)
    return run("publish_versions", document, execution_of("publish_versions", "demo-2"))


# --- paths moto cannot take: Stubber for CodeDeploy ------------------------------------------------
@pytest.fixture(name="stubbed_codedeploy")
def stubbed_codedeploy_fixture(monkeypatch):
    """The CodeDeploy client of the task modules, stubbed; every other client stays moto."""
    from stepdeploy.aws import clients

    stubbed = boto3.client("codedeploy", region_name=REGION)
    stubber = Stubber(stubbed)
    real = clients.client

    def client(service: str):
        return stubbed if service == "codedeploy" else real(service)

    for module in ("start_traffic_shift", "check_traffic_shift"):
        monkeypatch.setattr(f"stepdeploy.tasks.{module}.client", client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()
