"""The CloudFormation adapter: SAM templates packaged, transformed and deployed for real.

Each test fails if moto's CloudFormation behaviour moves under the adapter (e.g. a transform
silently ignored, a resource type skipped, a no-change change set executable).
"""

from __future__ import annotations

import importlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy.localcloud.cfn_resources import handler_for
from stepdeploy.localcloud.patches.cloudformation import NO_CHANGES_REASON
from stepdeploy.localcloud.sam_package import deterministic_zip, dump_template, load_template, package

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
def adapters(moto_server: str) -> str:
    # The state machine's Lambda task needs the Step Functions and Lambda adapters as well.
    for name in ("lambda_invoke", "stepfunctions", "cloudformation"):
        importlib.import_module(f"stepdeploy.localcloud.patches.{name}").apply()
    return moto_server


@pytest.fixture()
def s3(aws: Aws, adapters: str) -> Any:
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def deploy_change_set(
    cfn: Any, stack: str, template: dict[str, Any] | str, change_set: str, kind: str,
    capabilities: tuple[str, ...] = ("CAPABILITY_IAM",), parameters: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
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

    from stepdeploy.localcloud import endpoint

    def client(service: str) -> Any:
        return boto3.client(
            service, endpoint_url=adapters, region_name=endpoint.REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

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

    bus = f"sam-app-bus"
    rules = client("events").list_rules(EventBusName=bus)["Rules"]
    assert ids["OnWork"] == f"{bus}|{rules[0]['Name']}"
    targets = client("events").list_targets_by_rule(Rule=rules[0]["Name"], EventBusName=bus)["Targets"]
    assert targets[0]["Arn"] == worker["FunctionArn"]

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["FlowArn"] == ids["Flow"]
    assert outputs["FlowName"].startswith("Flow-")
    assert outputs["GreeterName"] == ids["Greeter"]

    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in cfn.describe_stack_events(StackName="sam-app")["StackEvents"]]
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
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
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
        cfn.create_change_set(StackName="caps-3", ChangeSetName="c", ChangeSetType="CREATE",
                              TemplateBody=json.dumps(PLAIN_ROLE_TEMPLATE))  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    named = json.loads(json.dumps(PLAIN_ROLE_TEMPLATE))
    named["Resources"]["Role"]["Properties"]["RoleName"] = "caps-named"
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(StackName="caps-4", TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_IAM"])
    assert raised.value.response["Error"]["Message"] == "Requires capabilities : [CAPABILITY_NAMED_IAM]"

    cfn.create_stack(StackName="caps-5", TemplateBody=json.dumps(packaged),
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
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
    cfn.create_stack(StackName="rollback", TemplateBody=json.dumps(_function_template("rollback/code.zip", {"V": "1"})),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    assert stack_of(cfn, "rollback")["StackStatus"] == "CREATE_COMPLETE"
    function_name = physical_ids(cfn, "rollback")["Fn"]

    broken_new_function = {
        "Broken": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": "Fn",
            "Properties": {
                "Handler": "app.handler", "Runtime": "python3.11", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"S3Bucket": BUCKET, "S3Key": "rollback/missing.zip"},
            },
        }
    }  # fmt: skip
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
    statuses = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName="rollback")["StackEvents"]
                if e["LogicalResourceId"] == "rollback"]  # fmt: skip
    assert statuses[:3] == ["UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                            "UPDATE_ROLLBACK_IN_PROGRESS"]  # fmt: skip

    # A stack rolled back on update can be updated again, and removed resources are deleted.
    cfn.update_stack(StackName="rollback", TemplateBody=json.dumps(_function_template("rollback/code.zip", {"V": "3"})),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    assert stack_of(cfn, "rollback")["StackStatus"] == "UPDATE_COMPLETE"
    assert lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"] == {"V": "3"}
    cfn.delete_stack(StackName="rollback")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=function_name)
