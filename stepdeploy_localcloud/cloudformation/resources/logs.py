"""AWS::Logs::LogGroup."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    tags_to_dict,
)


class LogGroupHandler(ResourceHandler):
    resource_type = "AWS::Logs::LogGroup"
    replace_on = frozenset({"LogGroupName"})
    name_property = "LogGroupName"

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props, max_length=512)
        backend = ctx.backend("logs")
        group = backend.create_log_group(name, tags_to_dict(props.get("Tags")))
        if props.get("RetentionInDays"):
            backend.put_retention_policy(name, int(props["RetentionInDays"]))
        return Provisioned(name, {"Arn": group.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("logs")
        if new.get("RetentionInDays"):
            backend.put_retention_policy(current.physical_id, int(new["RetentionInDays"]))
        else:
            backend.delete_retention_policy(current.physical_id)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("logs").delete_log_group(current.physical_id)
