"""Start traffic shift against moto's CloudFormation, Lambda and CodeDeploy, and a stubbed CodeDeploy.

moto 5.2.5 in mock mode has no UpdateDeploymentGroup or deployment configurations: that path uses
botocore's Stubber for the CodeDeploy client (CloudFormation, CloudWatch and Lambda stay moto).
"""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY

from stepdeploy.ingress.run_hook import hooks_in
from stepdeploy.settings import settings

from .deploy_support import (
    APPLICATION,
    CODEDEPLOY_ROLE,
    STACK,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    document_of,
    execution_of,
    run,
    shifted_document,
    stubbed_codedeploy_fixture,  # noqa: F401 - the stubbed_codedeploy fixture
)

pytestmark = pytest.mark.handler


@pytest.fixture(autouse=True)
def orchestrator_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_STACK", "stepdeploy")
    settings.cache_clear()


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
    # CodeDeploy invokes the orchestrator's runner; the runner reads the application's hook from the description.
    assert appspec["Hooks"] == [{"BeforeAllowTraffic": "stepdeploy-hook-BeforeAllowTraffic"}]
    hook = deploy_aws.client("cloudformation").describe_stack_resource(StackName=STACK, LogicalResourceId="PreTraffic")
    assert hooks_in(deployment["description"]) == {
        "BeforeAllowTraffic": hook["StackResourceDetail"]["PhysicalResourceId"]
    }


def test_start_twice_reuses_the_deployment(deploy_aws):
    document = shifted_document(deploy_aws)
    first = start(document)["shift"]["deployments"]
    second = start(document)["shift"]["deployments"]
    assert [d["deployment_id"] for d in second] == [d["deployment_id"] for d in first]
    listed = deploy_aws.client("codedeploy").list_deployments(
        applicationName=APPLICATION, deploymentGroupName=f"{STACK}-Greeter"
    )
    assert len(listed["deployments"]) == 1


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
