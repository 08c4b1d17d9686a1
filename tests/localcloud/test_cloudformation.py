"""The CloudFormation adapter: SAM templates packaged, transformed and deployed for real.

Each test fails if moto's CloudFormation behaviour moves under the adapter (e.g. a transform
silently ignored, a resource type skipped, a no-change change set executable).
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.codedeploy.models import codedeploy_backends
from moto.s3.models import s3_backends

from stepdeploy_localcloud.cloudformation.api import NO_CHANGES_REASON
from stepdeploy_localcloud.cloudformation.package import deterministic_zip, dump_template, load_template, package
from stepdeploy_localcloud.cloudformation.resources import handler_for
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION
from tests.localcloud.event_shapes import assert_documented_shape

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]
BUCKET = "cfn-artifacts"

APP_TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Description: a small SAM app
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${AWS::StackName}-bus"
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/greeter
      Handler: app.handler
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/worker
      Handler: app.handler
      Environment:
        Variables:
          MODE: !If [IsProd, strict, relaxed]
  GreeterVersion:
    Type: AWS::Lambda::Version
    Properties:
      FunctionName: !Ref Greeter
  GreeterLive:
    Type: AWS::Lambda::Alias
    Properties:
      Name: live
      FunctionName: !Ref Greeter
      FunctionVersion: !GetAtt GreeterVersion.Version
  GreeterErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - Name: FunctionName
          Value: !Ref Greeter
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
  OnWork:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [my.app]
      Targets:
        - Id: worker
          Arn: !GetAtt Worker.Arn
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/flow.asl.json
      DefinitionSubstitutions:
        WorkerArn: !GetAtt Worker.Arn
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref Worker
Outputs:
  FlowArn:
    Value: !Ref Flow
  FlowName:
    Value: !GetAtt Flow.Name
  GreeterName:
    Value: !Ref Greeter
"""

FLOW_ASL = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${WorkerArn}", "Payload.$": "$"},
            "ResultSelector": {"result.$": "$.Payload"},
            "End": True,
        }
    },
}


def write_app(root: Path, greeting: str = "hello") -> Path:
    (root / "src" / "greeter").mkdir(parents=True, exist_ok=True)
    (root / "src" / "worker").mkdir(parents=True, exist_ok=True)
    (root / "statemachines").mkdir(exist_ok=True)
    (root / "src" / "greeter" / "app.py").write_text(
        f"def handler(event, context):\n    return {{'greeting': {greeting!r}}}\n"
    )
    (root / "src" / "worker" / "app.py").write_text(
        "import os\n\ndef handler(event, context):\n    return {'worked': event, 'mode': os.environ['MODE']}\n"
    )
    (root / "statemachines" / "flow.asl.json").write_text(json.dumps(FLOW_ASL))
    template = root / "template.yaml"
    template.write_text(APP_TEMPLATE)
    return template


@pytest.fixture(scope="module")
def adapters(moto_server: str) -> Iterator[str]:
    # The state machine's Lambda task needs the Step Functions and Lambda adapters as well.
    for name in ("awslambda", "stepfunctions", "cloudformation"):
        importlib.import_module(f"stepdeploy_localcloud.{name}.patch").apply()
    # These tests read results right after each call (no busy time, the default); the busy time that
    # the LocalCloud sets has a test of its own.
    yield moto_server


@pytest.fixture()
def s3(aws: Aws, adapters: str) -> Any:
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def deploy_change_set(
    cfn: Any,
    stack: str,
    template: dict[str, Any] | str,
    change_set: str,
    kind: str,
    capabilities: tuple[str, ...] = ("CAPABILITY_IAM",),
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = template if isinstance(template, str) else json.dumps(template)
    created = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=change_set,
        ChangeSetType=kind,
        TemplateBody=body,
        Capabilities=list(capabilities),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
    )
    return dict(cfn.describe_change_set(ChangeSetName=created["Id"]))


def stack_of(cfn: Any, stack: str) -> dict[str, Any]:
    return dict(cfn.describe_stacks(StackName=stack)["Stacks"][0])


def physical_ids(cfn: Any, stack: str) -> dict[str, str]:
    summaries = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}


def failed_events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [e for e in events if e["ResourceStatus"].endswith("_FAILED")]


# ------------------------------------------------------------------------------------------
# sam_package
# ------------------------------------------------------------------------------------------


def test_short_form_tags_become_long_form() -> None:
    template = load_template(
        "AWSTemplateFormatVersion: 2010-09-09\n"
        "Resources:\n"
        "  T:\n"
        "    Type: AWS::SNS::Topic\n"
        "    Properties:\n"
        "      A: !Ref X\n"
        "      B: !GetAtt Fn.Arn\n"
        "      C: !Sub '${AWS::StackName}-t'\n"
        "      D: !If [Cond, !Ref Y, !Ref AWS::NoValue]\n"
        "      E: !Select [0, !Split [',', 'a,b']]\n"
        "      F: !GetAtt [Fn, Arn]\n"
        "      G: !Join ['', [a, !Base64 b]]\n"
    )
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    props = template["Resources"]["T"]["Properties"]
    assert props["A"] == {"Ref": "X"}
    assert props["B"] == props["F"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert props["C"] == {"Fn::Sub": "${AWS::StackName}-t"}
    assert props["D"] == {"Fn::If": ["Cond", {"Ref": "Y"}, {"Ref": "AWS::NoValue"}]}
    assert props["E"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["G"] == {"Fn::Join": ["", ["a", {"Fn::Base64": "b"}]]}
    assert load_template(dump_template(template)) == template
    assert json.loads(dump_template(template, "json")) == template


def test_package_uploads_content_addressed_deterministic_artifacts(tmp_path: Path, s3: Any) -> None:
    template_path = write_app(tmp_path / "app")
    packaged = package(template_path, BUCKET, s3, prefix="apps/")
    again = package(template_path, BUCKET, s3, prefix="apps/")
    assert packaged == again  # same content, same keys

    resources = packaged["Resources"]
    greeter_uri = resources["Greeter"]["Properties"]["CodeUri"]
    flow_uri = resources["Flow"]["Properties"]["DefinitionUri"]
    assert greeter_uri.startswith(f"s3://{BUCKET}/apps/") and len(greeter_uri.rsplit("/", 1)[1]) == 64
    assert greeter_uri != resources["Worker"]["Properties"]["CodeUri"]
    assert packaged["Globals"]["Function"]["Runtime"] == "python3.11"

    greeter_zip = s3.get_object(Bucket=BUCKET, Key=greeter_uri.split("/", 3)[3])["Body"].read()
    assert greeter_zip == deterministic_zip(tmp_path / "app" / "src" / "greeter")
    assert zipfile.ZipFile(io.BytesIO(greeter_zip)).namelist() == ["app.py"]
    flow = s3.get_object(Bucket=BUCKET, Key=flow_uri.split("/", 3)[3])["Body"].read()
    assert json.loads(flow) == FLOW_ASL  # definitions are uploaded as they are

    (tmp_path / "app" / "src" / "greeter" / "app.py").touch()  # a new mtime alone changes nothing
    assert package(template_path, BUCKET, s3, prefix="apps/") == packaged


def test_package_builds_makefile_layers_and_uses_globals_code_uri(tmp_path: Path, s3: Any) -> None:
    layer_dir = tmp_path / "layer"
    layer_dir.mkdir()
    (layer_dir / "shared.py").write_text("VALUE = 1\n")
    (layer_dir / "Makefile").write_text(
        "build-SharedLayer:\n"
        '\ttest "$(STEPDEPLOY_LOCAL_BUILD)" = "1"\n'
        "\tmkdir -p $(ARTIFACTS_DIR)/python/shared\n"
        "\tcp shared.py $(ARTIFACTS_DIR)/python/shared/__init__.py\n"
    )
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Globals:\n"
        "  Function:\n"
        "    CodeUri: code\n"
        "Resources:\n"
        "  SharedLayer:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        "    Metadata:\n"
        "      BuildMethod: makefile\n"
        "    Properties:\n"
        "      ContentUri: layer\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.11\n"
        "      Layers: [!Ref SharedLayer]\n"
    )
    packaged = package(tmp_path / "template.yaml", BUCKET, s3)
    layer_uri = packaged["Resources"]["SharedLayer"]["Properties"]["ContentUri"]
    layer_zip = s3.get_object(Bucket=BUCKET, Key=layer_uri.split("/", 3)[3])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(layer_zip)).namelist() == ["python/shared/__init__.py"]
    assert packaged["Globals"]["Function"]["CodeUri"].startswith(f"s3://{BUCKET}/")
    assert packaged["Resources"]["Fn"]["Properties"]["CodeUri"] == packaged["Globals"]["Function"]["CodeUri"]


# ------------------------------------------------------------------------------------------
# A SAM app through change sets
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_stack(tmp_path_factory: pytest.TempPathFactory, adapters: str) -> Iterator[dict[str, Any]]:
    """The SAM app, created through a CREATE change set (shared by the tests that only read it)."""
    import boto3

    from stepdeploy_localcloud import endpoint

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=adapters,
            region_name=endpoint.REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    root = tmp_path_factory.mktemp("sam-app")
    packaged = package(write_app(root), BUCKET, s3)
    cfn = client("cloudformation")
    described = deploy_change_set(cfn, "sam-app", packaged, "create-1", "CREATE")
    yield {"cfn": cfn, "root": root, "packaged": packaged, "change_set": described, "client": client}


def test_create_change_set_lists_the_transformed_resources(app_stack: dict[str, Any]) -> None:
    described = app_stack["change_set"]
    assert described["Status"] == "CREATE_COMPLETE"
    assert described["ExecutionStatus"] == "AVAILABLE"
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}
    # SAM's roles are there: the template was transformed, not ignored.
    assert {"Greeter", "GreeterRole", "Worker", "WorkerRole", "Flow", "FlowRole", "GreeterLive"} <= set(changes)
    assert {c["Action"] for c in changes.values()} == {"Add"}
    assert changes["Flow"]["ResourceType"] == "AWS::StepFunctions::StateMachine"
    assert stack_of(app_stack["cfn"], "sam-app")["StackStatus"] in ("REVIEW_IN_PROGRESS", "CREATE_COMPLETE")


@pytest.fixture(scope="module")
def executed_app(app_stack: dict[str, Any]) -> dict[str, Any]:
    cfn = app_stack["cfn"]
    cfn.execute_change_set(ChangeSetName=app_stack["change_set"]["ChangeSetId"])
    return app_stack


def test_executed_create_change_set_creates_every_resource(executed_app: dict[str, Any]) -> None:
    cfn, client = executed_app["cfn"], executed_app["client"]
    stack = stack_of(cfn, "sam-app")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    ids = physical_ids(cfn, "sam-app")
    assert ids["Greeter"].startswith("sam-app-Greeter-")

    lam = client("lambda")
    greeter = lam.get_function_configuration(FunctionName=ids["Greeter"])
    assert greeter["Environment"]["Variables"] == {"STAGE": "dev"}
    assert greeter["Timeout"] == 10
    worker = lam.get_function_configuration(FunctionName=ids["Worker"])
    assert worker["Environment"]["Variables"] == {"STAGE": "dev", "MODE": "relaxed"}
    alias = lam.get_alias(FunctionName=ids["Greeter"], Name="live")
    assert alias["FunctionVersion"] == "1"

    alarms = client("cloudwatch").describe_alarms(AlarmNames=[ids["GreeterErrors"]])["MetricAlarms"]
    assert alarms[0]["Dimensions"] == [{"Name": "FunctionName", "Value": ids["Greeter"]}]

    bus = "sam-app-bus"
    rules = client("events").list_rules(EventBusName=bus)["Rules"]
    assert ids["OnWork"] == f"{bus}|{rules[0]['Name']}"
    targets = client("events").list_targets_by_rule(Rule=rules[0]["Name"], EventBusName=bus)["Targets"]
    assert targets[0]["Arn"] == worker["FunctionArn"]

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["FlowArn"] == ids["Flow"]
    assert outputs["FlowName"].startswith("Flow-")
    assert outputs["GreeterName"] == ids["Greeter"]

    summaries = {s["StackName"]: s for s in cfn.list_stacks()["StackSummaries"]}
    assert summaries["sam-app"]["StackStatus"] == "CREATE_COMPLETE"
    assert summaries["sam-app"]["TemplateDescription"] == "a small SAM app"
    statuses = [
        (e["LogicalResourceId"], e["ResourceStatus"])
        for e in cfn.describe_stack_events(StackName="sam-app")["StackEvents"]
    ]
    assert ("Greeter", "CREATE_COMPLETE") in statuses
    assert statuses[0] == ("sam-app", "CREATE_COMPLETE")


def test_state_machine_lands_in_the_executing_backend_with_substitutions(executed_app: dict[str, Any]) -> None:
    cfn, client = executed_app["cfn"], executed_app["client"]
    ids = physical_ids(cfn, "sam-app")
    sfn = client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=ids["Flow"])
    worker_arn = client("lambda").get_function_configuration(FunctionName=ids["Worker"])["FunctionArn"]
    assert json.loads(machine["definition"])["States"]["Work"]["Parameters"]["FunctionName"] == worker_arn

    execution = sfn.start_execution(stateMachineArn=ids["Flow"], input=json.dumps({"n": 1}))
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the state machine from the template did not finish"
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"result": {"worked": {"n": 1}, "mode": "relaxed"}}


def test_update_change_set_modifies_the_function_whose_code_changed(executed_app: dict[str, Any]) -> None:
    cfn, client, root = executed_app["cfn"], executed_app["client"], executed_app["root"]
    lam = client("lambda")
    ids = physical_ids(cfn, "sam-app")
    before = lam.get_function_configuration(FunctionName=ids["Greeter"])
    worker_before = lam.get_function_configuration(FunctionName=ids["Worker"])

    write_app(root, greeting="bonjour")
    packaged = package(root / "template.yaml", BUCKET, client("s3"))
    described = deploy_change_set(cfn, "sam-app", packaged, "update-1", "UPDATE", parameters={"Stage": "prod"})
    assert described["Status"] == "CREATE_COMPLETE", described.get("StatusReason")
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}
    greeter = changes["Greeter"]
    assert (greeter["Action"], greeter["Replacement"]) == ("Modify", "False")
    assert greeter["PhysicalResourceId"] == ids["Greeter"]
    assert {d["Target"]["Name"] for d in greeter["Details"]} == {"Code", "Environment"}
    assert changes["Worker"]["Action"] == "Modify"  # STAGE and MODE follow the parameter
    assert "Flow" not in changes and "GreeterErrors" not in changes

    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    assert stack_of(cfn, "sam-app")["StackStatus"] == "UPDATE_COMPLETE"
    after = lam.get_function_configuration(FunctionName=ids["Greeter"])
    assert physical_ids(cfn, "sam-app")["Greeter"] == ids["Greeter"]  # updated in place
    assert after["CodeSha256"] != before["CodeSha256"]
    assert after["Environment"]["Variables"] == {"STAGE": "prod"}
    worker_after = lam.get_function_configuration(FunctionName=ids["Worker"])
    assert worker_after["CodeSha256"] == worker_before["CodeSha256"]
    assert worker_after["Environment"]["Variables"] == {"STAGE": "prod", "MODE": "strict"}
    payload = lam.invoke(FunctionName=ids["Greeter"])["Payload"].read()
    assert json.loads(payload) == {"greeting": "bonjour"}

    # The same package and parameters again: nothing to change, nothing to execute.
    same = deploy_change_set(cfn, "sam-app", packaged, "update-2", "UPDATE", parameters={"Stage": "prod"})
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"] == NO_CHANGES_REASON
    with pytest.raises(ClientError) as raised:
        cfn.execute_change_set(ChangeSetName=same["ChangeSetId"])
    assert raised.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


# ------------------------------------------------------------------------------------------
# Capabilities, unsupported types, rollback
# ------------------------------------------------------------------------------------------

PLAIN_ROLE_TEMPLATE = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        }
    }
}


def test_capabilities_are_required_as_aws_requires_them(tmp_path: Path, aws: Aws, s3: Any) -> None:
    cfn = aws("cloudformation")
    packaged = package(write_app(tmp_path / "app"), BUCKET, s3)

    # A transform: CreateStack needs CAPABILITY_AUTO_EXPAND...
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(StackName="caps-1", TemplateBody=json.dumps(packaged), Capabilities=["CAPABILITY_IAM"])
    assert raised.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    assert "CAPABILITY_AUTO_EXPAND" in raised.value.response["Error"]["Message"]
    # ...a change set does not, but SAM's roles need CAPABILITY_IAM: the change set fails.
    described = deploy_change_set(cfn, "caps-2", packaged, "c", "CREATE", capabilities=())
    assert described["Status"] == "FAILED"
    assert described["StatusReason"] == "Requires capabilities : [CAPABILITY_IAM]"

    # Without a transform the error is immediate.
    with pytest.raises(ClientError) as raised:
        cfn.create_change_set(
            StackName="caps-3", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=json.dumps(PLAIN_ROLE_TEMPLATE)
        )
    assert raised.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    named = json.loads(json.dumps(PLAIN_ROLE_TEMPLATE))
    named["Resources"]["Role"]["Properties"]["RoleName"] = "caps-named"
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(StackName="caps-4", TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_IAM"])
    assert raised.value.response["Error"]["Message"] == "Requires capabilities : [CAPABILITY_NAMED_IAM]"

    cfn.create_stack(
        StackName="caps-5", TemplateBody=json.dumps(packaged), Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    )
    assert stack_of(cfn, "caps-5")["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName="caps-5")


def test_unsupported_resource_type_fails_the_stack_naming_it(aws: Aws, adapters: str) -> None:
    cfn = aws("cloudformation")
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "unsupported-topic"}},
            "Graph": {"Type": "AWS::AppSync::GraphQLApi", "DependsOn": "Topic", "Properties": {"Name": "g"}},
        }
    }
    assert handler_for("AWS::AppSync::GraphQLApi") is None
    cfn.create_stack(StackName="unsupported", TemplateBody=json.dumps(template))
    stack = stack_of(cfn, "unsupported")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    [failed] = failed_events(cfn, "unsupported")
    assert failed["LogicalResourceId"] == "Graph"
    assert "AWS::AppSync::GraphQLApi" in failed["ResourceStatusReason"]
    assert "Graph" in failed["ResourceStatusReason"]
    # The topic created before the failure was rolled back.
    topics = aws("sns").list_topics()["Topics"]
    assert not [t for t in topics if t["TopicArn"].endswith(":unsupported-topic")]
    assert cfn.list_stack_resources(StackName="unsupported")["StackResourceSummaries"] == []
    with pytest.raises(ClientError, match="ROLLBACK_COMPLETE state and can not be updated"):
        cfn.update_stack(StackName="unsupported", TemplateBody=json.dumps(template))


def _function_template(key: str, variables: dict[str, str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Resources": {
            "Role": json.loads(json.dumps(PLAIN_ROLE_TEMPLATE["Resources"]["Role"])),
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "app.handler",
                    "Runtime": "python3.11",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": BUCKET, "S3Key": key},
                    "Environment": {"Variables": variables},
                },
            },
            **(extra or {}),
        }
    }


def test_failed_update_rolls_back_to_the_previous_state(tmp_path: Path, aws: Aws, s3: Any) -> None:
    cfn, lam = aws("cloudformation"), aws("lambda")
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    s3.put_object(Bucket=BUCKET, Key="rollback/code.zip", Body=deterministic_zip(tmp_path))
    cfn.create_stack(
        StackName="rollback",
        TemplateBody=json.dumps(_function_template("rollback/code.zip", {"V": "1"})),
        Capabilities=["CAPABILITY_IAM"],
    )
    assert stack_of(cfn, "rollback")["StackStatus"] == "CREATE_COMPLETE"
    function_name = physical_ids(cfn, "rollback")["Fn"]

    broken_new_function = {
        "Broken": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": "Fn",
            "Properties": {
                "Handler": "app.handler",
                "Runtime": "python3.11",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"S3Bucket": BUCKET, "S3Key": "rollback/missing.zip"},
            },
        }
    }
    template = _function_template("rollback/code.zip", {"V": "2"}, broken_new_function)
    cfn.update_stack(StackName="rollback", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    stack = stack_of(cfn, "rollback")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    [failed] = failed_events(cfn, "rollback")
    assert (failed["LogicalResourceId"], failed["ResourceStatus"]) == ("Broken", "CREATE_FAILED")
    assert "NoSuchKey" in failed["ResourceStatusReason"] or "does not exist" in failed["ResourceStatusReason"]
    # Fn's in-place update was undone and the stack keeps its old resources.
    assert lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"] == {"V": "1"}
    assert set(physical_ids(cfn, "rollback")) == {"Role", "Fn"}
    statuses = [
        e["ResourceStatus"]
        for e in cfn.describe_stack_events(StackName="rollback")["StackEvents"]
        if e["LogicalResourceId"] == "rollback"
    ]
    assert statuses[:3] == [
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
    ]

    # A function whose update fails half-way (configuration applied, code missing) is put back.
    half_way = _function_template("rollback/missing.zip", {"V": "2"})
    cfn.update_stack(StackName="rollback", TemplateBody=json.dumps(half_way), Capabilities=["CAPABILITY_IAM"])
    assert stack_of(cfn, "rollback")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = failed_events(cfn, "rollback")[0]
    assert (failed["LogicalResourceId"], failed["ResourceStatus"]) == ("Fn", "UPDATE_FAILED")
    assert lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"] == {"V": "1"}

    # A stack rolled back on update can be updated again, and removed resources are deleted.
    cfn.update_stack(
        StackName="rollback",
        TemplateBody=json.dumps(_function_template("rollback/code.zip", {"V": "3"})),
        Capabilities=["CAPABILITY_IAM"],
    )
    assert stack_of(cfn, "rollback")["StackStatus"] == "UPDATE_COMPLETE"
    assert lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"] == {"V": "3"}
    cfn.delete_stack(StackName="rollback")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=function_name)


# ------------------------------------------------------------------------------------------
# The resource types moto skips, crashes on or cannot update
# ------------------------------------------------------------------------------------------


def _resource_types_template(variant: str) -> dict[str, Any]:
    role = json.loads(json.dumps(PLAIN_ROLE_TEMPLATE["Resources"]["Role"]))
    role["Properties"]["Policies"] = [
        {
            "PolicyName": f"inline-{variant}",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]},
        }
    ]
    fn_arn = {"Fn::GetAtt": ["Fn", "Arn"]}
    return {
        "Parameters": {"Threshold": {"Type": "Number", "Default": "1"}},
        "Resources": {
            "Role": role,
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "inline",
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                    },
                },
            },
            "Layer": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {"LayerName": "types-layer", "Content": {"S3Bucket": BUCKET, "S3Key": "types/code.zip"}},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "app.handler",
                    "Runtime": "python3.11",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": BUCKET, "S3Key": "types/code.zip"},
                    "Layers": [{"Ref": "Layer"}],
                    "Environment": {"Variables": {"VARIANT": variant}},
                },
            },
            "Version1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            # Variant b changes the function, so it can publish a second version for the alias to shift to.
            **(
                {}
                if variant == "a"
                else {
                    "Version2": {
                        "Type": "AWS::Lambda::Version",
                        "Properties": {"FunctionName": {"Ref": "Fn"}, "Description": "b"},
                    }
                }
            ),
            "Alias": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "Name": "live",
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionVersion": {"Fn::GetAtt": ["Version1", "Version"]},
                    **(
                        {}
                        if variant == "a"
                        else {
                            "RoutingConfig": {
                                "AdditionalVersionWeights": [
                                    {"FunctionVersion": {"Fn::GetAtt": ["Version2", "Version"]}, "FunctionWeight": 0.25}
                                ]
                            }
                        }
                    ),
                },
            },
            "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": fn_arn, "AuthType": "NONE"}},
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "events.amazonaws.com",
                },
            },
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "types-alarm",
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Statistic": "Sum",
                    "Period": 60,
                    "EvaluationPeriods": 1,
                    "Threshold": {"Ref": "Threshold"},
                    "ComparisonOperator": "GreaterThanThreshold",
                    "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Fn"}}],
                },
            },
            "Dashboard": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardName": "types", "DashboardBody": json.dumps({"widgets": []})},
            },
            "App": {"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}},
            "Group": {
                "Type": "AWS::CodeDeploy::DeploymentGroup",
                "Properties": {
                    "ApplicationName": {"Ref": "App"},
                    "ServiceRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DeploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
                    "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
                    "AlarmConfiguration": {"Enabled": True, "Alarms": [{"Name": {"Ref": "Alarm"}}]},
                    "AutoRollbackConfiguration": {
                        "Enabled": True,
                        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
                    },
                },
            },
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "types-bus"}},
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": {"source": [variant]},
                    "Targets": [{"Id": "fn", "Arn": fn_arn}],
                },
            },
            "Secret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"GenerateSecretString": {"PasswordLength": 24, "ExcludePunctuation": True}},
            },
            "ScheduleGroup": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": "types-group"}},
            "Schedule": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "GroupName": {"Ref": "ScheduleGroup"},
                    "ScheduleExpression": "rate(5 minutes)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": fn_arn, "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}},
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": variant}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30 if variant == "a" else 60}},
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST" if variant == "a" else "PROVISIONED",
                    **(
                        {}
                        if variant == "a"
                        else {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}
                    ),
                },
            },
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}},
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:DeleteBucket",
                                "Resource": {"Fn::GetAtt": ["Bucket", "Arn"]},
                            }
                        ],
                    },
                },
            },
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7 if variant == "a" else 14}},
            "Project": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "ServiceRole": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Artifacts": {"Type": "NO_ARTIFACTS"},
                    "Source": {"Type": "NO_SOURCE", "BuildSpec": "version: 0.2"},
                    "Environment": {
                        "Type": "LINUX_CONTAINER",
                        "ComputeType": "BUILD_GENERAL1_SMALL",
                        "Image": "aws/codebuild/standard:7.0",
                    },
                },
            },
            "HttpApi": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "types-api", "ProtocolType": "HTTP"}},
            "HttpIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "HttpApi"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": fn_arn,
                    "PayloadFormatVersion": "2.0",
                },
            },
            "HttpRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "HttpApi"},
                    "RouteKey": "POST /hook",
                    "Target": {"Fn::Sub": "integrations/${HttpIntegration}"},
                },
            },
            "HttpStage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
            },
            "Repo": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "types-repo"}},
        },
        "Outputs": {
            "SecretArn": {"Value": {"Ref": "Secret"}},
            "FunctionUrl": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}},
            "AliasArn": {"Value": {"Ref": "Alias"}},
            "QueueUrl": {"Value": {"Ref": "Queue"}},
        },
    }


def test_resource_types_moto_skips_are_created_updated_and_deleted(tmp_path: Path, aws: Aws, s3: Any) -> None:
    cfn, lam = aws("cloudformation"), aws("lambda")
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    s3.put_object(Bucket=BUCKET, Key="types/code.zip", Body=deterministic_zip(tmp_path))
    cfn.create_stack(
        StackName="types", TemplateBody=json.dumps(_resource_types_template("a")), Capabilities=["CAPABILITY_IAM"]
    )
    stack = stack_of(cfn, "types")
    assert stack["StackStatus"] == "CREATE_COMPLETE", failed_events(cfn, "types")
    ids = physical_ids(cfn, "types")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    function = lam.get_function_configuration(FunctionName=ids["Fn"])
    assert [layer["Arn"] for layer in function["Layers"]] == [ids["Layer"]]
    alias = lam.get_alias(FunctionName=ids["Fn"], Name="live")
    assert alias["AliasArn"] == outputs["AliasArn"] == ids["Alias"]
    assert (alias["FunctionVersion"], alias.get("RoutingConfig")) == ("1", None)
    assert lam.get_function_url_config(FunctionName=ids["Fn"])["FunctionUrl"] == outputs["FunctionUrl"]
    assert "events.amazonaws.com" in lam.get_policy(FunctionName=ids["Fn"])["Policy"]
    assert aws("cloudwatch").describe_alarms(AlarmNames=["types-alarm"])["MetricAlarms"][0]["Threshold"] == 1.0
    assert aws("cloudwatch").get_dashboard(DashboardName="types")["DashboardName"] == "types"
    group = aws("codedeploy").get_deployment_group(applicationName=ids["App"], deploymentGroupName=ids["Group"])
    assert group["deploymentGroupInfo"]["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    group_model = codedeploy_backends[ACCOUNT_ID][REGION].deployment_groups[ids["App"]][ids["Group"]]
    assert group_model.alarm_configuration == {"enabled": True, "alarms": [{"name": "types-alarm"}]}
    rules = aws("events").list_rules(EventBusName="types-bus")["Rules"]
    assert json.loads(rules[0]["EventPattern"]) == {"source": ["a"]}
    assert len(aws("secretsmanager").get_secret_value(SecretId=outputs["SecretArn"])["SecretString"]) == 24
    assert (
        aws("scheduler").get_schedule(Name=ids["Schedule"], GroupName="types-group")["ScheduleExpression"]
        == "rate(5 minutes)"
    )
    assert aws("sns").get_topic_attributes(TopicArn=ids["Topic"])["Attributes"]["DisplayName"] == "a"
    assert outputs["QueueUrl"] == ids["Queue"]
    assert (
        aws("dynamodb").describe_table(TableName=ids["Table"])["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )
    # moto's GetBucketNotificationConfiguration never shows EventBridgeConfiguration: read the model.
    bucket_model = s3_backends[ACCOUNT_ID]["aws"].buckets[ids["Bucket"]]
    assert bucket_model.notification_configuration.event_bridge == {}
    assert "s3:DeleteBucket" in s3.get_bucket_policy(Bucket=ids["Bucket"])["Policy"]
    assert aws("logs").describe_log_groups(logGroupNamePrefix=ids["Logs"])["logGroups"][0]["retentionInDays"] == 7
    assert aws("codebuild").batch_get_projects(names=[ids["Project"]])["projects"][0]["name"] == ids["Project"]
    api = aws("apigatewayv2")
    assert [r["RouteKey"] for r in api.get_routes(ApiId=ids["HttpApi"])["Items"]] == ["POST /hook"]
    assert [s["StageName"] for s in api.get_stages(ApiId=ids["HttpApi"])["Items"]] == ["$default"]
    assert aws("ecr").describe_repositories(repositoryNames=["types-repo"])["repositories"]

    # Update: every changed property lands in place; nothing is replaced.
    cfn.update_stack(
        StackName="types",
        TemplateBody=json.dumps(_resource_types_template("b")),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Threshold", "ParameterValue": "5"}],
    )
    assert stack_of(cfn, "types")["StackStatus"] == "UPDATE_COMPLETE", failed_events(cfn, "types")
    updated_ids = physical_ids(cfn, "types")
    assert {k: v for k, v in updated_ids.items() if k != "Version2"} == ids
    assert lam.get_function_configuration(FunctionName=ids["Fn"])["Environment"]["Variables"] == {"VARIANT": "b"}
    assert updated_ids["Version2"].endswith(":2")
    assert lam.get_alias(FunctionName=ids["Fn"], Name="live")["RoutingConfig"]["AdditionalVersionWeights"] == {
        "2": 0.25
    }
    assert aws("cloudwatch").describe_alarms(AlarmNames=["types-alarm"])["MetricAlarms"][0]["Threshold"] == 5.0
    rules = aws("events").list_rules(EventBusName="types-bus")["Rules"]
    assert json.loads(rules[0]["EventPattern"]) == {"source": ["b"]}
    assert aws("sns").get_topic_attributes(TopicArn=ids["Topic"])["Attributes"]["DisplayName"] == "b"
    assert (
        aws("sqs").get_queue_attributes(QueueUrl=ids["Queue"], AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
        == "60"
    )
    assert (
        aws("dynamodb").describe_table(TableName=ids["Table"])["Table"]["BillingModeSummary"]["BillingMode"]
        == "PROVISIONED"
    )
    assert aws("logs").describe_log_groups(logGroupNamePrefix=ids["Logs"])["logGroups"][0]["retentionInDays"] == 14
    assert sorted(aws("iam").list_role_policies(RoleName=ids["Role"])["PolicyNames"]) == ["inline", "inline-b"]

    cfn.delete_stack(StackName="types")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE", [
        e.get("ResourceStatusReason") for e in failed_events(cfn, stack["StackId"])
    ]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=ids["Fn"])
    assert aws("cloudwatch").describe_alarms(AlarmNames=["types-alarm"])["MetricAlarms"] == []
    assert aws("events").list_event_buses(NamePrefix="types-bus")["EventBuses"] == []
    assert aws("ecr").describe_repositories()["repositories"] == []
    assert ids["Bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_second_version_of_an_unchanged_function_fails_as_on_aws(tmp_path: Path, aws: Aws, s3: Any) -> None:
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    s3.put_object(Bucket=BUCKET, Key="versions/code.zip", Body=deterministic_zip(tmp_path))
    template = _function_template(
        "versions/code.zip",
        {},
        {
            "V1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "V2": {"Type": "AWS::Lambda::Version", "DependsOn": "V1", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        },
    )
    cfn = aws("cloudformation")
    cfn.create_stack(StackName="versions", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    assert stack_of(cfn, "versions")["StackStatus"] == "ROLLBACK_COMPLETE"
    [failed] = failed_events(cfn, "versions")
    assert failed["LogicalResourceId"] == "V2"
    assert failed["ResourceStatusReason"] == (
        "A version for this Lambda function exists ( 1 ). Modify the function to create a new version."
    )


def test_sam_event_sources_deploy_from_a_template_url(tmp_path: Path, aws: Aws, s3: Any, adapters: str) -> None:
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "app.py").write_text("def handler(e, c):\n    return {'statusCode': 200}\n")
    events = {
        "Http": {"Type": "HttpApi", "Properties": {"Path": "/hook", "Method": "POST"}},
        "Rest": {"Type": "Api", "Properties": {"Path": "/status", "Method": "GET", "RestApiId": {"Ref": "Rest"}}},
        "Hourly": {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(1 hour)"}},
        "Jobs": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}}},
    }
    function = {
        "CodeUri": "hook",
        "Handler": "app.handler",
        "Runtime": "python3.11",
        "FunctionUrlConfig": {"AuthType": "NONE"},
        "Events": events,
    }
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Hook": {"Type": "AWS::Serverless::Function", "Properties": function},
            "Jobs": {"Type": "AWS::SQS::Queue"},
            "Locks": {"Type": "AWS::Serverless::SimpleTable"},
            "Rest": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "prod"}},
        },
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    packaged = package(tmp_path / "template.json", BUCKET, s3)
    s3.put_object(Bucket=BUCKET, Key="templates/events.json", Body=json.dumps(packaged))
    cfn = aws("cloudformation")
    created = cfn.create_change_set(
        StackName="events",
        ChangeSetName="c",
        ChangeSetType="CREATE",
        Capabilities=["CAPABILITY_IAM"],
        TemplateURL=f"{adapters}/{BUCKET}/templates/events.json",
    )
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert stack_of(cfn, "events")["StackStatus"] == "CREATE_COMPLETE", failed_events(cfn, "events")
    ids = physical_ids(cfn, "events")

    routes = aws("apigatewayv2").get_routes(ApiId=ids["ServerlessHttpApi"])["Items"]
    assert [r["RouteKey"] for r in routes] == ["POST /hook"]
    rest_paths = [r["path"] for r in aws("apigateway").get_resources(restApiId=ids["Rest"])["items"]]
    assert "/status" in rest_paths
    assert aws("apigateway").get_stage(restApiId=ids["Rest"], stageName="prod")["deploymentId"]
    assert aws("scheduler").get_schedule(Name=ids["HookHourly"])["Target"]["Arn"].endswith(ids["Hook"])
    mappings = aws("lambda").list_event_source_mappings(FunctionName=ids["Hook"])["EventSourceMappings"]
    assert [m["EventSourceArn"].rsplit(":", 1)[1] for m in mappings] == [ids["Jobs"].rsplit("/", 1)[1]]
    assert aws("lambda").get_function_url_config(FunctionName=ids["Hook"])["AuthType"] == "NONE"
    assert aws("dynamodb").describe_table(TableName=ids["Locks"])["Table"]["KeySchema"][0]["AttributeName"] == "id"
    stages = cfn.get_template(StackName="events", TemplateStage="Processed")["StagesAvailable"]
    assert stages == ["Original", "Processed"]

    cfn.delete_stack(StackName="events")
    with pytest.raises(ClientError):
        aws("lambda").get_function(FunctionName=ids["Hook"])
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="events")


def test_replacement_reaches_the_resources_that_refer_to_it(aws: Aws, adapters: str) -> None:
    cfn, sns = aws("cloudformation"), aws("sns")
    template = {
        "Parameters": {"TopicName": {"Type": "String"}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "TopicName"}}},
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                },
            },
        },
        "Outputs": {"Topic": {"Value": {"Ref": "Topic"}, "Export": {"Name": "replacement-topic"}}},
    }
    body = json.dumps(template)
    deploy_change_set(cfn, "replacement", body, "c1", "CREATE", (), {"TopicName": "first-topic"})
    cfn.execute_change_set(ChangeSetName="c1", StackName="replacement")
    assert stack_of(cfn, "replacement")["StackStatus"] == "CREATE_COMPLETE"
    first = physical_ids(cfn, "replacement")

    described = deploy_change_set(cfn, "replacement", body, "c2", "UPDATE", (), {"TopicName": "second-topic"})
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}
    assert (changes["Topic"]["Action"], changes["Topic"]["Replacement"]) == ("Modify", "True")
    assert (changes["Subscription"]["Action"], changes["Subscription"]["Replacement"]) == ("Modify", "Conditional")
    assert changes["Subscription"]["Details"][0]["Evaluation"] == "Dynamic"
    assert "Queue" not in changes

    cfn.execute_change_set(ChangeSetName="c2", StackName="replacement")
    assert stack_of(cfn, "replacement")["StackStatus"] == "UPDATE_COMPLETE"
    second = physical_ids(cfn, "replacement")
    assert second["Topic"].endswith(":second-topic") and second["Queue"] == first["Queue"]
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert second["Topic"] in topics and first["Topic"] not in topics  # the old one went in cleanup
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=second["Topic"])["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subscriptions] == [second["Subscription"]]
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports["replacement-topic"] == second["Topic"]
    cfn.delete_stack(StackName="replacement")
    assert "replacement-topic" not in {e["Name"] for e in cfn.list_exports()["Exports"]}


def test_queue_policy_is_set_and_removed(aws: Aws, adapters: str) -> None:
    cfn, sqs = aws("cloudformation"), aws("sqs")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]}
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Policy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": policy},
            },
        }
    }
    cfn.create_stack(StackName="queue-policy", TemplateBody=json.dumps(template))
    url = physical_ids(cfn, "queue-policy")["Queue"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    assert json.loads(attributes["Policy"]) == policy
    del template["Resources"]["Policy"]
    cfn.update_stack(StackName="queue-policy", TemplateBody=json.dumps(template))
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    cfn.delete_stack(StackName="queue-policy")


def test_a_role_keeps_gains_and_loses_its_permissions_boundary_as_on_aws(aws: Aws, adapters: str) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role: dict[str, Any] = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}
    template = {"Resources": {"Role": role}}

    def boundary_of() -> str | None:
        name = physical_ids(cfn, "bounded")["Role"]
        return iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")

    cfn.create_stack(StackName="bounded", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    assert boundary_of() is None
    role["Properties"]["PermissionsBoundary"] = boundary
    cfn.update_stack(StackName="bounded", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    assert boundary_of() == boundary
    del role["Properties"]["PermissionsBoundary"]
    cfn.update_stack(StackName="bounded", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    assert boundary_of() is None
    cfn.delete_stack(StackName="bounded")


def test_template_errors_are_validation_errors(aws: Aws, adapters: str) -> None:
    cfn = aws("cloudformation")
    with pytest.raises(ClientError, match="Template format error"):
        cfn.create_stack(StackName="broken-1", TemplateBody="Resources: [unclosed")
    dangling = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Nope"}}}}}
    with pytest.raises(ClientError, match=r"Unresolved resource dependencies \[Nope\]"):
        cfn.create_change_set(
            StackName="broken-2", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=json.dumps(dangling)
        )
    with pytest.raises(ClientError, match=r"Parameters: \[Missing\] must have values"):
        cfn.create_stack(
            StackName="broken-3",
            TemplateBody=json.dumps({"Parameters": {"Missing": {"Type": "String"}}, **dangling}),
        )
    misspelt = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !Joinn ['-', [a, b]]\n"
    with pytest.raises(ClientError, match=r"Encountered unsupported function: Fn::Joinn\. Supported functions are"):
        cfn.create_change_set(StackName="broken-4", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=misspelt)
    assert "broken-4" not in [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]


def test_an_unknown_function_in_a_sam_template_fails_its_change_set(tmp_path: Path, aws: Aws, s3: Any) -> None:
    """With a transform, AWS checks the template asynchronously: the change set ends FAILED and no stack is touched."""
    cfn = aws("cloudformation")
    packaged = package(write_app(tmp_path / "app"), BUCKET, s3)
    packaged["Resources"]["Topic"] = {
        "Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::Joinn": ["-", ["a", "b"]]}}
    }
    described = deploy_change_set(cfn, "misspelt-sam", packaged, "c", "CREATE")
    assert described["Status"] == "FAILED"
    assert described["StatusReason"].startswith(
        "Template format error: Encountered unsupported function: Fn::Joinn. Supported functions are: [Fn::Base64,"
    )
    assert stack_of(cfn, "misspelt-sam")["StackStatus"] == "REVIEW_IN_PROGRESS"


def test_change_sets_and_stacks_look_busy_for_a_while(aws: Aws, adapters: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepdeploy_localcloud.clock import CLOCK
    from stepdeploy_localcloud.cloudformation import api as cloudformation
    from stepdeploy_localcloud.cloudformation import models as cloudformation_models

    monkeypatch.setattr(cloudformation, "CHANGE_SET_VIRTUAL_SECONDS", 0.3 * CLOCK.speed)
    monkeypatch.setattr(cloudformation, "STACK_OPERATION_VIRTUAL_SECONDS", 0.3 * CLOCK.speed)
    # The test moves the clock the busy windows are measured on: a loaded machine cannot outrun them.
    now = [1000.0]
    moved = SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
                            | {"monotonic": lambda: now[0]})
    monkeypatch.setattr(cloudformation, "time", moved)
    monkeypatch.setattr(cloudformation_models, "time", moved)

    def sleep(seconds: float) -> None:
        now[0] += seconds
    cfn = aws("cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    created = cfn.create_change_set(StackName="busy", ChangeSetName="cs", ChangeSetType="CREATE",
                                    TemplateBody=json.dumps(template))
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["Status"] == "CREATE_IN_PROGRESS"
    with pytest.raises(ClientError) as early:
        cfn.execute_change_set(ChangeSetName=created["Id"])
    assert early.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    sleep(0.4)
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert stack_of(cfn, "busy")["StackStatus"] == "CREATE_IN_PROGRESS"
    sleep(0.4)
    assert stack_of(cfn, "busy")["StackStatus"] == "CREATE_COMPLETE"
    for timer in [t for t in threading.enumerate() if isinstance(t, threading.Timer)]:
        timer.join()  # the status event announced when it becomes visible: not into the next test


def _event_queue(aws: Aws, name: str, pattern: dict[str, Any]) -> str:
    sqs, events = aws("sqs"), aws("events")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


def test_stack_status_changes_reach_the_default_bus_once_visible(
    aws: Aws, adapters: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepdeploy_localcloud.clock import CLOCK
    from stepdeploy_localcloud.cloudformation import api as cloudformation
    from stepdeploy_localcloud.events import patch as events_patch

    events_patch.apply()  # EventBridge's delivery to the queue, in AWS's envelope
    monkeypatch.setattr(cloudformation, "STACK_OPERATION_VIRTUAL_SECONDS", 0.3 * CLOCK.speed)
    cfn, sqs = aws("cloudformation"), aws("sqs")
    queue_url = _event_queue(aws, "stack-events", {"source": ["aws.cloudformation"]})
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    created = cfn.create_change_set(StackName="announced", ChangeSetName="cs", ChangeSetType="CREATE",
                                    TemplateBody=json.dumps(template))
    cfn.execute_change_set(ChangeSetName=created["Id"], ClientRequestToken="execute-1")

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        e["detail"]["status-details"]["status"] == "CREATE_COMPLETE" for e in seen
    ):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            seen.append(json.loads(message["Body"]))
    ours = [e for e in seen if e["detail"]["stack-id"] == created["StackId"]]
    statuses = [e["detail"]["status-details"]["status"] for e in ours]
    assert statuses[-2:] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"], statuses
    # The final event goes out when DescribeStacks shows the final status, not while it shows busy.
    assert stack_of(cfn, "announced")["StackStatus"] == "CREATE_COMPLETE"
    final = ours[-1]
    assert final["resources"] == [created["StackId"]]
    assert final["detail"]["client-request-token"] == "execute-1"
    for event in ours:
        assert_documented_shape(event, "cloudformation-stack-status-change")


def _http_api_template(route_key: str, description: str) -> dict[str, Any]:
    api = {"Ref": "Api"}
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "parts-api", "ProtocolType": "HTTP"}},
            "Integration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": api,
                    "IntegrationType": "HTTP_PROXY",
                    "IntegrationMethod": "GET",
                    "IntegrationUri": "https://example.com/orders",
                    "PayloadFormatVersion": "1.0",
                    "Description": description,
                },
            },
            "Route": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": api,
                    "RouteKey": route_key,
                    "Target": {"Fn::Sub": "integrations/${Integration}"},
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": api, "StageName": "live", "Description": description},
            },
        }
    }


def test_http_api_parts_are_updated_by_creating_them_again(aws: Aws, adapters: str) -> None:
    cfn, gateway = aws("cloudformation"), aws("apigatewayv2")
    cfn.create_stack(StackName="parts", TemplateBody=json.dumps(_http_api_template("GET /a", "one")))
    assert stack_of(cfn, "parts")["StackStatus"] == "CREATE_COMPLETE", failed_events(cfn, "parts")
    api_id = physical_ids(cfn, "parts")["Api"]

    cfn.update_stack(StackName="parts", TemplateBody=json.dumps(_http_api_template("GET /b", "two")))
    assert stack_of(cfn, "parts")["StackStatus"] == "UPDATE_COMPLETE", failed_events(cfn, "parts")
    integrations = gateway.get_integrations(ApiId=api_id)["Items"]
    assert [i["Description"] for i in integrations] == ["two"]  # the old one is gone
    target = f"integrations/{integrations[0]['IntegrationId']}"
    assert [(r["RouteKey"], r["Target"]) for r in gateway.get_routes(ApiId=api_id)["Items"]] == [("GET /b", target)]
    stages = gateway.get_stages(ApiId=api_id)["Items"]
    assert [(s["StageName"], s.get("Description")) for s in stages] == [("live", "two")]

    cfn.delete_stack(StackName="parts")
    with pytest.raises(ClientError):
        gateway.get_api(ApiId=api_id)
