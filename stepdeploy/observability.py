"""Observability of every function: the one powertools logger and tracer, and the deployment metrics.

Every module logs through ``logger`` and traces through ``trace_handler``, ``trace_method`` and
``annotate`` from here; no other module creates powertools objects. Log keys appended by a handler
(execution, repository, commit, stack) are therefore on every line any module writes during that invocation.

Tracing costs nothing at import: the powertools ``Tracer`` (and with it the X-Ray SDK, which imports
in about as long as everything else a function needs) is made at the first traced invocation, and
only where powertools would trace (on Lambda, unless ``POWERTOOLS_TRACE_DISABLED``; never outside
Lambda nor under SAM local). It patches botocore and http.client only (AWS and GHE calls become
subsegments), not every library ``patch_all`` would import for the purpose.

Deployment metrics are in CloudWatch's embedded metric format (EMF): one JSON line on stdout per event.

Lambda sends a function's stdout to CloudWatch Logs, which turns EMF lines into metrics: no
PutMetricData call and no extra permission. Namespace ``stepdeploy``. Deployment metrics carry two
dimension sets: (repository, stack, service) for the per-stack graphs and (service) alone for the
pipeline-wide totals the dashboard shows. Execution, commit, outcome and error go in as properties:
searchable with Logs Insights, never dimensions (their cardinality is unbounded).

Emitting a metric never fails a deployment: a problem is logged and the step goes on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

NAMESPACE = "stepdeploy"
SERVICE = "stepdeploy"

STARTED = "DeploymentStarted"
SUCCEEDED = "DeploymentSucceeded"
FAILED = "DeploymentFailed"
ROLLED_BACK = "DeploymentRolledBack"
NO_OP = "DeploymentNoOp"
SUPERSEDED = "DeploymentSuperseded"
DURATION = "DeploymentDuration"
LEAD_TIME = "LeadTime"
GHE_UNAVAILABLE = "GheUnavailable"
GHE_REJECTED = "GheRejected"
RELEASE_NOT_SERVED = "ReleaseNotServed"
"""Record release found that the release's versions do not serve the traffic (outcome NotServed)."""
OUTCOME_COUNTERS = (SUCCEEDED, FAILED, ROLLED_BACK, NO_OP, SUPERSEDED)
PHASE_METRICS = {"build": "BuildDuration", "stack": "StackUpdateDuration", "traffic_shift": "TrafficShiftDuration"}

ROLLED_BACK_OUTCOMES = frozenset({"DeploymentRolledBack", "AlarmDuringBake"})
"""Failures after which the aliases serve the previous versions again."""

TRACED_MODULES = ("botocore", "httplib")  # AWS calls and GHE's REST API (urllib over http.client)

logger = Logger(service=SERVICE)

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def tracer() -> Tracer | None:
    """The powertools Tracer, made at its first use; None where powertools would not trace."""
    from aws_lambda_powertools.tracing.tracer import Tracer

    # Powertools' own rule (env POWERTOOLS_TRACE_DISABLED, outside Lambda, SAM local), asked before
    # making a Tracer: making one imports the X-Ray SDK even to switch it off.
    if Tracer._is_tracer_disabled():  # noqa: SLF001
        return None
    traced = Tracer(service=SERVICE, auto_patch=False)
    traced.patch(TRACED_MODULES)
    return traced


def trace_handler(handler: F) -> F:
    """``Tracer.capture_lambda_handler`` (response not captured), with the Tracer made at the first call."""
    wrapped: Callable[..., Any] | None = None

    @functools.wraps(handler)
    def traced(event: Any, context: Any) -> Any:
        nonlocal wrapped
        if wrapped is None:
            active = tracer()
            wrapped = handler if active is None else active.capture_lambda_handler(handler, capture_response=False)
        return wrapped(event, context)

    return cast("F", traced)


def trace_method(method: F) -> F:
    """``Tracer.capture_method`` (response not captured), with the Tracer made at the first call."""
    wrapped: Callable[..., Any] | None = None

    @functools.wraps(method)
    def traced(*args: Any, **kwargs: Any) -> Any:
        nonlocal wrapped
        if wrapped is None:
            active = tracer()
            wrapped = method if active is None else active.capture_method(capture_response=False)(method)
        return wrapped(*args, **kwargs)

    return cast("F", traced)


def annotate(**annotations: str) -> None:
    """X-Ray annotations on the current trace (searchable), where tracing is on."""
    active = tracer()
    if active is not None:
        for key, value in annotations.items():
            active.put_annotation(key=key, value=value)


def outcome_counts(outcome: str) -> dict[str, int]:
    """Every outcome counter, 1 for the outcome's and 0 for the rest (zeros keep the rates computable)."""
    counts = dict.fromkeys(OUTCOME_COUNTERS, 0)
    if outcome == "Deployed":
        counts[SUCCEEDED] = 1
    elif outcome == "NoChanges":
        counts[NO_OP] = 1
    elif outcome == "Superseded":
        counts[SUPERSEDED] = 1
    else:
        counts[FAILED] = 1
        counts[ROLLED_BACK] = int(outcome in ROLLED_BACK_OUTCOMES)
    return counts


def emit(
    counts: Mapping[str, float],
    seconds: Mapping[str, float | None] | None = None,
    *,
    repository: str | None = None,
    stack: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Print one EMF blob with these counters and durations; returns it (None if it could not be built)."""
    try:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for name, count in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        for name, duration in (seconds or {}).items():
            if duration is not None:
                metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=max(float(duration), 0.0))
        per_stack = {k: v for k, v in (("repository", repository), ("stack", stack)) if v and v != "(none)"}
        for name, dimension in per_stack.items():
            metrics.add_dimension(name=name, value=dimension)
        if per_stack:
            metrics.add_dimensions(service=SERVICE)
        for key, value in (properties or {}).items():
            if value is not None:
                metrics.add_metadata(key=key, value=value)
        blob = dict(metrics.serialize_metric_set())
        metrics.flush_metrics()
    except Exception as exc:  # noqa: BLE001 - a metric must never fail a deployment
        logger.warning("metrics not emitted", extra={"reason": str(exc)[:300]})
        return None
    return blob


def deployment_started(*, repository: str | None, stack: str, execution: str, commit: str | None,
                       environment: str | None) -> dict[str, Any] | None:
    return emit(
        {STARTED: 1}, repository=repository, stack=stack,
        properties={"execution": execution, "commit": commit, "environment": environment},
    )


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
        finish = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    if begin.tzinfo is None or finish.tzinfo is None:
        return None
    return round((finish - begin).total_seconds(), 3)


def deployment_ended(release: Mapping[str, Any]) -> dict[str, Any] | None:
    """The outcome counters and durations of a ledger release record (record_release, the finaliser)."""
    try:
        return _deployment_ended(release)
    except Exception as exc:  # noqa: BLE001 - a metric must never fail a deployment
        logger.warning("metrics not emitted", extra={"reason": str(exc)[:300]})
        return None


def _deployment_ended(release: Mapping[str, Any]) -> dict[str, Any] | None:
    outcome = str(release.get("outcome") or "Failed")
    duration = release.get("duration_seconds")
    if duration is None:
        duration = _seconds_between(release.get("started_at"), release.get("ended_at"))
    seconds: dict[str, float | None] = {DURATION: duration}
    phases = release.get("phases")
    for phase, metric in PHASE_METRICS.items():
        seconds[metric] = phases.get(phase) if isinstance(phases, Mapping) else None
    if outcome == "Deployed":
        seconds[LEAD_TIME] = _seconds_between(release.get("committed_at"), release.get("ended_at"))
    counts = outcome_counts(outcome)
    if outcome == "NotServed":
        counts[RELEASE_NOT_SERVED] = 1
    return emit(
        counts, seconds,
        repository=release.get("repository"), stack=release.get("stack"),
        properties={
            "outcome": outcome,
            "error": release.get("error"),
            "execution": release.get("execution_arn"),
            "commit": release.get("commit"),
            "environment": release.get("environment"),
        },
    )


def ghe_failure(operation: str, error: BaseException, *, repository: str | None = None) -> dict[str, Any] | None:
    """A GHE call that did not go through: GheRejected when GHE answered 4xx, GheUnavailable otherwise.

    One pipeline-wide series (no repository dimension): an outage is GHE's, not a repository's.
    """
    from stepdeploy.ghe.api import GheError

    metric = GHE_REJECTED if isinstance(error, GheError) else GHE_UNAVAILABLE
    return emit(
        {metric: 1},
        properties={
            "operation": operation, "repository": repository, "reason": f"{type(error).__name__}: {error}"[:300]
        },
    )
