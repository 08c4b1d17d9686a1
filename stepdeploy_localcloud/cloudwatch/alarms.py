"""CloudWatch metric alarm evaluation for the local cloud (moto 5.2.5 never evaluates alarms).

Every virtual 10 seconds each threshold alarm is evaluated over moto's stored metric data and,
when its state changes, set through moto's ``set_alarm_state`` so DescribeAlarms shows the state
and reason and the alarm's history records the transition. Periods are virtual seconds: at clock
speed 60 a Period of 60 covers the last real second of datapoints.

Evaluated: Namespace/MetricName/Dimensions (exact dimension set, as CloudWatch identifies a
metric), Statistic Sum|Average|Maximum|Minimum|SampleCount or ExtendedStatistic pNN,
Unit, Period, EvaluationPeriods, DatapointsToAlarm, Threshold, the four threshold
ComparisonOperators and TreatMissingData. A metric-math alarm made of a single MetricStat is
evaluated like a plain one; other metric-math, anomaly-detection and composite alarms are left
as they are. Alarm actions are not executed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.cloudwatch import statistics

log = logging.getLogger(__name__)

EVALUATION_INTERVAL_VIRTUAL_SECONDS = 10.0

_OPERATORS = {
    "GreaterThanThreshold": ("greater than", lambda value, threshold: value > threshold),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda value, threshold: value >= threshold),
    "LessThanThreshold": ("less than", lambda value, threshold: value < threshold),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda value, threshold: value <= threshold),
}


@dataclass(frozen=True)
class MetricQuery:
    """What one alarm watches."""

    namespace: str
    metric_name: str
    dimensions: frozenset[tuple[str, str]]
    statistic: str  # Sum | Average | Maximum | Minimum | SampleCount | pNN
    period: int
    unit: str | None


@dataclass(frozen=True)
class Datapoint:
    """One evaluation period's statistic; ``value`` is None when the period had no data."""

    start: datetime
    end: datetime
    value: float | None
    sample_count: float


@dataclass(frozen=True)
class Evaluation:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    reason_data: str


@dataclass(frozen=True)
class StateChange:
    alarm_name: str
    old_state: str
    new_state: str
    reason: str


# --- Reading moto's alarms and metric data ------------------------------------------------------


def metric_query(alarm: Any) -> MetricQuery | None:
    """The metric an alarm watches, or None for alarms this evaluator leaves alone."""
    if getattr(alarm, "rule", None):
        return None  # composite alarm
    if alarm.comparison_operator not in _OPERATORS or alarm.threshold is None:
        return None  # anomaly detection bands, or nothing to compare with
    statistic = alarm.statistic or alarm.extended_statistic
    if alarm.metric_data_queries:
        stats = [query for query in alarm.metric_data_queries if query.metric_stat is not None]
        if len(alarm.metric_data_queries) != 1 or len(stats) != 1:
            return None  # real metric math: not evaluated
        stat = stats[0].metric_stat
        return MetricQuery(
            namespace=stat.metric.namespace,
            metric_name=stat.metric.metric_name,
            dimensions=frozenset((d.name, d.value) for d in stat.metric.dimensions),
            statistic=str(stat.stat),
            period=int(stat.period or stats[0].period or 60),
            unit=stat.unit,
        )
    if not alarm.metric_name or not statistic or not alarm.period:
        return None
    return MetricQuery(
        namespace=alarm.namespace,
        metric_name=alarm.metric_name,
        dimensions=frozenset((d.name, d.value) for d in alarm.dimensions),
        statistic=str(statistic),
        period=int(alarm.period),
        unit=alarm.unit,
    )


def datapoints(query: MetricQuery, metric_data: Iterable[Any], periods: int, now: datetime) -> list[Datapoint]:
    """The statistic of each of the last ``periods`` periods, most recent first."""
    length = timedelta(seconds=CLOCK.real_seconds(query.period))
    found = statistics.matching(metric_data, query.namespace, query.metric_name, query.dimensions, query.unit)
    data = [(statistics.naive_utc(datum.timestamp), datum) for datum in found]
    result = []
    for index in range(periods):
        end = now - index * length
        start = end - length
        in_period = [datum for stamp, datum in data if start < stamp <= end]
        value = statistics.statistic(query.statistic, in_period)
        result.append(Datapoint(start, end, value, statistics.sample_count(in_period)))
    return result


# --- Deciding the state -------------------------------------------------------------------------


def _number(value: float) -> str:
    return repr(float(value))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%d/%m/%y %H:%M:%S")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listed(points: list[Datapoint]) -> str:
    # as AWS, a datapoint is shown with the start of its period
    return "[" + ", ".join(f"{_number(point.value)} ({_stamp(point.start)})" for point in points) + "]"  # type: ignore[arg-type]


def evaluate(alarm: Any, query: MetricQuery, points: list[Datapoint], now: datetime) -> Evaluation | None:
    """The state AWS would give ``alarm`` for these datapoints; None keeps the current state."""
    phrase, breaches = _OPERATORS[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    periods = len(points)
    needed = int(alarm.datapoints_to_alarm or periods)
    treat = alarm.treat_missing_data or "missing"
    present = [point for point in points if point.value is not None]
    missing = periods - len(present)
    breaching = [point for point in present if breaches(point.value, threshold)]
    reason_data = _reason_data(query, points, threshold, now)

    if not present:
        if treat == "ignore":
            return None
        if treat == "missing":
            return Evaluation(
                "INSUFFICIENT_DATA",
                f"Insufficient Data: {_plural(periods, 'datapoint')} {'was' if periods == 1 else 'were'} unknown.",
                reason_data,
            )
        as_what = "Breaching" if treat == "breaching" else "NonBreaching"
        state = "ALARM" if treat == "breaching" and periods >= needed else "OK"
        return Evaluation(
            state,
            f"Threshold Crossed: no datapoints were received for {_plural(periods, 'period')} and "
            f"{_plural(periods, 'missing datapoint')} {'was' if periods == 1 else 'were'} treated as [{as_what}].",
            reason_data,
        )

    breach_count = len(breaching) + (missing if treat == "breaching" else 0)
    if breach_count >= needed:
        shown = breaching or present
        verb = "was" if len(shown) == 1 else "were"
        if periods == 1:
            reason = (
                f"Threshold Crossed: 1 datapoint {_listed(shown)} {verb} {phrase} the threshold ({_number(threshold)})."
            )
        else:
            old = alarm.state_value if alarm.state_value in ("OK", "INSUFFICIENT_DATA") else "OK"
            reason = (
                f"Threshold Crossed: {breach_count} out of the last {periods} datapoints {_listed(shown)} "
                f"{verb} {phrase} the threshold ({_number(threshold)}) "
                f"(minimum {_plural(needed, 'datapoint')} for {old} -> ALARM transition)."
            )
        return Evaluation("ALARM", reason, reason_data)

    calm = [point for point in present if point not in breaching]
    if periods == 1:
        reason = (
            f"Threshold Crossed: 1 datapoint {_listed(calm)} was not {phrase} the threshold ({_number(threshold)})."
        )
    elif calm:
        reason = (
            f"Threshold Crossed: {len(calm)} out of the last {periods} datapoints {_listed(calm)} "
            f"{'was' if len(calm) == 1 else 'were'} not {phrase} the threshold ({_number(threshold)}) "
            f"(minimum {_plural(periods - needed + 1, 'datapoint')} for ALARM -> OK transition)."
        )
    else:
        reason = (
            f"Threshold Crossed: {breach_count} out of the last {periods} datapoints {_listed(breaching)} "
            f"{'was' if breach_count == 1 else 'were'} {phrase} the threshold ({_number(threshold)}), "
            f"fewer than the {_plural(needed, 'datapoint')} needed for ALARM; "
            f"{_plural(missing, 'missing datapoint')} {'was' if missing == 1 else 'were'} not counted."
        )
    return Evaluation("OK", reason, reason_data)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _reason_data(query: MetricQuery, points: list[Datapoint], threshold: float, now: datetime) -> str:
    return json.dumps(
        {
            "version": "1.0",
            "queryDate": _iso(now),
            "startDate": _iso(points[-1].start) if points else _iso(now),
            "statistic": query.statistic,
            "period": query.period,
            "recentDatapoints": [point.value for point in points if point.value is not None],
            "threshold": threshold,
            "evaluatedDatapoints": [
                {"timestamp": _iso(point.start), "sampleCount": point.sample_count, "value": point.value}
                for point in points
                if point.value is not None
            ],
        }
    )


# --- Evaluating moto's alarms -------------------------------------------------------------------


def evaluate_once(now: datetime | None = None) -> list[StateChange]:
    """Evaluate every metric alarm of every account and region once; return the transitions."""
    from moto.core.utils import utcnow

    moment = statistics.naive_utc(now) if now is not None else utcnow()
    changes = []
    for backend in backends.existing("cloudwatch"):
        metric_data = list(backend.metric_data)
        for alarm in list(backend.alarms.values()):
            try:
                change = _evaluate_alarm(backend, alarm, metric_data, moment)
            except Exception:
                log.warning("could not evaluate alarm %s", alarm.name, exc_info=True)
                continue
            if change is not None:
                changes.append(change)
    return changes


def _evaluate_alarm(backend: Any, alarm: Any, metric_data: list[Any], now: datetime) -> StateChange | None:
    query = metric_query(alarm)
    if query is None:
        return None
    periods = int(alarm.evaluation_periods or 1)
    result = evaluate(alarm, query, datapoints(query, metric_data, periods, now), now)
    never_evaluated = str(alarm.state_reason).startswith("Unchecked")
    if result is None or (result.state == alarm.state_value and not never_evaluated):
        return None
    old_state = alarm.state_value
    backend.set_alarm_state(alarm.name, result.reason, result.reason_data, result.state)
    return StateChange(alarm.name, old_state, result.state, result.reason)


# --- The background evaluator -------------------------------------------------------------------


class AlarmEvaluator:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cloudwatch-alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                evaluate_once()
            except Exception:
                log.exception("alarm evaluation failed")
            CLOCK.wait(self._stop, EVALUATION_INTERVAL_VIRTUAL_SECONDS)


_evaluator = AlarmEvaluator()


def start() -> None:
    """Start evaluating alarms in the background (idempotent)."""
    _evaluator.start()


def stop() -> None:
    _evaluator.stop()


def is_running() -> bool:
    return _evaluator.running
