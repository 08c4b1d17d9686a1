"""AWS::Scheduler::Schedule and ScheduleGroup."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    tags_to_dict,
    tags_to_list,
)


class ScheduleHandler(ResourceHandler):
    resource_type = "AWS::Scheduler::Schedule"
    replace_on = frozenset({"Name", "GroupName"})
    name_property = "Name"

    def _args(self, name: str, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": props.get("Description"),
            "end_date": props.get("EndDate"),
            "flexible_time_window": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            "group_name": props.get("GroupName"),
            "kms_key_arn": props.get("KmsKeyArn"),
            "name": name,
            "schedule_expression": props.get("ScheduleExpression"),
            "schedule_expression_timezone": props.get("ScheduleExpressionTimezone"),
            "start_date": props.get("StartDate"),
            "state": props.get("State", "ENABLED"),
            "target": props.get("Target"),
        }

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props)
        schedule = ctx.backend("scheduler").create_schedule(
            **self._args(name, props), action_after_completion=props.get("ActionAfterCompletion")
        )
        return Provisioned(name, {"Arn": schedule.arn}, handle=props.get("GroupName"))

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        ctx.backend("scheduler").update_schedule(**self._args(current.physical_id, new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("scheduler").delete_schedule(current.handle, current.physical_id)


class ScheduleGroupHandler(ResourceHandler):
    resource_type = "AWS::Scheduler::ScheduleGroup"
    replace_on = frozenset({"Name"})
    name_property = "Name"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props)
        group = ctx.backend("scheduler").create_schedule_group(
            name=name, tags=tags_to_list(tags_to_dict(props.get("Tags")))
        )
        return Provisioned(name, {"Arn": group.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("scheduler").delete_schedule_group(current.physical_id)
