"""The CodeDeploy adapter: Lambda deployments really shift traffic, watch alarms and roll back."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
import types
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.codedeploy import engine as codedeploy
from stepdeploy_localcloud.codedeploy import patch as codedeploy_patch
from stepdeploy_localcloud.events import patch as events_patch
from tests.localcloud.event_shapes import assert_documented_shape

pytestmark = pytest.mark.localcloud

TERMINAL = ("Succeeded", "Failed", "Stopped")


@pytest.fixture(autouse=True)
def patched_and_fast(moto_server: str) -> Iterator[None]:
    codedeploy_patch.apply()
    events_patch.apply()  # events reach targets as EventBridge delivers them
    speed = CLOCK.speed
    CLOCK.set_speed(600)  # Canary10Percent5Minutes: half a real second
    yield
    CLOCK.set_speed(speed)
    codedeploy.set_hook_invoker(None)


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        time.sleep(interval)


def zipped_as(filename: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(filename, source)
    return buffer.getvalue()


def zipped(source: str) -> bytes:
    return zipped_as("app.py", source)


@dataclass
class App:
    """A function with versions 1 and 2, alias ``live`` on 1, and a Lambda deployment group."""

    aws: Callable[[str], Any]
    name: str
    function: str
    alarm: str
    role: str

    @property
    def codedeploy(self) -> Any:
        return self.aws("codedeploy")

    @property
    def awslambda(self) -> Any:
        return self.aws("lambda")

    def appspec(self, current: str = "1", target: str = "2", hooks: dict[str, str] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "version": 0.0,
            "Resources": [
                {
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": self.function,
                            "Alias": "live",
                            "CurrentVersion": current,
                            "TargetVersion": target,
                        },
                    }
                }
            ],
        }
        if hooks:
            spec["Hooks"] = [{event: function} for event, function in hooks.items()]
        return spec

    def deploy(self, config: str | None = None, content: str | None = None, **appspec: Any) -> str:
        body = content if content is not None else json.dumps(self.appspec(**appspec))
        kwargs: dict[str, Any] = {}
        if config:
            kwargs["deploymentConfigName"] = config
        return self.codedeploy.create_deployment(
            applicationName=self.name,
            deploymentGroupName="group",
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": body}},
            description="test deployment",
            **kwargs,
        )["deploymentId"]

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]

    def wait_done(self, deployment_id: str) -> dict[str, Any]:
        return wait_for(lambda: (info := self.deployment(deployment_id))["status"] in TERMINAL and info)

    def alias(self) -> dict[str, Any]:
        return self.awslambda.get_alias(FunctionName=self.function, Name="live")

    def canary_weight(self) -> float | None:
        weights = (self.alias().get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return weights.get("2")

    def target(self, deployment_id: str) -> dict[str, Any]:
        (target_id,) = self.codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
        return self.codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_id)[
            "deploymentTarget"
        ]["lambdaTarget"]

    def lifecycle(self, deployment_id: str) -> dict[str, str]:
        return {event["lifecycleEventName"]: event["status"] for event in self.target(deployment_id)["lifecycleEvents"]}


def cached(aws: Callable[[str], Any]) -> Callable[[str], Any]:
    """One client per service: creating boto3 clients costs more than the calls in a poll loop."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = aws(service)
        return clients[service]

    return client


def make_app(
    aws: Callable[[str], Any],
    config: str = "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    alarm_configuration: dict[str, Any] | None = None,
    rollback_events: tuple[str, ...] = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"),
) -> App:
    aws = cached(aws)
    suffix = uuid.uuid4().hex[:8]
    name, function, alarm = f"app-{suffix}", f"fn-{suffix}", f"errors-{suffix}"
    role = aws("iam").create_role(RoleName=f"role-{suffix}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    awslambda = aws("lambda")
    awslambda.create_function(
        FunctionName=function, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": zipped("v1")}
    )
    assert awslambda.publish_version(FunctionName=function)["Version"] == "1"
    awslambda.update_function_code(FunctionName=function, ZipFile=zipped("v2"))
    assert awslambda.publish_version(FunctionName=function)["Version"] == "2"
    awslambda.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    aws("cloudwatch").put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cd = aws("codedeploy")
    cd.create_application(applicationName=name, computePlatform="Lambda")
    cd.create_deployment_group(
        applicationName=name,
        deploymentGroupName="group",
        serviceRoleArn=role,
        deploymentConfigName=config,
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        alarmConfiguration=alarm_configuration or {"enabled": True, "alarms": [{"name": alarm}]},
        autoRollbackConfiguration={"enabled": True, "events": list(rollback_events)},
    )
    return App(aws, name, function, alarm, role)


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


# --- Configurations and groups ------------------------------------------------------------------


def test_predefined_lambda_configs_are_there(aws: Callable[[str], Any]) -> None:
    cd = aws("codedeploy")
    canary = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent15Minutes")
    assert canary["deploymentConfigInfo"]["computePlatform"] == "Lambda"
    assert canary["deploymentConfigInfo"]["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15},
    }
    linear = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaLinear10PercentEvery3Minutes")
    assert linear["deploymentConfigInfo"]["trafficRoutingConfig"]["timeBasedLinear"] == {
        "linearPercentage": 10,
        "linearInterval": 3,
    }
    at_once = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce")
    assert at_once["deploymentConfigInfo"]["trafficRoutingConfig"] == {"type": "AllAtOnce"}
    names = cd.list_deployment_configs()["deploymentConfigsList"]
    assert set(codedeploy.PREDEFINED_LAMBDA_CONFIGS) <= set(names)


def test_custom_deployment_config(aws: Callable[[str], Any]) -> None:
    cd = aws("codedeploy")
    name = f"Canary20-{uuid.uuid4().hex[:6]}"
    routing = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 1}}
    config_id = cd.create_deployment_config(
        deploymentConfigName=name, computePlatform="Lambda", trafficRoutingConfig=routing
    )["deploymentConfigId"]
    info = cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
    assert info["deploymentConfigId"] == config_id
    assert info["trafficRoutingConfig"] == routing

    with pytest.raises(ClientError) as duplicate:
        cd.create_deployment_config(deploymentConfigName=name, computePlatform="Lambda", trafficRoutingConfig=routing)
    assert error_code(duplicate) == "DeploymentConfigAlreadyExistsException"
    with pytest.raises(ClientError) as invalid:
        cd.create_deployment_config(
            deploymentConfigName=name + "-bad",
            computePlatform="Lambda",
            trafficRoutingConfig={
                "type": "TimeBasedLinear",
                "timeBasedLinear": {"linearPercentage": 0, "linearInterval": 1},
            },
        )
    assert error_code(invalid) == "InvalidTrafficRoutingConfigurationException"
    assert "linearPercentage" in str(invalid.value)
    with pytest.raises(ClientError) as unknown:
        cd.get_deployment_config(deploymentConfigName="NoSuchConfig")
    assert error_code(unknown) == "DeploymentConfigDoesNotExistException"


def test_a_custom_config_drives_the_shift(aws: Callable[[str], Any]) -> None:
    name = f"Canary30-{uuid.uuid4().hex[:6]}"
    aws("codedeploy").create_deployment_config(
        deploymentConfigName=name,
        computePlatform="Lambda",
        trafficRoutingConfig={
            "type": "TimeBasedCanary",
            "timeBasedCanary": {"canaryPercentage": 30, "canaryInterval": 3},
        },
    )
    app = make_app(aws, config=name)
    deployment_id = app.deploy()
    assert wait_for(lambda: app.canary_weight() == 0.3)
    info = app.wait_done(deployment_id)
    assert info["status"] == "Succeeded"
    assert info["deploymentConfigName"] == name


def test_deployment_group_keeps_alarms_and_rollback(aws: Callable[[str], Any]) -> None:
    app = make_app(aws)
    cd = app.codedeploy
    group = cd.get_deployment_group(applicationName=app.name, deploymentGroupName="group")["deploymentGroupInfo"]
    assert group["alarmConfiguration"] == {"enabled": True, "alarms": [{"name": app.alarm}]}
    assert group["autoRollbackConfiguration"]["events"] == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["computePlatform"] == "Lambda"

    cd.update_deployment_group(
        applicationName=app.name,
        currentDeploymentGroupName="group",
        deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce",
        alarmConfiguration={"enabled": True, "ignorePollAlarmFailure": True, "alarms": [{"name": "other"}]},
    )
    group = cd.get_deployment_group(applicationName=app.name, deploymentGroupName="group")["deploymentGroupInfo"]
    assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert group["alarmConfiguration"]["ignorePollAlarmFailure"] is True

    with pytest.raises(ClientError) as too_many:
        cd.update_deployment_group(
            applicationName=app.name,
            currentDeploymentGroupName="group",
            alarmConfiguration={"enabled": True, "alarms": [{"name": f"a{i}"} for i in range(11)]},
        )
    assert error_code(too_many) == "AlarmsLimitExceededException"
    with pytest.raises(ClientError) as server_config:
        cd.update_deployment_group(
            applicationName=app.name,
            currentDeploymentGroupName="group",
            deploymentConfigName="CodeDeployDefault.OneAtATime",
        )
    assert error_code(server_config) == "InvalidDeploymentConfigNameException"


# --- Traffic shifting ---------------------------------------------------------------------------


def test_canary_holds_ten_percent_then_moves_all(aws: Callable[[str], Any]) -> None:
    app = make_app(aws)
    deployment_id = app.deploy()
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment_id)

    assert wait_for(lambda: app.canary_weight() == 0.1)
    assert app.alias()["FunctionVersion"] == "1"
    assert app.deployment(deployment_id)["status"] == "InProgress"
    assert codedeploy.current_traffic(deployment_id) == {"1": 0.9, "2": 0.1}
    assert app.target(deployment_id)["lambdaFunctionInfo"]["targetVersionWeight"] == 10.0

    info = app.wait_done(deployment_id)
    assert info["status"] == "Succeeded", info
    assert "errorInformation" not in info and "rollbackInfo" not in info
    assert info["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert info["completeTime"] >= info["createTime"]
    assert info["deploymentOverview"]["Succeeded"] == 1
    alias = app.alias()
    assert alias["FunctionVersion"] == "2"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert codedeploy.current_traffic(deployment_id) == {"2": 1.0}
    assert app.lifecycle(deployment_id) == {
        "BeforeAllowTraffic": "Skipped",
        "AllowTraffic": "Succeeded",
        "AfterAllowTraffic": "Skipped",
    }
    group = app.codedeploy.get_deployment_group(applicationName=app.name, deploymentGroupName="group")
    assert group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"] == deployment_id
    listed = app.codedeploy.list_deployments(applicationName=app.name, deploymentGroupName="group")["deployments"]
    assert listed == [deployment_id]


def test_linear_weights_grow_step_by_step(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
    deployment_id = app.deploy()
    seen: list[float] = []
    while app.deployment(deployment_id)["status"] not in TERMINAL:
        weight = app.canary_weight()
        if weight is not None and (not seen or seen[-1] != weight):
            seen.append(weight)
        time.sleep(0.005)
    assert len(seen) >= 3, seen
    assert seen == sorted(seen) and seen[0] >= 0.1 and seen[-1] <= 0.9
    assert all(round(weight * 10, 6).is_integer() for weight in seen)
    assert app.deployment(deployment_id)["status"] == "Succeeded"
    assert app.alias()["FunctionVersion"] == "2"


def test_all_at_once(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    deployment_id = app.deploy()
    assert app.wait_done(deployment_id)["status"] == "Succeeded"
    assert app.alias()["FunctionVersion"] == "2"
    assert app.canary_weight() is None


def test_deployment_config_override_on_create_deployment(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaCanary10Percent30Minutes")
    deployment_id = app.deploy(config="CodeDeployDefault.LambdaAllAtOnce")
    info = app.wait_done(deployment_id)
    assert info["status"] == "Succeeded"
    assert info["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_one_active_deployment_per_group(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaCanary10Percent30Minutes")
    deployment_id = app.deploy()
    with pytest.raises(ClientError) as refused:
        app.deploy()
    assert error_code(refused) == "DeploymentLimitExceededException"
    assert deployment_id in str(refused.value)
    app.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)
    app.wait_done(deployment_id)


# --- Alarms, stop, rollback ---------------------------------------------------------------------


def assert_rolled_back(app: App, deployment_id: str, info: dict[str, Any]) -> dict[str, Any]:
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    assert rollback_id != deployment_id and re.fullmatch(r"d-[A-Z0-9]{9}", rollback_id)
    assert (
        f"Automatic rollback is triggered with a DeploymentId {rollback_id}" in info["rollbackInfo"]["rollbackMessage"]
    )
    rollback = app.wait_done(rollback_id)
    assert rollback["status"] == "Succeeded", rollback
    assert rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == deployment_id
    alias = app.alias()
    assert alias["FunctionVersion"] == "1"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    listed = app.codedeploy.list_deployments(applicationName=app.name, deploymentGroupName="group")["deployments"]
    assert set(listed) == {deployment_id, rollback_id}
    return rollback


def test_alarm_during_canary_stops_and_rolls_back(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaCanary10Percent30Minutes")
    deployment_id = app.deploy()
    assert wait_for(lambda: app.canary_weight() == 0.1)
    aws("cloudwatch").set_alarm_state(AlarmName=app.alarm, StateValue="ALARM", StateReason="errors in the canary")

    info = app.wait_done(deployment_id)
    assert info["status"] == "Stopped", info
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert info["errorInformation"]["message"].startswith("One or more alarms have been activated")
    assert f"Activated alarms: <{app.alarm}>" in info["errorInformation"]["message"]
    assert app.lifecycle(deployment_id)["AllowTraffic"] == "Failed"
    assert app.lifecycle(deployment_id)["AfterAllowTraffic"] == "Skipped"
    assert_rolled_back(app, deployment_id, info)


def test_a_traffic_step_is_reported_before_its_wait_and_an_alarm_raised_then_stops_the_shift(
    aws: Callable[[str], Any],
) -> None:
    # Canary10Percent5Minutes lasts half a real second here: raising the alarm by racing it would
    # be a matter of luck. The listener holds the deployment at its first step instead.
    app = make_app(aws)
    steps: list[codedeploy.TrafficStep] = []

    def raise_alarm(step: codedeploy.TrafficStep) -> None:
        steps.append(step)
        assert app.canary_weight() == 0.1  # the step is live when it is reported
        aws("cloudwatch").set_alarm_state(AlarmName=app.alarm, StateValue="ALARM", StateReason="errors in the canary")

    codedeploy.set_traffic_step_listener(raise_alarm)
    try:
        deployment_id = app.deploy()
        info = app.wait_done(deployment_id)
    finally:
        codedeploy.set_traffic_step_listener(None)
    assert [(s.deployment_id, s.function_name, s.alias, s.current_version, s.target_version, s.weight)
            for s in steps] == [(deployment_id, app.function, "live", "1", "2", 0.1)]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE", info
    assert_rolled_back(app, deployment_id, info)


def test_a_failing_traffic_step_listener_does_not_change_the_deployment(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaLinear10PercentEvery1Minute")

    def broken(step: codedeploy.TrafficStep) -> None:
        raise RuntimeError("listener bug")

    codedeploy.set_traffic_step_listener(broken)
    try:
        info = app.wait_done(app.deploy())
    finally:
        codedeploy.set_traffic_step_listener(None)
    assert info["status"] == "Succeeded", info
    assert app.alias()["FunctionVersion"] == "2"


def test_alarm_already_firing_stops_before_any_traffic_moves(aws: Callable[[str], Any]) -> None:
    app = make_app(aws)
    aws("cloudwatch").set_alarm_state(AlarmName=app.alarm, StateValue="ALARM", StateReason="already failing")
    deployment_id = app.deploy()
    info = app.wait_done(deployment_id)
    assert info["status"] == "Stopped"
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert_rolled_back(app, deployment_id, info)


def test_missing_alarm_stops_unless_poll_failures_are_ignored(aws: Callable[[str], Any]) -> None:
    app = make_app(
        aws,
        config="CodeDeployDefault.LambdaAllAtOnce",
        alarm_configuration={"enabled": True, "alarms": [{"name": "no-such-alarm"}]},
        rollback_events=(),
    )
    stopped = app.wait_done(app.deploy())
    assert stopped["status"] == "Stopped"
    assert "<no-such-alarm>" in stopped["errorInformation"]["message"]
    assert "ignorePollAlarmFailure" in stopped["errorInformation"]["message"]
    assert "rollbackInfo" not in stopped
    assert app.alias()["FunctionVersion"] == "1"

    app.codedeploy.update_deployment_group(
        applicationName=app.name,
        currentDeploymentGroupName="group",
        alarmConfiguration={"enabled": True, "ignorePollAlarmFailure": True, "alarms": [{"name": "no-such-alarm"}]},
    )
    assert app.wait_done(app.deploy())["status"] == "Succeeded"


def test_stop_deployment_with_auto_rollback(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaCanary10Percent30Minutes")
    deployment_id = app.deploy()
    assert wait_for(lambda: app.canary_weight() == 0.1)
    answer = app.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    assert answer["status"] == "Pending"

    info = app.wait_done(deployment_id)
    assert info["status"] == "Stopped"
    assert info["errorInformation"]["code"] == "MANUAL_STOP"
    assert_rolled_back(app, deployment_id, info)
    with pytest.raises(ClientError) as again:
        app.codedeploy.stop_deployment(deploymentId=deployment_id)
    assert error_code(again) == "DeploymentAlreadyCompletedException"


def test_stop_deployment_without_rollback_leaves_the_alias(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaCanary10Percent30Minutes")
    deployment_id = app.deploy()
    assert wait_for(lambda: app.canary_weight() == 0.1)
    app.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)
    info = app.wait_done(deployment_id)
    assert info["status"] == "Stopped"
    assert "rollbackInfo" not in info
    assert app.canary_weight() == 0.1  # as AWS: traffic stays where the stop found it


# --- Hooks --------------------------------------------------------------------------------------


def reporting_invoker(
    client: Any, statuses: dict[str, str], calls: list[tuple[str, dict[str, str]]]
) -> codedeploy.HookInvoker:
    """Stands in for the hook Lambda: reports over the API from another thread, as a hook would."""

    def invoke(function: str, payload: dict[str, str]) -> None:
        calls.append((function, payload))

        def report() -> None:
            client.put_lifecycle_event_hook_execution_status(
                deploymentId=payload["DeploymentId"],
                lifecycleEventHookExecutionId=payload["LifecycleEventHookExecutionId"],
                status=statuses[function],
            )

        threading.Thread(target=report, daemon=True).start()

    return invoke


def test_a_hook_reads_its_deployments_description_when_invoked(aws: Callable[[str], Any]) -> None:
    """What a hook runner relies on: GetDeployment answers the description CreateDeployment was given
    as soon as the hook is invoked, and a second report is refused as already completed."""
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    seen: list[str] = []
    calls: list[tuple[str, dict[str, str]]] = []
    reporting = reporting_invoker(app.codedeploy, {"runner": "Succeeded"}, calls)

    def invoke(function: str, payload: dict[str, str]) -> None:
        seen.append(app.deployment(payload["DeploymentId"]).get("description", ""))
        reporting(function, payload)

    codedeploy.set_hook_invoker(invoke)
    deployment_id = app.deploy(hooks={"BeforeAllowTraffic": "runner"})
    assert app.wait_done(deployment_id)["status"] == "Succeeded"
    assert seen == ["test deployment"]
    with pytest.raises(ClientError) as again:
        app.codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=calls[0][1]["LifecycleEventHookExecutionId"],
            status="Succeeded",
        )
    assert error_code(again) == "LifecycleEventAlreadyCompletedException"


def test_hooks_run_before_and_after_traffic(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    calls: list[tuple[str, dict[str, str]]] = []
    codedeploy.set_hook_invoker(reporting_invoker(app.codedeploy, {"pre": "Succeeded", "post": "Succeeded"}, calls))
    deployment_id = app.deploy(hooks={"BeforeAllowTraffic": "pre", "AfterAllowTraffic": "post"})

    assert app.wait_done(deployment_id)["status"] == "Succeeded"
    assert [function for function, _ in calls] == ["pre", "post"]
    assert all(payload["DeploymentId"] == deployment_id for _, payload in calls)
    assert calls[0][1]["LifecycleEventHookExecutionId"] != calls[1][1]["LifecycleEventHookExecutionId"]
    assert app.lifecycle(deployment_id) == {
        "BeforeAllowTraffic": "Succeeded",
        "AllowTraffic": "Succeeded",
        "AfterAllowTraffic": "Succeeded",
    }

    with pytest.raises(ClientError) as twice:
        app.codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=calls[0][1]["LifecycleEventHookExecutionId"],
            status="Failed",
        )
    assert error_code(twice) == "LifecycleEventAlreadyCompletedException"
    with pytest.raises(ClientError) as bogus:
        app.codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId="bogus", status="Succeeded"
        )
    assert error_code(bogus) == "InvalidLifecycleEventHookExecutionIdException"


def test_failed_before_allow_traffic_hook_fails_and_rolls_back(aws: Callable[[str], Any]) -> None:
    app = make_app(aws)
    calls: list[tuple[str, dict[str, str]]] = []
    codedeploy.set_hook_invoker(reporting_invoker(app.codedeploy, {"pre": "Failed"}, calls))
    deployment_id = app.deploy(hooks={"BeforeAllowTraffic": "pre"})

    info = app.wait_done(deployment_id)
    assert info["status"] == "Failed", info
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert "BeforeAllowTraffic" in info["errorInformation"]["message"]
    assert "pre" in info["errorInformation"]["message"]
    assert app.lifecycle(deployment_id) == {
        "BeforeAllowTraffic": "Failed",
        "AllowTraffic": "Skipped",
        "AfterAllowTraffic": "Skipped",
    }
    assert_rolled_back(app, deployment_id, info)


def test_hooks_go_through_the_lambda_runtime_by_default(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = aws("codedeploy")
    invocations: list[tuple[str, dict[str, str], str, str]] = []

    def invoke(
        function: str,
        payload: bytes,
        qualifier: str | None = None,
        *,
        account_id: str,
        region: str,
        invocation_type: str = "RequestResponse",
    ) -> None:
        event = json.loads(payload)
        invocations.append((function, event, invocation_type, f"{account_id}/{region}"))
        reporting_invoker(reporter, {function: "Succeeded"}, [])(function, event)

    fake_runtime = types.ModuleType("stepdeploy_localcloud.awslambda.runtime")
    fake_runtime.invoke = invoke  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stepdeploy_localcloud.awslambda.runtime", fake_runtime)
    monkeypatch.setattr("stepdeploy_localcloud.awslambda.runtime", fake_runtime, raising=False)
    codedeploy.set_hook_invoker(None)

    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    deployment_id = app.deploy(hooks={"AfterAllowTraffic": "arn:aws:lambda:us-east-1:123456789012:function:post"})
    assert app.wait_done(deployment_id)["status"] == "Succeeded"
    ((function, event, invocation_type, where),) = invocations
    assert function == "arn:aws:lambda:us-east-1:123456789012:function:post"
    assert event["DeploymentId"] == deployment_id and event["LifecycleEventHookExecutionId"]
    assert invocation_type == "Event"
    assert where == "123456789012/us-east-1"


# --- Validation of the AppSpec against the function ---------------------------------------------


@pytest.mark.parametrize(
    ("appspec", "code", "phrase"),
    [
        ({"current": "2", "target": "1"}, "INVALID_LAMBDA_CONFIGURATION", "points to version 1"),
        ({"current": "1", "target": "7"}, "INVALID_LAMBDA_FUNCTION", "TargetVersion 7"),
        ({"content": "version: 0.0\nResources: []\n"}, "INVALID_REVISION", "exactly one resource"),
    ],
)
def test_an_appspec_that_does_not_fit_fails(
    aws: Callable[[str], Any], appspec: dict[str, str], code: str, phrase: str
) -> None:
    app = make_app(aws)
    deployment_id = app.deploy(**appspec)
    info = app.wait_done(deployment_id)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == code
    assert phrase in info["errorInformation"]["message"]
    assert "rollbackInfo" not in info
    assert app.alias()["FunctionVersion"] == "1"


def test_yaml_appspec_is_read(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    content = (
        "version: 0.0\n"
        "Resources:\n"
        "  - Fn:\n"
        "      Type: AWS::Lambda::Function\n"
        "      Properties:\n"
        f"        Name: {app.function}\n"
        "        Alias: live\n"
        "        CurrentVersion: 1\n"
        "        TargetVersion: 2\n"
    )
    assert app.wait_done(app.deploy(content=content))["status"] == "Succeeded"
    assert app.alias()["FunctionVersion"] == "2"


# --- Events -------------------------------------------------------------------------------------


def test_state_changes_reach_the_default_event_bus(aws: Callable[[str], Any]) -> None:
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    sqs, events = aws("sqs"), aws("events")
    queue_url = sqs.create_queue(QueueName=f"codedeploy-events-{app.name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"codedeploy-{app.name}"
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps({"source": ["aws.codedeploy"], "detail": {"application": [app.name]}}),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])

    deployment_id = app.deploy()
    app.wait_done(deployment_id)
    received: list[dict[str, Any]] = []

    def both_states() -> bool:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(message["Body"]))
        return {event["detail"]["state"] for event in received} >= {"START", "SUCCESS"}

    wait_for(both_states, timeout=5)
    event = received[0]
    assert event["source"] == "aws.codedeploy"
    assert event["detail-type"] == "CodeDeploy Deployment State-change Notification"
    assert event["detail"]["deploymentId"] == deployment_id
    assert event["detail"]["deploymentGroup"] == "group"
    assert event["detail"]["region"] == "us-east-1"
    assert event["detail"]["instanceGroupId"]
    for each in received:
        assert_documented_shape(each, "codedeploy-deployment-state-change")


# --- moto itself --------------------------------------------------------------------------------


def test_moto_still_lacks_what_the_adapter_adds() -> None:
    """Fails when moto grows these operations: then review whether the adapter is still needed."""
    assert codedeploy_patch.PREEXISTING_RESPONSE_METHODS == []


def test_works_in_process_under_mock_aws() -> None:
    from moto import mock_aws

    mock = mock_aws(config={"lambda": {"use_docker": False}})
    mock.start(reset=False)  # keep the shared server's data
    try:

        def client(service: str) -> Any:
            return boto3.client(service, region_name="us-east-1")

        app = make_app(client, config="CodeDeployDefault.LambdaCanary10Percent5Minutes")
        deployment_id = app.deploy()
        assert wait_for(lambda: app.canary_weight() == 0.1)
        assert app.wait_done(deployment_id)["status"] == "Succeeded"
        assert app.alias()["FunctionVersion"] == "2"
    finally:
        mock.stop(remove_data=False)


HOOK_SOURCE = """
import os

import boto3


def handler(event, context):
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=os.environ["HOOK_STATUS"],
    )
    return "reported"
"""


def test_a_real_hook_function_reports_through_the_api(aws: Callable[[str], Any]) -> None:
    """End to end: the local Lambda runtime runs the hook, which calls back over HTTP."""
    codedeploy.set_hook_invoker(None)
    app = make_app(aws, config="CodeDeployDefault.LambdaAllAtOnce")
    hook = f"hook-{app.name}"
    app.awslambda.create_function(
        FunctionName=hook,
        Runtime="python3.11",
        Role=app.role,
        Handler="hook.handler",
        Code={"ZipFile": zipped_as("hook.py", HOOK_SOURCE)},
        Environment={"Variables": {"HOOK_STATUS": "Failed"}},
    )
    deployment_id = app.deploy(hooks={"AfterAllowTraffic": hook})
    info = wait_for(lambda: (found := app.deployment(deployment_id))["status"] in TERMINAL and found, timeout=30)
    assert info["status"] == "Failed", info
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert app.lifecycle(deployment_id)["AfterAllowTraffic"] == "Failed"
    assert_rolled_back(app, deployment_id, info)
