"""CloudWatch alarms that gate a deployment: names resolved from the stack, states read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepdeploy.aws import clients
from stepdeploy.aws.cloudformation import CloudFormation

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")


def resolve_alarm_names(cfn: CloudFormation, stack_name: str, entries: list[str]) -> list[str]:
    """stepdeploy.yml's ``alarms``: a logical id of an alarm in the stack -> its physical name;
    anything else is taken as an alarm name."""
    names: list[str] = []
    for entry in entries:
        resource = cfn.resource(stack_name, entry)
        if resource and resource.get("ResourceType") in ALARM_TYPES and resource.get("PhysicalResourceId"):
            names.append(str(resource["PhysicalResourceId"]))
        else:
            names.append(entry)
    return list(dict.fromkeys(names))


class Alarms:
    def __init__(self, client: CloudWatchClient | None = None) -> None:
        self._cw = client or clients.client("cloudwatch")

    def states(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Name -> {state, reason, updated (when the state last changed)} for the alarms that exist."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 100):
            chunk = names[start : start + 100]
            pages = self._cw.get_paginator("describe_alarms").paginate(
                AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    updated = alarm.get("StateUpdatedTimestamp")
                    found[alarm["AlarmName"]] = {
                        "state": alarm.get("StateValue"),
                        "reason": alarm.get("StateReason", ""),
                        "updated": updated.isoformat() if updated is not None else "",
                    }
        return found

    def in_alarm(self, names: list[str]) -> dict[str, str]:
        """Name -> state reason of the alarms in ALARM."""
        return {name: s["reason"] for name, s in self.states(names).items() if s["state"] == "ALARM"}
