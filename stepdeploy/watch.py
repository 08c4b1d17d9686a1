"""Following one execution: its states as they run, durations, and the traffic split during a shift."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

TrafficSource = Callable[[], dict[str, dict[str, float]]]


@dataclass
class StateRun:
    name: str
    entered: datetime
    exited: datetime | None = None
    failed: str | None = None

    def seconds(self, now: datetime) -> float:
        return ((self.exited or now) - self.entered).total_seconds()


@dataclass
class ExecutionView:
    sfn: Any
    execution_arn: str
    traffic: TrafficSource | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def refresh(self) -> dict[str, Any]:
        # Describe first: a history read after it is at least as new as the status it reports.
        described = dict(self.sfn.describe_execution(executionArn=self.execution_arn))
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        self.events = events
        return described

    def runs(self) -> list[StateRun]:
        runs: list[StateRun] = []
        for event in self.events:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                runs.append(StateRun(event["stateEnteredEventDetails"]["name"], event["timestamp"]))
            elif kind.endswith("StateExited") and runs:
                runs[-1].exited = event["timestamp"]
            elif kind in ("TaskFailed", "LambdaFunctionFailed", "ExecutionFailed") and runs:
                details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
                runs[-1].failed = details.get("error")
        return runs

    def state_transitions(self) -> int:
        return sum(1 for e in self.events if e["type"].endswith("StateEntered"))

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
        now = datetime.now(tz=self.events[0]["timestamp"].tzinfo) if self.events else datetime.now()
        table = Table(title=f"{described.get('name', '')} [{described.get('status')}]", expand=False)
        table.add_column("state")
        table.add_column("seconds", justify="right")
        table.add_column("")
        for run in self.runs():
            mark = "[red]failed[/red]" if run.failed else ("[green]done[/green]" if run.exited else "running")
            table.add_row(run.name, f"{run.seconds(now):.2f}", mark)
        parts: list[Any] = [table]
        if self.traffic is not None:
            split = self.traffic()
            if split:
                line = "  ".join(
                    f"{fn}: " + ", ".join(f"v{v} {w * 100:.0f}%" for v, w in weights.items())
                    for fn, weights in split.items()
                )
                parts.append(Text("traffic  " + line))
        return Group(*parts)


def wait_for_execution(
    view: ExecutionView, *, console: Console, live: bool, timeout: float = 600.0, interval: float = 0.25
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    described = view.refresh()
    if live:
        with Live(view.render(described), console=console, refresh_per_second=8, transient=False) as screen:
            while described["status"] == "RUNNING" and time.monotonic() < deadline:
                time.sleep(interval)
                described = view.refresh()
                screen.update(view.render(described))
    else:
        while described["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(interval)
            described = view.refresh()
        console.print(view.render(described))
    if described["status"] == "RUNNING":
        raise TimeoutError(f"{view.execution_arn} still running after {timeout:.0f}s")
    return described
