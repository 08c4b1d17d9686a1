"""AWS::Events::EventBus and Rule."""

from __future__ import annotations

import copy
import json
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    required_property,
    tags_to_dict,
    tags_to_list,
)


def _bus_name(value: Any) -> str:
    return str(value or "default").split("/")[-1]


class EventBusHandler(ResourceHandler):
    resource_type = "AWS::Events::EventBus"
    replace_on = frozenset({"Name", "EventSourceName"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = required_property(props, "Name", ctx)
        bus = ctx.backend("events").create_event_bus(
            name=name,
            event_source_name=props.get("EventSourceName"),
            description=props.get("Description"),
            kms_key_identifier=props.get("KmsKeyIdentifier"),
            dead_letter_config=props.get("DeadLetterConfig"),
            tags=tags_to_list(tags_to_dict(props.get("Tags"))),
        )
        return Provisioned(name, {"Arn": bus.arn, "Name": name, "Policy": json.dumps(props.get("Policy", ""))})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        bus = ctx.backend("events").event_buses[current.physical_id]
        bus.description = new.get("Description")
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("events").delete_event_bus(current.physical_id)


class EventRuleHandler(ResourceHandler):
    resource_type = "AWS::Events::Rule"
    replace_on = frozenset({"Name", "EventBusName"})
    name_property = "Name"

    def _put(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Any:
        backend = ctx.backend("events")
        bus = _bus_name(props.get("EventBusName"))
        pattern = props.get("EventPattern")
        rule = backend.put_rule(
            name=name,
            description=props.get("Description"),
            event_bus_arn=bus,
            event_pattern=json.dumps(pattern) if isinstance(pattern, dict) else pattern,
            role_arn=props.get("RoleArn"),
            scheduled_expression=props.get("ScheduleExpression"),
            state=props.get("State", "ENABLED"),
            tags=tags_to_list(tags_to_dict(props.get("Tags"))) or None,
        )
        wanted = props.get("Targets") or []
        stale = [t["Id"] for t in rule.targets if t["Id"] not in {w["Id"] for w in wanted}]
        if stale:
            backend.remove_targets(name, bus, stale)
        if wanted:
            backend.put_targets(name, bus, copy.deepcopy(wanted))
        physical = name if bus == "default" else f"{bus}|{name}"
        return Provisioned(physical, {"Arn": rule.arn}, handle=(name, bus))

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props)
        return self._put(ctx, name, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self._put(ctx, current.handle[0], new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = ctx.backend("events")
        name, bus = current.handle
        rule = backend.describe_rule(name, bus)
        if rule.targets:
            backend.remove_targets(name, bus, [t["Id"] for t in rule.targets])
        backend.delete_rule(name, bus)


class EventBusPolicyHandler(ResourceHandler):
    """One statement of a bus's resource policy (``Statement``, or the legacy Principal/Action/Condition)."""

    resource_type = "AWS::Events::EventBusPolicy"
    replace_on = frozenset({"EventBusName", "StatementId"})

    def _put(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        bus = _bus_name(props.get("EventBusName"))
        sid = required_property(props, "StatementId", ctx)
        backend = ctx.backend("events")
        statement = props.get("Statement")
        if statement is not None:
            found = backend.describe_event_bus(bus)
            found.remove_statement(sid)
            policy = {"Version": "2012-10-17", "Statement": [{"Resource": found.arn, **statement, "Sid": sid}]}
            backend.put_permission(bus, None, None, sid, None, json.dumps(policy))
        else:
            backend.put_permission(
                bus, props.get("Action"), required_property(props, "Principal", ctx), sid, props.get("Condition"), ""
            )
        return Provisioned(sid, {}, handle=(bus, sid))

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        return self._put(ctx, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self._put(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        bus, sid = current.handle
        ctx.backend("events").describe_event_bus(bus).remove_statement(sid)
