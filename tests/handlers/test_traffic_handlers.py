"""Start traffic shift, Check traffic shift and Bake (check_alarms) handlers.

moto 5.2.5 in mock mode keeps CodeDeploy deployments ``Created`` with empty errorInformation and
rollbackInfo and has no UpdateDeploymentGroup, StopDeployment or deployment configurations: those
paths use botocore's Stubber for the CodeDeploy client (CloudFormation, CloudWatch and Lambda stay
moto).
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from stepdeploy.errors import AlarmDuringBake, DeploymentFailed, DeploymentRolledBack

from .deploy_support import (
    APPLICATION,
    CODEDEPLOY_ROLE,
    REGION,
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    deploy_stack,
    document_of,
    execution_of,
    run,
)

pytestmark = pytest.mark.handler
NEW_CODE = "def handler(event, context):\n    return 'bonjour'\n"


def shifted_document(aws, **deployment) -> dict:
    """Two deployments of the sample app: the document as Start traffic shift gets it."""
    settings = {"alarms": [], "strategy": "LambdaAllAtOnce", **deployment}
    run("publish_versions", deploy_stack(aws, **settings), execution_of("publish_versions"))
    document = deploy_stack(aws, NEW_CODE, execution="demo-2", **settings)
    return run("publish_versions", document, execution_of("publish_versions", "demo-2"))


def start(document: dict) -> dict:
    return run("start_traffic_shift", document, execution_of("start_traffic_shift", "demo-2"))


def test_start_creates_the_group_and_a_deployment_with_the_appspec(deploy_aws):
    document = shifted_document(deploy_aws, hooks={"before_allow_traffic": "PreTraffic"})
    shift = start(document)["shift"]
    greeter = next(f for f in document["versions"]["functions"] if f["logical_id"] == "Greeter")
    assert [(d["logical_id"], d["function_name"]) for d in shift["deployments"]] == [
        ("Greeter", greeter["function_name"])
    ]

    codedeploy = deploy_aws.client("codedeploy")
    group = codedeploy.get_deployment_group(applicationName=APPLICATION, deploymentGroupName=f"{STACK}-Greeter")
    info = group["deploymentGroupInfo"]
    assert info["serviceRoleArn"] == CODEDEPLOY_ROLE
    assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert info["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert info["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }

    deployment = codedeploy.get_deployment(deploymentId=shift["deployments"][0]["deployment_id"])["deploymentInfo"]
    revision = deployment["revision"]
    assert revision["revisionType"] == "AppSpecContent"
    appspec = json.loads(revision["appSpecContent"]["content"])
    assert appspec["Resources"][0]["Greeter"]["Properties"] == {
        "Name": greeter["function_name"],
        "Alias": "live",
        "CurrentVersion": "1",
        "TargetVersion": "2",
    }
    hook = deploy_aws.client("cloudformation").describe_stack_resource(StackName=STACK, LogicalResourceId="PreTraffic")
    assert appspec["Hooks"] == [{"BeforeAllowTraffic": hook["StackResourceDetail"]["PhysicalResourceId"]}]


def test_start_twice_reuses_the_deployment(deploy_aws):
    document = shifted_document(deploy_aws)
    first = start(document)["shift"]["deployments"]
    second = start(document)["shift"]["deployments"]
    assert [d["deployment_id"] for d in second] == [d["deployment_id"] for d in first]
    listed = deploy_aws.client("codedeploy").list_deployments(
        applicationName=APPLICATION, deploymentGroupName=f"{STACK}-Greeter"
    )
    assert len(listed["deployments"]) == 1


# --- paths moto cannot take: Stubber for CodeDeploy ------------------------------------------------
@pytest.fixture()
def stubbed_codedeploy(monkeypatch):
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


def shift_document(two: bool = True) -> dict:
    document = document_of("check_traffic_shift")
    if two:
        document["versions"]["functions"].append(
            {
                "logical_id": "Worker",
                "function_name": "sample-prod-Worker-9Z8Y7X",
                "alias": "live",
                "version": "8",
                "previous_version": "7",
                "changed": True,
                "alias_created": False,
            }
        )
        document["shift"]["deployments"].append(
            {
                "logical_id": "Worker",
                "function_name": "sample-prod-Worker-9Z8Y7X",
                "deployment_id": "d-WORKER1",
                "status": "InProgress",
            }
        )
    return document


def deployment_info(deployment_id: str, status: str, **extra) -> dict:
    return {
        "deploymentInfo": {"deploymentId": deployment_id, "status": status, "applicationName": APPLICATION, **extra}
    }


def test_check_waits_then_finishes_when_every_deployment_succeeded(deploy_aws, stubbed_codedeploy):
    # Stubbed, not moto: moto keeps deployments Created, and the local cloud's CodeDeploy adapter
    # (applied process-wide once a local-cloud test ran) shifts them for real.
    stubbed_codedeploy.add_response(
        "get_deployment", deployment_info("d-ABCDEF123", "Succeeded"), {"deploymentId": "d-ABCDEF123"}
    )
    stubbed_codedeploy.add_response(
        "get_deployment", deployment_info("d-WORKER1", "InProgress"), {"deploymentId": "d-WORKER1"}
    )
    waiting = run("check_traffic_shift", shift_document())
    assert not waiting["shift"]["done"]
    assert [d["status"] for d in waiting["shift"]["deployments"]] == ["Succeeded", "InProgress"]
    # The next poll asks only about the deployment that had not finished.
    stubbed_codedeploy.add_response(
        "get_deployment", deployment_info("d-WORKER1", "Succeeded"), {"deploymentId": "d-WORKER1"}
    )
    done = run("check_traffic_shift", waiting)["shift"]
    assert done["done"] and "finished_at" in done
    assert [d["status"] for d in done["deployments"]] == ["Succeeded", "Succeeded"]


def test_an_alarm_rolls_back_every_deployment_together(deploy_aws, stubbed_codedeploy):
    cloudwatch = deploy_aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="GreeterErrorsAlarm",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="GreeterErrorsAlarm", StateValue="ALARM", StateReason="Threshold crossed")
    stubbed_codedeploy.add_response(
        "get_deployment",
        deployment_info(
            "d-ABCDEF123",
            "Stopped",
            errorInformation={"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
            rollbackInfo={"rollbackDeploymentId": "d-ROLLBACK1"},
        ),
        {"deploymentId": "d-ABCDEF123"},
    )
    stubbed_codedeploy.add_response(
        "get_deployment", deployment_info("d-WORKER1", "InProgress"), {"deploymentId": "d-WORKER1"}
    )
    stubbed_codedeploy.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-WORKER1", "autoRollbackEnabled": True}
    )
    with pytest.raises(DeploymentRolledBack) as caught:
        run("check_traffic_shift", shift_document())
    message = str(caught.value)
    assert "alarm in ALARM: GreeterErrorsAlarm" in message
    assert "sample-prod-Greeter-1A2B3C4D5E6F (Greeter, deployment d-ABCDEF123) Stopped: ALARM_ACTIVE" in message
    assert "alias live is back on version 2" in message
    assert (
        "stopped so that all roll back together: sample-prod-Worker-9Z8Y7X; alias live is back on version 7" in message
    )


def test_a_failed_hook_without_rollback_is_a_deployment_failure(deploy_aws, stubbed_codedeploy):
    stubbed_codedeploy.add_response(
        "get_deployment",
        deployment_info(
            "d-ABCDEF123",
            "Failed",
            errorInformation={"code": "HOOK_EXECUTION_FAILURE", "message": "BeforeAllowTraffic hook returned Failed"},
        ),
        {"deploymentId": "d-ABCDEF123"},
    )
    with pytest.raises(
        DeploymentFailed, match="HOOK_EXECUTION_FAILURE: BeforeAllowTraffic hook returned Failed"
    ) as caught:
        run("check_traffic_shift", shift_document(two=False))
    assert "back on version" not in str(caught.value)


def test_start_brings_a_drifted_group_back_and_creates_a_custom_configuration(deploy_aws, stubbed_codedeploy):
    document = document_of("start_traffic_shift")
    document["request"]["target"]["deployment"].update(
        strategy={"type": "canary", "percent": 20, "interval_minutes": 5}, alarms=["GreeterErrorsAlarm"]
    )
    config = "StepdeployCanary20PercentEvery5Minutes"
    group = f"{STACK}-Greeter"
    cd = stubbed_codedeploy
    cd.add_client_error(
        "get_deployment_config",
        "DeploymentConfigDoesNotExistException",
        expected_params={"deploymentConfigName": config},
    )
    cd.add_response(
        "create_deployment_config",
        {"deploymentConfigId": "c-1"},
        {
            "deploymentConfigName": config,
            "computePlatform": "Lambda",
            "trafficRoutingConfig": {
                "type": "TimeBasedCanary",
                "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 5},
            },
        },
    )
    cd.add_response(
        "get_deployment_group",
        {
            "deploymentGroupInfo": {
                "deploymentGroupName": group,
                "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
                "serviceRoleArn": CODEDEPLOY_ROLE,
                "alarmConfiguration": {"enabled": False},
            }
        },
        {"applicationName": APPLICATION, "deploymentGroupName": group},
    )
    cd.add_response(
        "update_deployment_group",
        {},
        {
            "applicationName": APPLICATION,
            "currentDeploymentGroupName": group,
            "deploymentConfigName": config,
            "serviceRoleArn": CODEDEPLOY_ROLE,
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "alarmConfiguration": {
                "enabled": True,
                "ignorePollAlarmFailure": False,
                "alarms": [{"name": "GreeterErrorsAlarm"}],
            },
            "autoRollbackConfiguration": {
                "enabled": True,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
            },
        },
    )
    cd.add_response(
        "list_deployments",
        {"deployments": []},
        {"applicationName": APPLICATION, "deploymentGroupName": group, "createTimeRange": ANY},
    )
    cd.add_response(
        "create_deployment",
        {"deploymentId": "d-NEW1"},
        {
            "applicationName": APPLICATION,
            "deploymentGroupName": group,
            "deploymentConfigName": config,
            "description": ANY,
            "revision": ANY,
        },
    )
    shift = run("start_traffic_shift", document)["shift"]
    assert shift["deployments"] == [
        {
            "logical_id": "Greeter",
            "function_name": "sample-prod-Greeter-1A2B3C4D5E6F",
            "deployment_id": "d-NEW1",
            "status": "Created",
        }
    ]


# --- Bake ----------------------------------------------------------------------------------------
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
