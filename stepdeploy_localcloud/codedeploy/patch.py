"""Adapter: CodeDeploy for the Lambda compute platform over moto 5.2.5.

moto keeps a Lambda deployment ``Created`` forever, drops the deployment group's
alarmConfiguration, and has no deployment configurations, StopDeployment, lifecycle hooks or
deployment targets. This adapter patches moto's backend and response classes (so it works in
server mode and in-process under ``mock_aws``) and hands each Lambda deployment to
stepdeploy_localcloud.codedeploy.engine, which shifts the alias's traffic for real.
"""

from __future__ import annotations

import inspect
from typing import Any

from moto.codedeploy import models as cd_models
from moto.codedeploy import responses as cd_responses
from moto.codedeploy.exceptions import CodeDeployException
from moto.core.responses import ActionResult, EmptyResult

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.codedeploy import engine
from stepdeploy_localcloud.patching import is_patched, replace

MAX_ALARMS = 10
COMPUTE_PLATFORMS = ("Server", "Lambda", "ECS")
LAMBDA_DEPLOYMENT_STYLE = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}

_originals: dict[str, Any] = {}

PREEXISTING_RESPONSE_METHODS: list[str] = []
"""Operations this adapter adds that moto already had when it was applied (should stay empty)."""


# --- Errors, named as AWS names them -----------------------------------------------------------


def _error(name: str, message: str) -> CodeDeployException:
    error = CodeDeployException(name, message)
    error.code = 400
    return error


# --- State kept on moto's backend (so mock_aws resets it with the rest) -------------------------


def _configs(backend: Any) -> dict[str, engine.DeploymentConfig]:
    configs = backend.__dict__.get("stepdeploy_deployment_configs")
    if configs is None:
        configs = engine.predefined_configs()
        backend.__dict__["stepdeploy_deployment_configs"] = configs
    return configs


def _get_config(backend: Any, name: str) -> engine.DeploymentConfig:
    config = _configs(backend).get(str(name))
    if config is None:
        raise _error(
            "DeploymentConfigDoesNotExistException",
            f"No deployment configuration found for name: {name}",
        )
    return config


def _check_config_fits(config: engine.DeploymentConfig, compute_platform: str | None) -> None:
    platform = compute_platform or "Server"
    if config.compute_platform != platform:
        raise _error(
            "InvalidDeploymentConfigNameException",
            f"Deployment configuration {config.name} is for the {config.compute_platform} compute "
            f"platform, but the application's compute platform is {platform}.",
        )


def _check_alarm_configuration(alarm_configuration: dict[str, Any] | None) -> None:
    if not alarm_configuration:
        return
    alarms = alarm_configuration.get("alarms") or []
    if len(alarms) > MAX_ALARMS:
        raise _error(
            "AlarmsLimitExceededException",
            f"The deployment group lists {len(alarms)} alarms; at most {MAX_ALARMS} are allowed.",
        )
    if alarm_configuration.get("enabled") and not alarms:
        raise _error(
            "InvalidAlarmConfigException",
            "The alarm configuration is enabled but lists no alarms; add alarms[{name}] or set enabled false.",
        )
    if any(not alarm.get("name") for alarm in alarms):
        raise _error("InvalidAlarmConfigException", "Every alarm in alarmConfiguration.alarms needs a name.")


def _check_auto_rollback(auto_rollback: dict[str, Any] | None) -> None:
    if not auto_rollback:
        return
    unknown = [event for event in auto_rollback.get("events") or [] if event not in engine.ROLLBACK_EVENTS]
    if unknown:
        raise _error(
            "InvalidAutoRollbackConfigException",
            f"autoRollbackConfiguration.events has {', '.join(unknown)}; expected any of "
            f"{', '.join(engine.ROLLBACK_EVENTS)}.",
        )


# --- Backend: patched operations ---------------------------------------------------------------


def _deployment_info_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _originals["DeploymentInfo.__init__"](self, *args, **kwargs)
    self.deployment_id = engine.new_deployment_id()
    self.error_information = {}
    self.rollback_info = {}


def create_application(self: Any, application_name: str, compute_platform: str, tags: list[dict[str, str]]) -> str:
    platform = compute_platform or "Server"
    if platform not in COMPUTE_PLATFORMS:
        raise _error(
            "InvalidComputePlatformException",
            f"computePlatform {compute_platform!r} is not valid; expected Server, Lambda or ECS.",
        )
    return _originals["create_application"](self, application_name, platform, tags)


def _bind(name: str, *args: Any, **kwargs: Any) -> inspect.BoundArguments:
    """Arguments of moto's original method by name, however the caller passed them."""
    bound = inspect.signature(_originals[name]).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def create_deployment_group(*args: Any, **kwargs: Any) -> str:
    call = _bind("create_deployment_group", *args, **kwargs)
    arguments = call.arguments
    backend = arguments["self"]
    application = backend.get_application(arguments["application_name"])
    is_lambda = application.compute_platform == "Lambda"
    if is_lambda and not arguments["deployment_config_name"]:
        arguments["deployment_config_name"] = engine.DEFAULT_LAMBDA_CONFIG
    if is_lambda:  # Server and ECS configurations stay moto's business
        _check_config_fits(_get_config(backend, arguments["deployment_config_name"]), "Lambda")
    _check_alarm_configuration(arguments["alarm_configuration"])
    _check_auto_rollback(arguments["auto_rollback_configuration"])
    if is_lambda and not arguments["deployment_style"]:
        arguments["deployment_style"] = dict(LAMBDA_DEPLOYMENT_STYLE)
    return _originals["create_deployment_group"](*call.args, **call.kwargs)


def update_deployment_group(
    self: Any,
    application_name: str,
    current_deployment_group_name: str,
    new_deployment_group_name: str | None = None,
    **changes: Any,
) -> list[str]:
    group = self.get_deployment_group(application_name, current_deployment_group_name)
    platform = group.application.compute_platform
    if changes.get("deployment_config_name") and platform == "Lambda":
        _check_config_fits(_get_config(self, changes["deployment_config_name"]), platform)
    _check_alarm_configuration(changes.get("alarm_configuration"))
    _check_auto_rollback(changes.get("auto_rollback_configuration"))
    groups = self.deployment_groups[application_name]
    if new_deployment_group_name and new_deployment_group_name != current_deployment_group_name:
        if new_deployment_group_name in groups:
            raise _error(
                "DeploymentGroupAlreadyExistsException",
                f"Deployment group {new_deployment_group_name} already exists.",
            )
        groups[new_deployment_group_name] = groups.pop(current_deployment_group_name)
        group.deployment_group_name = new_deployment_group_name
    for attribute, value in changes.items():
        if value is not None:
            setattr(group, attribute, value)
    return []


def create_deployment(*args: Any, **kwargs: Any) -> str:
    call = _bind("create_deployment", *args, **kwargs)
    arguments = call.arguments
    backend = arguments["self"]
    application_name = arguments["application_name"]
    group_name = arguments["deployment_group_name"]
    application = backend.get_application(application_name)
    if application.compute_platform != "Lambda":
        return _originals["create_deployment"](*call.args, **call.kwargs)

    group = backend.get_deployment_group(application_name, group_name or "")
    revision = arguments["revision"]
    if not revision:
        raise _error("RevisionRequiredException", "The revision is required: an AppSpecContent revision for Lambda.")
    config = _get_config(backend, arguments["deployment_config_name"] or group.deployment_config_name)
    _check_config_fits(config, "Lambda")
    for deployment in list(backend.deployments.values()):
        if (
            deployment.application_name == application_name
            and deployment.deployment_group_name == group_name
            and deployment.status not in engine.TERMINAL_STATUSES
        ):
            raise _error(
                "DeploymentLimitExceededException",
                f"The Deployment Group '{group_name}' already has an active Deployment '{deployment.deployment_id}'",
            )
    arguments["deployment_config_name"] = config.name
    deployment_id = _originals["create_deployment"](*call.args, **call.kwargs)
    deployment = backend.deployments[deployment_id]
    group.target_revision = revision
    alarm_configuration = arguments["override_alarm_configuration"] or group.alarm_configuration
    run = engine.DeploymentRun(
        deployment,
        account_id=backend.account_id,
        region=backend.region_name,
        routing=config.traffic_routing or engine.TrafficRouting("AllAtOnce"),
        alarm_configuration=alarm_configuration if isinstance(alarm_configuration, dict) else None,
        auto_rollback_configuration=arguments["auto_rollback_configuration"] or group.auto_rollback_configuration,
    )
    run.start()
    return deployment_id


# --- Backend: operations moto lacks ------------------------------------------------------------


def create_deployment_config(
    self: Any,
    deployment_config_name: str,
    compute_platform: str | None,
    traffic_routing_config: dict[str, Any] | None,
    minimum_healthy_hosts: dict[str, Any] | None,
) -> str:
    configs = _configs(self)
    if not deployment_config_name:
        raise _error("DeploymentConfigNameRequiredException", "deploymentConfigName is required.")
    if deployment_config_name in configs:
        raise _error(
            "DeploymentConfigAlreadyExistsException",
            f"A deployment configuration named {deployment_config_name} already exists.",
        )
    platform = compute_platform or "Server"
    if platform not in COMPUTE_PLATFORMS:
        raise _error("InvalidComputePlatformException", f"computePlatform {compute_platform!r} is not valid.")
    routing = None
    if platform == "Lambda":
        try:
            routing = engine.TrafficRouting.from_api(traffic_routing_config)
        except engine.DeploymentConfigError as error:
            raise _error("InvalidTrafficRoutingConfigurationException", str(error)) from error
    elif platform == "Server" and not minimum_healthy_hosts:
        raise _error(
            "InvalidMinimumHealthyHostValueException",
            "A Server deployment configuration needs minimumHealthyHosts {type, value}.",
        )
    config = engine.DeploymentConfig(
        deployment_config_name, platform, traffic_routing=routing, minimum_healthy_hosts=minimum_healthy_hosts
    )
    configs[deployment_config_name] = config
    return config.config_id


def get_deployment_config(self: Any, deployment_config_name: str) -> engine.DeploymentConfig:
    return _get_config(self, deployment_config_name)


def delete_deployment_config(self: Any, deployment_config_name: str) -> None:
    config = _get_config(self, deployment_config_name)
    if config.name.startswith("CodeDeployDefault."):
        raise _error(
            "InvalidOperationException",
            f"{config.name} is a predefined deployment configuration and cannot be deleted.",
        )
    in_use = [
        f"{application}/{name}"
        for application, groups in self.deployment_groups.items()
        for name, group in groups.items()
        if str(group.deployment_config_name) == config.name
    ]
    if in_use:
        raise _error(
            "DeploymentConfigInUseException",
            f"Deployment configuration {config.name} is used by deployment group(s) {', '.join(in_use)}.",
        )
    del _configs(self)[config.name]


def _lambda_run(self: Any, deployment_id: str) -> engine.DeploymentRun:
    deployment = self.get_deployment(deployment_id)
    run = getattr(deployment, "lambda_run", None)
    if run is None:
        raise _error(
            "UnsupportedActionForDeploymentTypeException",
            f"Deployment {deployment_id} is not a Lambda deployment; the local cloud supports this "
            "operation for the Lambda compute platform only.",
        )
    return run


def stop_deployment(self: Any, deployment_id: str, auto_rollback_enabled: bool | None) -> dict[str, str]:
    run = _lambda_run(self, deployment_id)
    if run.status in engine.TERMINAL_STATUSES:
        raise _error(
            "DeploymentAlreadyCompletedException",
            f"The deployment {deployment_id} has already completed (status {run.status}).",
        )
    run.request_stop(auto_rollback_enabled)
    return {
        "status": "Pending",
        "statusMessage": "Stopping Pending. Stopping to schedule commands in the deployment instances",
    }


def put_lifecycle_event_hook_execution_status(
    self: Any, deployment_id: str, lifecycle_event_hook_execution_id: str, status: str
) -> str:
    if not deployment_id:
        raise _error("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    run = _lambda_run(self, deployment_id)
    if status not in ("Succeeded", "Failed"):
        raise _error(
            "InvalidLifecycleEventHookExecutionStatusException",
            f"The lifecycle event hook status {status!r} is not valid; only Succeeded or Failed can be reported.",
        )
    try:
        run.report_hook_status(lifecycle_event_hook_execution_id, status)
    except KeyError as error:
        raise _error(
            "InvalidLifecycleEventHookExecutionIdException",
            f"The lifecycle event hook execution ID {lifecycle_event_hook_execution_id} is not one "
            f"of deployment {deployment_id}; pass the LifecycleEventHookExecutionId the hook received.",
        ) from error
    except RuntimeError as error:
        raise _error(
            "LifecycleEventAlreadyCompletedException",
            f"The lifecycle event of hook execution {lifecycle_event_hook_execution_id} already "
            f"completed with status {error}.",
        ) from error
    return lifecycle_event_hook_execution_id


def list_deployment_targets(self: Any, deployment_id: str, target_filters: dict[str, list[str]] | None) -> list[str]:
    run = _lambda_run(self, deployment_id)
    wanted = (target_filters or {}).get("TargetStatus")
    if wanted and run.target_status not in wanted:
        return []
    return [run.target_id]


def get_deployment_target(self: Any, deployment_id: str, target_id: str) -> dict[str, Any]:
    run = _lambda_run(self, deployment_id)
    if target_id != run.target_id:
        raise _error(
            "DeploymentTargetDoesNotExistException",
            f"Deployment {deployment_id} has no target {target_id}; its target is {run.target_id}.",
        )
    return {"deploymentTargetType": "LambdaTarget", "lambdaTarget": run.target_api()}


def list_deployment_configs(self: Any) -> list[str]:
    return sorted(_configs(self))


# --- Responses ---------------------------------------------------------------------------------


def _without_empty(info: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in info.items() if value not in (None, {}, "")}


def _deployment_info(deployment: Any) -> dict[str, Any]:
    info = _originals["_deployment_info"](deployment)
    info["errorInformation"] = getattr(deployment, "error_information", {}) or {}
    info["rollbackInfo"] = getattr(deployment, "rollback_info", {}) or {}
    info["deploymentConfigName"] = str(deployment.deployment_config_name)
    return _without_empty(info)


def _last_deployment(deployment: Any) -> dict[str, Any]:
    return _without_empty(
        {
            "deploymentId": deployment.deployment_id,
            "status": deployment.status,
            "endTime": deployment.complete_time,
            "createTime": deployment.create_time,
        }
    )


def _deployment_group_info(group: Any) -> dict[str, Any]:
    info = _originals["_deployment_group_info"](group)
    info["alarmConfiguration"] = group.alarm_configuration or {}
    info["targetRevision"] = getattr(group, "target_revision", None) or {}
    deployments = [
        deployment
        for region_backend in backends.existing("codedeploy")
        for deployment in list(region_backend.deployments.values())
        if deployment.deployment_group is group
    ]
    if deployments:
        info["lastAttemptedDeployment"] = _last_deployment(deployments[-1])
        succeeded = [deployment for deployment in deployments if deployment.status == "Succeeded"]
        if succeeded:
            info["lastSuccessfulDeployment"] = _last_deployment(succeeded[-1])
    return _without_empty(info)


def _response_update_deployment_group(self: Any) -> ActionResult:
    params = {
        "deployment_config_name": self._get_param("deploymentConfigName"),
        "service_role_arn": self._get_param("serviceRoleArn"),
        "trigger_configurations": self._get_param("triggerConfigurations"),
        "alarm_configuration": self._get_param("alarmConfiguration"),
        "auto_rollback_configuration": self._get_param("autoRollbackConfiguration"),
        "outdated_instances_strategy": self._get_param("outdatedInstancesStrategy"),
        "deployment_style": self._get_param("deploymentStyle"),
        "blue_green_deployment_configuration": self._get_param("blueGreenDeploymentConfiguration"),
        "load_balancer_info": self._get_param("loadBalancerInfo"),
        "ec2_tag_filters": self._get_param("ec2TagFilters"),
        "on_premises_instance_tag_filters": self._get_param("onPremisesInstanceTagFilters"),
        "auto_scaling_groups": self._get_param("autoScalingGroups"),
        "ec2_tag_set": self._get_param("ec2TagSet"),
        "ecs_services": self._get_param("ecsServices"),
        "on_premises_tag_set": self._get_param("onPremisesTagSet"),
        "termination_hook_enabled": self._get_param("terminationHookEnabled"),
    }
    not_cleaned = self.codedeploy_backend.update_deployment_group(
        self._get_param("applicationName"),
        self._get_param("currentDeploymentGroupName"),
        self._get_param("newDeploymentGroupName"),
        **params,
    )
    return ActionResult({"hooksNotCleanedUp": not_cleaned})


def _response_create_deployment_config(self: Any) -> ActionResult:
    config_id = self.codedeploy_backend.create_deployment_config(
        self._get_param("deploymentConfigName"),
        self._get_param("computePlatform"),
        self._get_param("trafficRoutingConfig"),
        self._get_param("minimumHealthyHosts"),
    )
    return ActionResult({"deploymentConfigId": config_id})


def _response_get_deployment_config(self: Any) -> ActionResult:
    config = self.codedeploy_backend.get_deployment_config(self._get_param("deploymentConfigName"))
    return ActionResult({"deploymentConfigInfo": config.to_api()})


def _response_list_deployment_configs(self: Any) -> ActionResult:
    return ActionResult({"deploymentConfigsList": self.codedeploy_backend.list_deployment_configs()})


def _response_delete_deployment_config(self: Any) -> ActionResult:
    self.codedeploy_backend.delete_deployment_config(self._get_param("deploymentConfigName"))
    return EmptyResult()


def _response_stop_deployment(self: Any) -> ActionResult:
    result = self.codedeploy_backend.stop_deployment(
        self._get_param("deploymentId"), self._get_param("autoRollbackEnabled")
    )
    return ActionResult(result)


def _response_put_lifecycle_event_hook_execution_status(self: Any) -> ActionResult:
    execution_id = self.codedeploy_backend.put_lifecycle_event_hook_execution_status(
        self._get_param("deploymentId"),
        self._get_param("lifecycleEventHookExecutionId"),
        self._get_param("status"),
    )
    return ActionResult({"lifecycleEventHookExecutionId": execution_id})


def _response_list_deployment_targets(self: Any) -> ActionResult:
    target_ids = self.codedeploy_backend.list_deployment_targets(
        self._get_param("deploymentId"), self._get_param("targetFilters")
    )
    return ActionResult({"targetIds": target_ids})


def _response_get_deployment_target(self: Any) -> ActionResult:
    target = self.codedeploy_backend.get_deployment_target(self._get_param("deploymentId"), self._get_param("targetId"))
    return ActionResult({"deploymentTarget": target})


def _response_batch_get_deployment_targets(self: Any) -> ActionResult:
    deployment_id = self._get_param("deploymentId")
    targets = [
        self.codedeploy_backend.get_deployment_target(deployment_id, target_id)
        for target_id in self._get_param("targetIds") or []
    ]
    return ActionResult({"deploymentTargets": targets})


_BACKEND_METHODS = {
    "create_application": create_application,
    "create_deployment_group": create_deployment_group,
    "update_deployment_group": update_deployment_group,
    "create_deployment": create_deployment,
    "create_deployment_config": create_deployment_config,
    "get_deployment_config": get_deployment_config,
    "delete_deployment_config": delete_deployment_config,
    "list_deployment_configs": list_deployment_configs,
    "stop_deployment": stop_deployment,
    "put_lifecycle_event_hook_execution_status": put_lifecycle_event_hook_execution_status,
    "list_deployment_targets": list_deployment_targets,
    "get_deployment_target": get_deployment_target,
}

_RESPONSE_METHODS = {
    "update_deployment_group": _response_update_deployment_group,
    "create_deployment_config": _response_create_deployment_config,
    "get_deployment_config": _response_get_deployment_config,
    "list_deployment_configs": _response_list_deployment_configs,
    "delete_deployment_config": _response_delete_deployment_config,
    "stop_deployment": _response_stop_deployment,
    "put_lifecycle_event_hook_execution_status": _response_put_lifecycle_event_hook_execution_status,
    "list_deployment_targets": _response_list_deployment_targets,
    "get_deployment_target": _response_get_deployment_target,
    "batch_get_deployment_targets": _response_batch_get_deployment_targets,
}


def apply() -> None:
    backend_class = cd_models.CodeDeployBackend
    if not is_patched(cd_responses, "_deployment_info"):
        PREEXISTING_RESPONSE_METHODS[:] = [
            name for name in _RESPONSE_METHODS if hasattr(cd_responses.CodeDeployResponse, name)
        ]
    for name, function in _BACKEND_METHODS.items():
        _originals[name] = replace(backend_class, name, function)
    for name, function in _RESPONSE_METHODS.items():
        replace(cd_responses.CodeDeployResponse, name, function)
    _originals["DeploymentInfo.__init__"] = replace(cd_models.DeploymentInfo, "__init__", _deployment_info_init)
    _originals["_deployment_info"] = replace(cd_responses, "_deployment_info", _deployment_info)
    _originals["_deployment_group_info"] = replace(cd_responses, "_deployment_group_info", _deployment_group_info)
