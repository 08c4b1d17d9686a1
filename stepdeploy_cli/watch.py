"""Following one execution: its states as they run, durations, retries, and the traffic split during a shift."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TrafficSource = Callable[[], dict[str, dict[str, float]]]

TASK_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)
EXECUTION_FAILURES = {"ExecutionFailed": None, "ExecutionTimedOut": "States.Timeout", "ExecutionAborted": "Aborted"}
SHIFT_STATES = frozenset({"Start traffic shift", "Wait for traffic shift", "Check traffic shift", "Traffic shifted?"})


def event_details(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})


@dataclass
class StateRun:
    """One visit of a state: when, how long, how many attempts, and how it ended."""

    name: str
    entered: datetime
    exited: datetime | None = None
    failed: str | None = None
    """The error the state ended with: caught (it exited to the failure path) or fatal (it did not exit)."""
    cause: str | None = None
    attempts: int = 0
    retried: list[str] = field(default_factory=list)
    """Errors of attempts that the state's Retry tried again."""
    waiting: bool = False
    """A callback task (.waitForTaskToken) whose token is out, e.g. waiting for approval."""
    redrive: int = 0
    """0 for the first run of the execution, n for the states run after the n-th redrive."""
    ended: datetime | None = None
    """When the execution stopped while this state was still open."""

    def seconds(self, now: datetime) -> float:
        return ((self.exited or self.ended or now) - self.entered).total_seconds()

    @property
    def status(self) -> str:
        if self.exited is not None:
            return "caught" if self.failed else "done"
        if self.failed:
            return "failed"
        if self.ended is not None:
            return "stopped"
        return "waiting" if self.waiting else "running"

    def result(self) -> str:
        """A few words for a person: how the state ended, with its error."""
        words = {
            "done": "done",
            "caught": f"failed: {self.failed} (to the failure path)",
            "failed": f"FAILED: {self.failed}",
            "stopped": "stopped",
            "waiting": "waiting for a callback",
            "running": "running",
        }[self.status]
        if self.retried:
            kinds = ", ".join(sorted(set(self.retried)))
            words += f"; retried {len(self.retried)}x ({kinds})"
        return words

    def as_dict(self, started: datetime | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "entered": self.entered.isoformat(),
            "exited": self.exited.isoformat() if self.exited else None,
            "seconds": round(self.seconds(self.ended or datetime.now(UTC)), 3),
            "attempts": self.attempts,
            "retried_errors": list(self.retried),
            "error": self.failed,
            "cause": self.cause,
            "redrive": self.redrive,
        }
        if started is not None:
            out["offset_seconds"] = round((self.entered - started).total_seconds(), 3)
        return out


def state_runs(events: list[dict[str, Any]]) -> list[StateRun]:
    """The states of an execution history, in order; a redriven execution lists both runs."""
    runs: list[StateRun] = []
    redrive = 0
    for event in events:
        kind = event["type"]
        details = event_details(event)
        current = runs[-1] if runs and runs[-1].exited is None and runs[-1].ended is None else None
        if kind.endswith("StateEntered"):
            runs.append(StateRun(details.get("name", "?"), event["timestamp"], redrive=redrive))
        elif kind.endswith("StateExited") and current:
            current.exited = event["timestamp"]
            current.waiting = False
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and current:
            if current.failed:  # the previous attempt failed and this one retries it
                current.retried.append(current.failed)
                current.failed = current.cause = None
            current.attempts += 1
        elif kind == "TaskSubmitted" and current:
            current.waiting = True
        elif kind in TASK_FAILURES and current:
            current.failed = details.get("error") or kind
            current.cause = details.get("cause")
            current.waiting = False
        elif kind in EXECUTION_FAILURES and current:
            current.failed = current.failed or details.get("error") or EXECUTION_FAILURES[kind]
            current.cause = current.cause or details.get("cause")
            current.ended = event["timestamp"]
        elif kind == "ExecutionSucceeded" and current:
            current.ended = event["timestamp"]
        elif kind == "ExecutionRedriven":
            redrive = int(details.get("redriveCount") or redrive + 1)
    return runs


def traffic_line(split: dict[str, dict[str, float]]) -> str:
    return "  ".join(
        f"{fn}: " + ", ".join(f"v{v} {w * 100:.0f}%" for v, w in weights.items()) for fn, weights in split.items()
    )


LOOP_WINDOW = 4
"""A state seen again within this many rows is a poll loop's next round (Wait -> Check -> Choice)."""


@dataclass
class TimelineRow:
    """One line of the timeline: a state's visit, or all rounds of it in a poll loop."""

    first: StateRun
    last: StateRun
    visits: int = 1
    seconds: float = 0.0
    attempts: int = 0
    retried: list[str] = field(default_factory=list)


def timeline_rows(runs: list[StateRun], now: datetime) -> list[TimelineRow]:
    rows: list[TimelineRow] = []
    for run in runs:
        earlier = next(
            (row for row in reversed(rows[-LOOP_WINDOW:])
             if row.first.name == run.name and row.first.redrive == run.redrive and row.last.status == "done"),
            None,
        )
        if earlier is None:
            rows.append(TimelineRow(run, run, 1, run.seconds(now), run.attempts, list(run.retried)))
            continue
        earlier.last = run
        earlier.visits += 1
        earlier.seconds += run.seconds(now)
        earlier.attempts += run.attempts
        earlier.retried.extend(run.retried)
    return rows


def timeline_table(runs: list[StateRun], *, title: str = "", now: datetime | None = None) -> Table:
    """The states in order; the rounds of a poll loop are one line each (visits in the last column)."""
    now = now or datetime.now(UTC)
    table = Table(title=title or None, expand=False)
    table.add_column("state")
    table.add_column("at", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("tries", justify="right")
    table.add_column("result")
    started = runs[0].entered if runs else now
    redrive = 0
    styles = {"done": "green", "caught": "yellow", "failed": "red", "stopped": "red"}
    for row in timeline_rows(runs, now):
        if row.first.redrive != redrive:
            redrive = row.first.redrive
            table.add_section()
            table.add_row(Text(f"redrive {redrive}", style="bold"), "", "", "", "")
        summary = StateRun(row.last.name, row.last.entered, row.last.exited, row.last.failed, row.last.cause,
                           row.attempts, row.retried, row.last.waiting, row.last.redrive, row.last.ended)
        words = summary.result() + (f" ({row.visits} rounds)" if row.visits > 1 else "")
        tries = str(row.attempts) if row.attempts > row.visits else ""
        offset = f"+{(row.first.entered - started).total_seconds():.1f}s"
        table.add_row(row.first.name, offset, f"{row.seconds:.2f}", tries,
                      Text(words, style=styles.get(summary.status, "")))
    return table


@dataclass
class ExecutionView:
    sfn: SFNClient
    execution_arn: str
    traffic: TrafficSource | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    hidden: frozenset[str] = frozenset()
    """States left out of the timeline (`watch` hides the Choice states unless --all)."""
    notes: Callable[[], list[str]] | None = None
    """Lines under the timeline: the shift's schedule, the bake's countdown."""

    def refresh(self) -> dict[str, Any]:
        # Describe first: a history read after it is at least as new as the status it reports.
        described = dict(self.sfn.describe_execution(executionArn=self.execution_arn))
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(dict(event) for event in page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        self.events = events
        return described

    def runs(self) -> list[StateRun]:
        return state_runs(self.events)

    def visible_runs(self) -> list[StateRun]:
        return [run for run in self.runs() if run.name not in self.hidden]

    def state_transitions(self) -> int:
        return sum(1 for e in self.events if e["type"].endswith("StateEntered"))

    def current_state(self) -> str | None:
        runs = self.runs()
        return runs[-1].name if runs and runs[-1].status in ("running", "waiting") else None

    def state_output(self, state_name: str) -> dict[str, Any] | None:
        """The output of the latest visit of ``state_name``, parsed, if it has exited."""
        for event in reversed(self.events):
            details = event.get("stateExitedEventDetails")
            if details and details.get("name") == state_name:
                try:
                    value = json.loads(details.get("output") or "{}")
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
        return None

    def released_functions(self) -> list[dict[str, Any]]:
        """The functions this execution publishes (FunctionRelease dicts), once "Publish versions" ran."""
        output = self.state_output("Publish versions") or {}
        functions = (output.get("versions") or {}).get("functions") or []
        return [f for f in functions if isinstance(f, dict) and f.get("function_name")]

    def target(self) -> dict[str, Any]:
        """The request's target (stack, account, region, ...) as the execution resolved it, once it published
        versions: where its aliases live."""
        request = (self.state_output("Publish versions") or {}).get("request") or {}
        target = request.get("target") if isinstance(request, dict) else None
        return target if isinstance(target, dict) else {}

    def output(self, described: dict[str, Any]) -> dict[str, Any]:
        try:
            value = json.loads(described.get("output") or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def outcome(self) -> str:
        last = self.runs()[-1].name if self.runs() else ""
        return {
            "Deployed": "Deployed",
            "No changes": "NoChanges",
            "Skipped": "Skipped",
            "Superseded": "Superseded",
            "Deployment failed": "Failed",
        }.get(last, last or "Unknown")

    def render(self, described: dict[str, Any]) -> Group:
        stopped = described.get("stopDate")
        now = stopped if isinstance(stopped, datetime) else datetime.now(UTC)
        title = f"{described.get('name', '')} [{described.get('status')}]"
        parts: list[Any] = [timeline_table(self.visible_runs(), title=title, now=now)]
        if self.traffic is not None:
            split = self.traffic()
            if split:
                parts.append(Text("traffic  " + traffic_line(split)))
        if self.notes is not None:
            parts.extend(Text(line) for line in self.notes())
        if described.get("status") not in (None, "RUNNING", "SUCCEEDED") and described.get("error"):
            parts.append(Text(f"error  {described['error']}: {described.get('cause') or ''}".rstrip(": "), style="red"))
        return Group(*parts)


def follow_execution(
    view: ExecutionView,
    on_refresh: Callable[[dict[str, Any]], None],
    *,
    timeout: float = 600.0,
    interval: float = 0.25,
) -> dict[str, Any]:
    """Refresh the view until the execution stops running (or ``timeout``); ``on_refresh`` sees each state."""
    deadline = time.monotonic() + timeout
    described = view.refresh()
    on_refresh(described)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(interval)
        described = view.refresh()
        on_refresh(described)
    return described


def wait_for_execution(
    view: ExecutionView, *, console: Console, live: bool, timeout: float = 600.0, interval: float = 0.25
) -> dict[str, Any]:
    if live:
        with Live(console=console, refresh_per_second=8, transient=False) as screen:
            described = follow_execution(
                view, lambda d: screen.update(view.render(d)), timeout=timeout, interval=interval
            )
    else:
        described = follow_execution(view, lambda _d: None, timeout=timeout, interval=interval)
        console.print(view.render(described))
    if described["status"] == "RUNNING":
        raise TimeoutError(f"{view.execution_arn} still running after {timeout:.0f}s")
    return described
