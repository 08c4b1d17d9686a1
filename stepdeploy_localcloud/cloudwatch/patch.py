"""CloudWatch alarms announce their state changes on the default event bus, as AWS does; GetMetricData
answers percentile statistics (p99, p95.5, ...).

moto 5.2.5 sends no event when an alarm changes state. This adapter wraps ``Alarm.update_state``
(reached by SetAlarmState and by the local evaluator in alarms.py): when the state value changes it
puts a "CloudWatch Alarm State Change" event (source aws.cloudwatch, the alarm's ARN as resource,
detail alarmName, state, previousState and configuration) on the default bus of the alarm's account
and region. A state set again to the same value sends nothing, as on AWS.

moto 5.2.5's GetMetricData computes Sum, Average, Minimum, Maximum and SampleCount only: a percentile
(``Stat: p99``) over data breaks its response. ``_with_percentiles`` answers ``pNN`` from the raw
values of the period (nearest rank, as the alarms' evaluator does); over aggregated statistic sets
only, which carry no distribution, it answers nothing, as CloudWatch does for them.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stepdeploy_localcloud import backends
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
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Detail": json.dumps(detail),
        "Resources": [alarm.alarm_arn],
        "EventBusName": "default",
    }


def _account_of(alarm: Any) -> str:
    return str(alarm.alarm_arn.split(":")[4])


def _announcing(original: Callable[..., None]) -> Callable[..., None]:
    def update_state(alarm: Any, reason: str, reason_data: str, state_value: str) -> None:
        previous = _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp)
        original(alarm, reason, reason_data, state_value)
        if previous["value"] == state_value:
            return
        try:
            backends.backend("events", _account_of(alarm), alarm.region_name).put_events(
                [alarm_state_change_event(alarm, previous)]
            )
        except Exception:  # noqa: BLE001 - an alarm never fails to change state because of its event
            log.warning("could not emit the state change event of alarm %s", alarm.name, exc_info=True)

    return update_state


PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


def percentile(statistic: str, values: list[float]) -> float | None:
    """``pNN`` of ``values`` (nearest rank); None without values."""
    match = PERCENTILE.match(statistic)
    if match is None:
        raise ValueError(f"{statistic!r} is not a percentile statistic (expected p0 to p100, e.g. p99)")
    if not values:
        return None
    ordered = sorted(values)
    rank = float(match.group(1)) / 100
    return ordered[max(0, math.ceil(rank * len(ordered)) - 1)]


def _with_percentiles(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_statistics_for_type(statistics: Any, stat: str) -> Any:
        if not PERCENTILE.match(stat):
            return original(statistics, stat)
        return percentile(stat, [float(v) for v in statistics.metric_single_values_list])

    return get_statistics_for_type


def _answered_only(original: Callable[..., Any]) -> Callable[..., Any]:
    """GetMetricData leaves out a period whose statistic has no value (a percentile over statistic sets)."""

    def get_metric_data(backend: Any, *args: Any, **kwargs: Any) -> Any:
        results = original(backend, *args, **kwargs)
        for result in results:
            pairs = [(v, t) for v, t in zip(result.get("values", []), result.get("timestamps", []), strict=False)
                     if v is not None]
            result["values"] = [v for v, _ in pairs]
            result["timestamps"] = [t for _, t in pairs]
        return results

    return get_metric_data


def apply() -> None:
    """Install the adapter (idempotent)."""
    from moto.cloudwatch import models

    wrap(models.Alarm, "update_state", _announcing)
    wrap(models.Statistics, "get_statistics_for_type", _with_percentiles)
    wrap(models.CloudWatchBackend, "get_metric_data", _answered_only)


__all__ = ["alarm_state_change_event", "apply", "percentile"]
