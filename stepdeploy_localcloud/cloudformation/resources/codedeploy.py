"""AWS::CodeDeploy::Application and DeploymentGroup."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    camel_keys,
    required_property,
)


class CodeDeployApplicationHandler(ResourceHandler):
    resource_type = "AWS::CodeDeploy::Application"
    replace_on = frozenset({"ApplicationName", "ComputePlatform"})
    name_property = "ApplicationName"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props, max_length=100)
        ctx.backend("codedeploy").create_application(
            name, props.get("ComputePlatform", "Server"), props.get("Tags") or []
        )
        return Provisioned(name)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = ctx.backend("codedeploy")
        backend.applications.pop(current.physical_id, None)
        backend.deployment_groups.pop(current.physical_id, None)


class CodeDeployDeploymentGroupHandler(ResourceHandler):
    resource_type = "AWS::CodeDeploy::DeploymentGroup"
    replace_on = frozenset({"ApplicationName", "DeploymentGroupName"})
    name_property = "DeploymentGroupName"

    def _args(self, props: dict[str, Any]) -> dict[str, Any]:
        alarms = props.get("AlarmConfiguration")
        return {
            "deployment_config_name": props.get("DeploymentConfigName"),
            "ec2_tag_filters": camel_keys(props.get("Ec2TagFilters")),
            "on_premises_instance_tag_filters": camel_keys(props.get("OnPremisesInstanceTagFilters")),
            "auto_scaling_groups": props.get("AutoScalingGroups"),
            "service_role_arn": props.get("ServiceRoleArn"),
            "trigger_configurations": camel_keys(props.get("TriggerConfigurations")),
            "alarm_configuration": camel_keys(alarms) if alarms else None,
            "auto_rollback_configuration": camel_keys(props.get("AutoRollbackConfiguration")),
            "deployment_style": camel_keys(props.get("DeploymentStyle")),
            "blue_green_deployment_configuration": camel_keys(props.get("BlueGreenDeploymentConfiguration")),
            "load_balancer_info": camel_keys(props.get("LoadBalancerInfo")),
            "ecs_services": camel_keys(props.get("ECSServices")),
            "tags": props.get("Tags") or [],
        }

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        application = required_property(props, "ApplicationName", ctx)
        name = self.physical_name(ctx, props, max_length=100)
        ctx.backend("codedeploy").create_deployment_group(
            application_name=application, deployment_group_name=name, **self._args(props)
        )
        return Provisioned(name, handle=application)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("codedeploy")
        if callable(getattr(backend, "update_deployment_group", None)):  # the CodeDeploy adapter's
            changes = self._args(new)
            changes.pop("tags")
            backend.update_deployment_group(current.handle, current.physical_id, **changes)
            return current
        # moto itself has no UpdateDeploymentGroup: recreate the group under the same name.
        backend.deployment_groups.get(current.handle, {}).pop(current.physical_id, None)
        backend.create_deployment_group(
            application_name=current.handle, deployment_group_name=current.physical_id, **self._args(new)
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("codedeploy").deployment_groups.get(current.handle, {}).pop(current.physical_id, None)
