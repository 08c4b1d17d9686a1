"""GetMetricData and GetMetricStatistics as AWS answers them (moto 5.2.5 falls short).

moto computes no percentile (GetMetricData ``Stat: p99`` gives no value; GetMetricStatistics ignores
``ExtendedStatistics``), and matches dimensions loosely: GetMetricStatistics counts every metric that
carries the dimensions asked for (so {FunctionName} also counted the {FunctionName, Resource} and
{FunctionName, Resource, ExecutedVersion} data of the same invocations), and GetMetricData ignores the
namespace when dimensions are given. Here both match the exact dimension set, compute every statistic
through statistics.py (the one the alarms use), and cut the time range into periods from StartTime.
GetMetricData's metric-math and Metrics Insights queries stay moto's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression

from stepdeploy_localcloud.cloudwatch import statistics


def periods(start: datetime, end: datetime, length: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, start + length), ... covering [start, end)."""
    found = []
    moment = start
    while moment < end:
        found.append((moment, moment + length))
        moment += length
    return found


def _bucketed(data: list[Any], bounds: list[tuple[datetime, datetime]]) -> list[list[Any]]:
    buckets: list[list[Any]] = [[] for _ in bounds]
    for datum in data:
        stamp = statistics.naive_utc(datum.timestamp)
        for index, (low, high) in enumerate(bounds):
            if low <= stamp < high:
                buckets[index].append(datum)
                break
    return buckets


def _positive_period(value: Any, where: str) -> timedelta:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds <= 0:
        raise InvalidParameterValue(f"The parameter {where} must be a positive whole number of seconds, got {value!r}.")
    return timedelta(seconds=seconds)


def metric_stat_result(backend: Any, query: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    """One MetricStat query of GetMetricData: a value per period that has data."""
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    try:
        stat = statistics.check_statistic(str(metric_stat["Stat"]))
    except statistics.UnsupportedStatistic as exc:
        raise ValidationError(f"MetricDataQueries {query.get('Id')}: {exc}") from None
    bounds = periods(start, end, _positive_period(metric_stat.get("Period"), f"Period of query {query.get('Id')}"))
    data = list(
        statistics.matching(
            backend.get_all_metrics(),
            metric["Namespace"],
            metric["MetricName"],
            statistics.dimension_set(metric.get("Dimensions") or []),
            metric_stat.get("Unit"),
        )
    )
    values, timestamps = [], []
    for (low, _high), bucket in zip(bounds, _bucketed(data, bounds), strict=True):
        value = statistics.statistic(stat, bucket)
        if value is not None:
            values.append(value)
            timestamps.append(low)
    return {
        "id": query["Id"],
        "label": query.get("Label") or f"{metric['MetricName']} {stat}",
        "values": values,
        "timestamps": timestamps,
        "status_code": "Complete",
    }


def _ordered(result: dict[str, Any], scan_by: str) -> dict[str, Any]:
    if scan_by == "TimestampDescending":
        return {**result, "values": result["values"][::-1], "timestamps": result["timestamps"][::-1]}
    return result


def _making_get_metric_data(original: Callable[..., list[dict[str, Any]]]) -> Callable[..., list[dict[str, Any]]]:
    def get_metric_data(
        backend: Any,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        start = statistics.naive_utc(start_time).replace(microsecond=0)
        end = statistics.naive_utc(end_time).replace(microsecond=0)
        if start >= end:
            raise ValidationError("The parameter EndTime must be greater than StartTime.")
        computed = [metric_stat_result(backend, q, start, end) for q in queries if "MetricStat" in q]
        by_id = {result["id"]: result for result in computed}
        insights = [q for q in queries if str(q.get("Expression", "")).startswith("SELECT")]
        insight_results = (
            {r["id"]: r for r in original(backend, insights, start_time, end_time, scan_by)} if insights else {}
        )
        answered = []
        for query in queries:
            if query.get("ReturnData", True) is False:
                continue
            if query["Id"] in by_id:
                answered.append(_ordered(by_id[query["Id"]], scan_by))
            elif query["Id"] in insight_results:
                answered.append(insight_results[query["Id"]])
            elif "Expression" in query:
                values, timestamps = parse_expression(query["Expression"], computed)
                answered.append(_ordered({
                    "id": query["Id"], "label": query.get("Label") or query["Id"], "values": values,
                    "timestamps": timestamps, "status_code": "Complete",
                }, scan_by))
        return answered

    return get_metric_data


def metric_statistics(
    backend: Any,
    namespace: str,
    metric_name: str,
    start: datetime,
    end: datetime,
    period: timedelta,
    dimensions: list[dict[str, str]],
    names: list[str],
    extended: list[str],
    unit: str | None,
) -> list[dict[str, Any]]:
    """GetMetricStatistics' datapoints, oldest first: one per period with data."""
    bounds = periods(start, end, period)
    data = list(
        statistics.matching(
            backend.get_all_metrics(), namespace, metric_name, statistics.dimension_set(dimensions), unit
        )
    )
    datapoints = []
    for (low, _high), bucket in zip(bounds, _bucketed(data, bounds), strict=True):
        if not bucket:
            continue
        point: dict[str, Any] = {"Timestamp": low}
        for name in names:
            point[name] = statistics.statistic(name, bucket)
        if extended:
            point["ExtendedStatistics"] = {
                name: value for name in extended if (value := statistics.statistic(name, bucket)) is not None
            }
        point["Unit"] = unit or next((d.unit for d in bucket if d.unit), None) or "None"
        datapoints.append(point)
    return datapoints


def get_metric_statistics_response(response: Any) -> Any:
    """CloudWatchResponse.get_metric_statistics with ExtendedStatistics and exact dimensions."""
    from moto.core.responses import ActionResult

    names = list(response._get_param("Statistics", []) or [])
    extended = list(response._get_param("ExtendedStatistics", []) or [])
    if not names and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    for name in names:
        if name not in statistics.SIMPLE_STATISTICS:
            raise InvalidParameterValue(
                f"Statistics: {name!r} is not a statistic; expected {', '.join(statistics.SIMPLE_STATISTICS)}"
            )
    for name in extended:
        if not statistics.PERCENTILE.match(name):
            raise InvalidParameterValue(
                f"ExtendedStatistics: {name!r} is not computed by the local cloud; expected a percentile "
                "p0 to p100 (for example p99 or p99.9)"
            )
    start = statistics.naive_utc(response._get_param("StartTime")).replace(microsecond=0)
    end = statistics.naive_utc(response._get_param("EndTime")).replace(microsecond=0)
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    metric_name = response._get_param("MetricName")
    datapoints = metric_statistics(
        response.cloudwatch_backend,
        response._get_param("Namespace"),
        metric_name,
        start,
        end,
        _positive_period(response._get_param("Period"), "Period"),
        response._get_param("Dimensions", []) or [],
        names,
        extended,
        response._get_param("Unit"),
    )
    return ActionResult({"Label": metric_name, "Datapoints": datapoints})


def apply() -> None:
    """Install both (idempotent, through patching)."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    from stepdeploy_localcloud.patching import replace, wrap

    wrap(CloudWatchBackend, "get_metric_data", _making_get_metric_data)
    replace(CloudWatchResponse, "get_metric_statistics", get_metric_statistics_response)


__all__ = ["apply", "metric_stat_result", "metric_statistics", "periods"]
