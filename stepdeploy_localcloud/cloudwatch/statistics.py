"""CloudWatch statistics over moto's stored metric data, as AWS computes them.

One place for what alarm evaluation (alarms.py), GetMetricData and GetMetricStatistics (queries.py)
compute from the datapoints of one period: which stored data belong to a metric (namespace, name and
the exact dimension set: CloudWatch treats each combination of dimensions as a metric of its own),
and the statistic of those data: Sum, Average, Minimum, Maximum, SampleCount or a percentile pNN(.N)
(nearest rank over the values published one by one; a percentile of values published as statistic
sets has no value, as on AWS without high-resolution percentile data).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

SIMPLE_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(?P<rank>\d{1,2}(?:\.\d{1,2})?|100)$")


class UnsupportedStatistic(ValueError):
    """A statistic name that is neither a simple statistic nor a percentile pNN."""


def check_statistic(statistic: str) -> str:
    """``statistic`` if the local cloud computes it, else UnsupportedStatistic naming what it takes."""
    if statistic in SIMPLE_STATISTICS or PERCENTILE.match(statistic):
        return statistic
    raise UnsupportedStatistic(
        f"statistic {statistic!r} is not computed by the local cloud; expected one of "
        f"{', '.join(SIMPLE_STATISTICS)} or a percentile p0 to p100 (for example p99 or p99.9)"
    )


def naive_utc(timestamp: Any) -> datetime:
    """moto stores naive UTC datetimes; requests and tests may give aware ones, strings or epochs."""
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if isinstance(timestamp, (int, float)):
        timestamp = datetime.fromtimestamp(timestamp, tz=UTC)
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(UTC).replace(tzinfo=None)
    return timestamp  # type: ignore[no-any-return]


def dimension_set(dimensions: Iterable[Any]) -> frozenset[tuple[str, str]]:
    """A dimension set from moto's Dimension objects or the API's {"Name", "Value"} dicts."""
    return frozenset(
        (str(d["Name"]), str(d["Value"])) if isinstance(d, dict) else (str(d.name), str(d.value)) for d in dimensions
    )


def matching(
    metric_data: Iterable[Any],
    namespace: str,
    metric_name: str,
    dimensions: frozenset[tuple[str, str]],
    unit: str | None = None,
) -> Iterator[Any]:
    """The stored data of one metric: same namespace, name and exactly these dimensions (and unit, if given)."""
    for datum in metric_data:
        if datum.namespace != namespace or datum.name != metric_name:
            continue
        if dimension_set(datum.dimensions) != dimensions:
            continue
        if unit and datum.unit and datum.unit != unit:
            continue
        yield datum


def sample_count(data: list[Any]) -> float:
    return sum(float(datum.sample_count) if not hasattr(datum, "value") else 1.0 for datum in data)


def statistic(name: str, data: list[Any]) -> float | None:
    """The statistic ``name`` of the data of one period; None when there is no value."""
    singles = [float(datum.value) for datum in data if hasattr(datum, "value")]
    aggregated = [datum for datum in data if not hasattr(datum, "value")]
    count = sample_count(data)
    if count == 0:
        return None
    total = sum(singles) + sum(float(datum.sum) for datum in aggregated)
    if name == "Sum":
        return total
    if name == "SampleCount":
        return count
    if name == "Average":
        return total / count
    if name == "Maximum":
        return max(singles + [float(datum.max) for datum in aggregated])
    if name == "Minimum":
        return min(singles + [float(datum.min) for datum in aggregated])
    match = PERCENTILE.match(name)
    if match and singles:
        return percentile(singles, float(match["rank"]))
    return None


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``rank`` % of the values at or below it."""
    ordered = sorted(values)
    position = math.ceil(max(0.0, min(100.0, rank)) / 100 * len(ordered))
    return ordered[max(0, position - 1)]


__all__ = [
    "PERCENTILE",
    "SIMPLE_STATISTICS",
    "UnsupportedStatistic",
    "check_statistic",
    "dimension_set",
    "matching",
    "naive_utc",
    "percentile",
    "sample_count",
    "statistic",
]
