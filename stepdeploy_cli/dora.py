"""DORA's four keys, per repository and stack, from the release ledger.

- Deployment frequency: releases that ended ``Deployed`` in the window, and that count per day.
- Lead time for changes: from the commit (GHE's head_commit timestamp, ``committed_at``) to the end
  of its ``Deployed`` release; median and 90th percentile. Uploads carry no commit time: not counted.
- Change failure rate: changes that failed in the environment, over changes that reached it. A change
  reached the environment when it ended ``Deployed`` or failed after the stack started changing
  (``CHANGE_FAILURES``: stack update, versions, traffic shift, bake); a ``Deployed`` release that an
  operator rolled back (a later ``RolledBack`` record) is a failure too. Build, configuration and
  approval failures, no-ops and superseded runs changed nothing: they are in neither count.
- Time to restore: from a change failure's end (for a rolled-back ``Deployed`` release: its end, when
  the bad change went live) to the end of the stack's next ``Deployed`` or ``RolledBack`` release;
  median. Failures not followed by one yet are counted as unrestored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepdeploy.aws.ledger import Ledger

CHANGE_FAILURES = frozenset(
    {"StackUpdateFailed", "VersionPublishFailed", "DeploymentFailed", "DeploymentRolledBack", "AlarmDuringBake"}
)
RESTORING = frozenset({"Deployed", "RolledBack"})
SECONDS_PER_DAY = 86400.0


def parse_moment(value: Any) -> datetime | None:
    """A UTC datetime from the ledger's ISO strings (``Z`` or an offset); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def ended(record: Mapping[str, Any]) -> datetime | None:
    return parse_moment(record.get("ended_at")) or parse_moment(record.get("started_at"))


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0 < fraction <= 1) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


@dataclass
class Figures:
    repository: str
    stack: str
    deployments: int = 0
    deployments_per_day: float = 0.0
    lead_time_median_seconds: float | None = None
    lead_time_p90_seconds: float | None = None
    lead_time_samples: int = 0
    changes: int = 0
    """Changes that reached the environment: Deployed releases and change failures."""
    change_failures: int = 0
    change_failure_rate: float | None = None
    restore_median_seconds: float | None = None
    restored: int = 0
    unrestored: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    """Every outcome in the window, counted (no-ops, build failures, superseded runs included)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rolled_back_by_operator(history: list[Mapping[str, Any]]) -> set[int]:
    """Indexes (oldest first) of Deployed releases that a later operator rollback took back."""
    taken_back: set[int] = set()
    for index, record in enumerate(history):
        if record.get("outcome") != "RolledBack":
            continue
        # The release live at the rollback: the newest Deployed one before it not already taken back.
        for earlier in range(index - 1, -1, -1):
            if history[earlier].get("outcome") == "Deployed" and earlier not in taken_back:
                taken_back.add(earlier)
                break
    return taken_back


def stack_figures(
    records: Iterable[Mapping[str, Any]], *, since: datetime, until: datetime, repository: str, stack: str
) -> Figures:
    """The four keys of one repository's releases to one stack, over [since, until]."""
    dated = sorted(((moment, r) for r in records if (moment := ended(r)) is not None), key=lambda pair: pair[0])
    history = [record for _, record in dated]
    operator_rollbacks = _rolled_back_by_operator(history)
    figures = Figures(repository=repository, stack=stack)
    outcomes: dict[str, int] = defaultdict(int)
    lead_times: list[float] = []
    restore_times: list[float] = []
    for index, (finish, record) in enumerate(dated):
        if not since <= finish <= until:
            continue
        outcome = str(record.get("outcome") or "Unknown")
        outcomes[outcome] += 1
        if outcome == "Deployed":
            figures.deployments += 1
            committed = parse_moment(record.get("committed_at"))
            if committed is not None and committed <= finish:
                lead_times.append((finish - committed).total_seconds())
        failed = outcome in CHANGE_FAILURES or index in operator_rollbacks
        if outcome == "Deployed" or failed:
            figures.changes += 1
        if failed:
            figures.change_failures += 1
            restore = next((moment for moment, later in dated[index + 1 :] if later.get("outcome") in RESTORING), None)
            if restore is None:
                figures.unrestored += 1
            else:
                figures.restored += 1
                restore_times.append((restore - finish).total_seconds())
    window_days = max((until - since).total_seconds(), 1.0) / SECONDS_PER_DAY
    figures.deployments_per_day = round(figures.deployments / window_days, 3)
    figures.lead_time_samples = len(lead_times)
    figures.lead_time_median_seconds = round(median(lead_times), 3) if lead_times else None
    p90 = percentile(lead_times, 0.9)
    figures.lead_time_p90_seconds = round(p90, 3) if p90 is not None else None
    figures.change_failure_rate = round(figures.change_failures / figures.changes, 4) if figures.changes else None
    figures.restore_median_seconds = round(median(restore_times), 3) if restore_times else None
    figures.outcomes = dict(sorted(outcomes.items()))
    return figures


def dora_figures(
    records: Iterable[Mapping[str, Any]], *, since: datetime, until: datetime
) -> list[Figures]:
    """Figures per (repository, stack), for every pair with a release in the window; sorted by both."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        key = (str(record.get("repository") or "-"), str(record.get("stack") or "-"))
        grouped[key].append(record)
    figures = [
        stack_figures(group, since=since, until=until, repository=repository, stack=stack)
        for (repository, stack), group in sorted(grouped.items())
    ]
    return [f for f in figures if f.outcomes]


def ledger_records(ledger: Ledger, *, since: datetime, stack: str | None = None) -> list[dict[str, Any]]:
    """Release records of every stack (or one) that started since ``since`` minus a day.

    The day before the window lets a failure near its start find the release that restored it, and
    long deployments that ended inside it count. Reads the ledger's ``stack#<stack>`` partitions,
    whose sort keys are ``release#<started_at>#<execution>``, all pages.
    """
    from stepdeploy.aws.ledger import plain
    from stepdeploy.models import iso

    stacks = [stack] if stack else sorted({str(r.get("stack")) for r in ledger.latest_releases() if r.get("stack")})
    start_key = f"release#{iso(since - timedelta(days=1))}"
    found: list[dict[str, Any]] = []
    for name in stacks:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":p": f"stack#{name}", ":from": start_key, ":to": "release#~"},
        }
        while True:
            page = ledger.table.query(**query)
            found.extend(plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found
