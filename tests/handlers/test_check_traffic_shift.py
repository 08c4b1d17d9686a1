"""Check traffic shift with a stubbed CodeDeploy client.

moto 5.2.5 in mock mode keeps CodeDeploy deployments ``Created`` with empty errorInformation and
rollbackInfo and has no StopDeployment: these paths use botocore's Stubber for the CodeDeploy client
(CloudWatch stays moto).
"""

from __future__ import annotations

import pytest

from stepdeploy.errors import DeploymentFailed, DeploymentRolledBack

from .deploy_support import (
    APPLICATION,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    document_of,
    run,
    stubbed_codedeploy_fixture,  # noqa: F401 - the stubbed_codedeploy fixture
)

pytestmark = pytest.mark.handler


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
