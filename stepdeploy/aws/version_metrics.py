"""Lambda's own metrics of each version behind an alias, read from CloudWatch (GetMetricData).

Lambda publishes AWS/Lambda Invocations, Errors, Throttles and Duration of invocations through an
alias with the dimensions FunctionName, Resource (``<function>:<alias>``) and ExecutedVersion (the
version that ran: with weighted routing, the old or the new one). One GetMetricData call reads the
four metrics of every version asked for, over one window, as a single period that covers it
(CloudWatch's periods are whole minutes: the window is rounded up to one; on AWS, CloudWatch also
aligns the start of a period to the minute).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import TYPE_CHECKING

from stepdeploy.aws import clients
from stepdeploy.release.release_analysis import Sample

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDataQueryTypeDef

NAMESPACE = "AWS/Lambda"
STATS = (("invocations", "Invocations", "Sum"), ("errors", "Errors", "Sum"), ("throttles", "Throttles", "Sum"),
         ("p99_ms", "Duration", "p99"))
MAX_QUERIES = 500


def dimensions(function_name: str, alias: str, version: str) -> list[DimensionTypeDef]:
    return [
        {"Name": "FunctionName", "Value": function_name},
        {"Name": "Resource", "Value": f"{function_name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]


def period_for(start: datetime, end: datetime) -> int:
    """One period covering the window: its length rounded up to whole minutes."""
    if end <= start:
        raise ValueError(f"the metrics window must end after it starts; got {start.isoformat()} to {end.isoformat()}")
    return max(60, 60 * math.ceil((end - start).total_seconds() / 60))


def _query_id(index: int, field: str) -> str:
    return f"q{index}_{field}"


class VersionMetrics:
    def __init__(self, client: CloudWatchClient | None = None) -> None:
        self._cw = client or clients.client("cloudwatch")

    def samples(
        self, function_name: str, alias: str, versions: list[str], start: datetime, end: datetime
    ) -> dict[str, Sample]:
        """Version -> its sample over [start, end); a version nobody invoked has an empty sample."""
        for version in versions:
            if not re.fullmatch(r"[0-9]+", version):
                raise ValueError(f"{function_name}: {version!r} is not a published version number")
        if len(versions) * len(STATS) > MAX_QUERIES:
            raise ValueError(f"at most {MAX_QUERIES // len(STATS)} versions per call; got {len(versions)}")
        period = period_for(start, end)
        queries: list[MetricDataQueryTypeDef] = []
        for index, version in enumerate(versions):
            for field, metric, stat in STATS:
                queries.append({
                    "Id": _query_id(index, field),
                    "MetricStat": {
                        "Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                                   "Dimensions": dimensions(function_name, alias, version)},
                        "Period": period,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                })
        values: dict[str, list[float]] = {}
        for page in self._cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end
        ):
            for result in page.get("MetricDataResults", []):
                values.setdefault(str(result["Id"]), []).extend(float(v) for v in result.get("Values", []))
        found: dict[str, Sample] = {}
        for index, version in enumerate(versions):
            def total(field: str, i: int = index) -> float:
                return sum(values.get(_query_id(i, field), []))

            p99 = values.get(_query_id(index, "p99_ms"))
            found[version] = Sample(
                invocations=total("invocations"),
                errors=total("errors"),
                throttles=total("throttles"),
                p99_ms=max(p99) if p99 else None,  # one period: one value; several (a long window): the worst
            )
        return found
