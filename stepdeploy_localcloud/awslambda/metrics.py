"""AWS/Lambda metrics of the invocations the local runtime really ran, as Lambda publishes them.

Each invocation puts, into moto's CloudWatch backend of the function's account and region, timestamped
when the invocation started (AWS: "the timestamp on a metric reflects when the function was invoked"):

- Invocations 1 (Count), Errors 1 or 0 (Count: a function error, unhandled or a timeout), Duration
  (Milliseconds); a throttled invocation puts only Throttles 1 (it is not an invocation);
- under each dimension set Lambda publishes: none (across all functions), {FunctionName},
  {FunctionName, Resource} with Resource "name:qualifier" when invoked through a version or an alias,
  and {FunctionName, Resource, ExecutedVersion} when invoked through an alias, ExecutedVersion being
  the version the alias's routing picked.

``set_clock`` lets a test say when invocations happen (moto's UTC time by default).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stepdeploy_localcloud import backends

NAMESPACE = "AWS/Lambda"
Dimensions = list[dict[str, str]]


@dataclass(frozen=True)
class Invocation:
    """How an invocation was addressed and which version ran."""

    function_name: str
    qualifier: str | None  # the version or alias named by the caller; None for unqualified
    alias: str | None  # the alias, when the qualifier is one
    executed_version: str
    account_id: str
    region: str


def _moto_now() -> datetime:
    from moto.core.utils import utcnow

    return utcnow()


_clock: Callable[[], datetime] = _moto_now


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Where invocation timestamps come from (None: moto's UTC time again)."""
    global _clock
    _clock = clock or _moto_now


def now() -> datetime:
    return _clock()


def dimension_sets(invocation: Invocation) -> list[Dimensions]:
    name = invocation.function_name
    by_function = [{"Name": "FunctionName", "Value": name}]
    sets: list[Dimensions] = [[], by_function]
    if invocation.qualifier and invocation.qualifier != "$LATEST":
        by_resource = [*by_function, {"Name": "Resource", "Value": f"{name}:{invocation.qualifier}"}]
        sets.append(by_resource)
        if invocation.alias:
            sets.append([*by_resource, {"Name": "ExecutedVersion", "Value": invocation.executed_version}])
    return sets


def values(duration_ms: float, error: bool, throttled: bool) -> list[tuple[str, float, str]]:
    if throttled:
        return [("Throttles", 1.0, "Count")]
    return [
        ("Invocations", 1.0, "Count"),
        ("Errors", 1.0 if error else 0.0, "Count"),
        ("Duration", round(duration_ms, 2), "Milliseconds"),
    ]


def record(
    invocation: Invocation, started: datetime, duration_ms: float, *, error: bool = False, throttled: bool = False
) -> None:
    """Best effort: metrics never fail an invocation."""
    data = [
        {"MetricName": metric, "Value": value, "Unit": unit, "Dimensions": dimensions, "Timestamp": started}
        for dimensions in dimension_sets(invocation)
        for metric, value, unit in values(duration_ms, error, throttled)
    ]
    with contextlib.suppress(Exception):
        backends.backend("cloudwatch", invocation.account_id, invocation.region).put_metric_data(NAMESPACE, data)


__all__ = ["NAMESPACE", "Invocation", "dimension_sets", "now", "record", "set_clock", "values"]
