"""CloudWatch adapters: alarm state change events, and metric queries as AWS answers them (queries.py).

moto 5.2.5 sends no event when an alarm changes state. This adapter wraps ``Alarm.update_state``
(reached by SetAlarmState and by the local evaluator in alarms.py): when the state value changes it
puts a "CloudWatch Alarm State Change" event (source aws.cloudwatch, the alarm's ARN as resource,
detail alarmName, state, previousState and configuration) on the default bus of the alarm's account
and region. A state set again to the same value sends nothing, as on AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stepdeploy_localcloud.cloudwatch import queries
from stepdeploy_localcloud.events.default_bus import put_service_event, service_event
from stepdeploy_localcloud.patching import wrap

log = logging.getLogger(__name__)


def _timestamp(moment: datetime) -> str:
    """Alarm state timestamps as the event writes them: 2019-10-02T17:04:40.985+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _state(value: str, reason: str, reason_data: str | None, moment: datetime) -> dict[str, Any]:
    state: dict[str, Any] = {"value": value, "reason": reason}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    state["timestamp"] = _timestamp(moment)
    return state


def _configuration(alarm: Any) -> dict[str, Any]:
    configuration: dict[str, Any] = {"description": alarm.description or ""}
    if getattr(alarm, "rule", None):
        configuration["alarmRule"] = alarm.rule
        return configuration
    if alarm.metric_name:
        configuration["metrics"] = [
            {
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": alarm.namespace,
                        "name": alarm.metric_name,
                        "dimensions": {d.name: d.value for d in alarm.dimensions},
                    },
                    "period": alarm.period,
                    "stat": alarm.statistic or alarm.extended_statistic,
                },
                "returnData": True,
            }
        ]
    return configuration


def alarm_state_change_event(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry for ``alarm``'s current state after ``previous`` (a detail ``state`` object)."""
    detail = {
        "alarmName": alarm.name,
        "state": _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp),
        "previousState": previous,
        "configuration": _configuration(alarm),
    }
    return service_event("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [alarm.alarm_arn])


def _account_of(alarm: Any) -> str:
    return str(alarm.alarm_arn.split(":")[4])


def _announcing(original: Callable[..., None]) -> Callable[..., None]:
    def update_state(alarm: Any, reason: str, reason_data: str, state_value: str) -> None:
        previous = _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp)
        original(alarm, reason, reason_data, state_value)
        if previous["value"] == state_value:
            return
        put_service_event(
            _account_of(alarm), alarm.region_name, alarm_state_change_event(alarm, previous),
            f"the state change event of alarm {alarm.name}",
        )

    return update_state


def apply() -> None:
    """Install the adapters (idempotent)."""
    from moto.cloudwatch import models

    wrap(models.Alarm, "update_state", _announcing)
    queries.apply()


__all__ = ["alarm_state_change_event", "apply"]
