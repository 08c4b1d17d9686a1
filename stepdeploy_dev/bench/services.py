"""When each service an execution waited on started and finished, read from the local cloud.

Read right after the execution ends (the local CloudFormation keeps one stack operation's timing
and deletes a stack's older change sets when a newer one is executed). Where the API carries the
service's own timestamp it is used: CodeBuild startTime/endTime, CodeDeploy createTime/completeTime,
stack events. The local CloudFormation computes change sets and stack operations synchronously and
then shows them in progress for a fixed virtual time, so that pollers poll; when they become visible
as finished is its own ``ready_at``/``busy_until`` (monotonic), read from its backend in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepdeploy_dev.bench.history import StateVisit
from stepdeploy_dev.bench.waits import WAIT_LOOPS, WaitLoop, bake_finished_at, bake_started_at, loop_exits

# The local cloud emulates these on its accelerated clock; a local build really runs the buildspec.
ACCELERATED = frozenset({"changeset", "stack", "shift", "bake"})


@dataclass(frozen=True)
class Phase:
    """A service's work for one execution: start, and when it was finished as a caller can see it."""

    key: str
    started_at: datetime | None
    finished_at: datetime | None
    source: str  # where finished_at comes from

    @property
    def accelerated(self) -> bool:
        return self.key in ACCELERATED

    def seconds(self, speed: float) -> float | None:
        """How long it took in AWS seconds: real seconds x speed on the accelerated clock, else real seconds."""
        if self.started_at is None or self.finished_at is None:
            return None
        real = max(0.0, (self.finished_at - self.started_at).total_seconds())
        return real * speed if self.accelerated else real


def _from_monotonic(value: float) -> datetime:
    return datetime.fromtimestamp(time.time() - (time.monotonic() - value), UTC)


def _aware(moment: datetime) -> datetime:
    """moto keeps some times naive, in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cfn_backend() -> Any:
    from moto.cloudformation.models import cloudformation_backends

    from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION

    return cloudformation_backends[ACCOUNT_ID][REGION]


class ChangeSetWatcher:
    """Remembers when every change set was created and shown computed, before the pipeline deletes it.

    The pipeline deletes a change set without changes at once, and executing a change set deletes
    the stack's others: a thread copies the local CloudFormation's timings every few milliseconds.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.seen: dict[str, tuple[datetime, datetime]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-change-sets", daemon=True)

    def start(self) -> ChangeSetWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                change_sets = list(_cfn_backend().change_sets.items())
            except Exception:  # noqa: BLE001 - the backend is being reset; look again
                continue
            for change_set_id, change_set in change_sets:
                created, ready_at = getattr(change_set, "creation_time", None), getattr(change_set, "ready_at", None)
                if change_set_id not in self.seen and isinstance(created, datetime) and isinstance(ready_at, float):
                    self.seen[change_set_id] = (_aware(created), _from_monotonic(ready_at))


def _first(visits: list[StateVisit], name: str) -> StateVisit | None:
    return next((v for v in visits if v.name == name), None)


class ServiceReader:
    def __init__(self, cloud: Any, speed: float, change_sets: ChangeSetWatcher) -> None:
        self.cloud = cloud
        self.speed = speed
        self.change_sets = change_sets

    def phases(self, visits: list[StateVisit]) -> dict[str, Phase]:
        """One Phase per wait loop the execution left (keyed by the loop's document key)."""
        phases = {}
        for loop in WAIT_LOOPS:
            exits = loop_exits(visits, loop)
            if exits:
                phases[loop.key] = self.phase(loop, exits[-1], visits)
        return phases

    def phase(self, loop: WaitLoop, exit_visit: StateVisit, visits: list[StateVisit]) -> Phase:
        section = exit_visit.section(loop.key)
        reader = getattr(self, f"_{loop.key}", None)
        if reader is None:
            raise KeyError(f"stepdeploy_dev/bench/services.py has no reader for the wait loop on ${loop.key}")
        phase: Phase = reader(section, visits)
        return phase

    # --- one reader per wait loop -------------------------------------------------------------
    def _build(self, section: dict[str, Any], visits: list[StateVisit]) -> Phase:
        build_id = section.get("build_id")
        if not build_id:
            return Phase("build", None, None, "no build id in the execution")
        builds = self.cloud.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
        if not builds:
            return Phase("build", None, None, f"CodeBuild has no build {build_id}")
        return Phase("build", builds[0].get("startTime"), builds[0].get("endTime"), "CodeBuild endTime")

    def _changeset(self, section: dict[str, Any], visits: list[StateVisit]) -> Phase:
        change_set_id = section.get("change_set_id")
        if not change_set_id:
            return Phase("changeset", None, None, "no change set id in the execution")
        seen = self.change_sets.seen.get(change_set_id)
        if seen is None:
            return Phase("changeset", None, None, "the change set was gone before its timing was read")
        return Phase("changeset", seen[0], seen[1], "local CloudFormation ready_at")

    def _stack(self, section: dict[str, Any], visits: list[StateVisit]) -> Phase:
        stack_name = section.get("stack_name")
        execute = _first(visits, "Execute change set")
        if not stack_name or execute is None:
            return Phase("stack", None, None, "no stack name or no Execute change set in the execution")
        events = self.cloud.client("cloudformation").describe_stack_events(StackName=stack_name)["StackEvents"]
        own = [e for e in events if e["LogicalResourceId"] == stack_name and e["Timestamp"] >= execute.entered_at]
        begun = [e["Timestamp"] for e in own if e["ResourceStatus"].endswith("_IN_PROGRESS")]
        terminal = [e["Timestamp"] for e in own if e["ResourceStatus"].endswith(("_COMPLETE", "_FAILED"))]
        started = min(begun) if begun else None
        if not terminal:
            return Phase("stack", started, None, "no stack event ends the operation")
        finished, source = max(terminal), "stack event"
        stack = next((s for s in _cfn_backend().stacks.values() if getattr(s, "name", None) == stack_name), None)
        busy_until = getattr(stack, "busy_until", None)
        if isinstance(busy_until, float) and busy_until > 0:
            shown_done = _from_monotonic(busy_until)
            if shown_done > finished:
                finished, source = shown_done, "local CloudFormation busy_until"
        return Phase("stack", started, finished, source)

    def _shift(self, section: dict[str, Any], visits: list[StateVisit]) -> Phase:
        ids = [d.get("deployment_id") for d in section.get("deployments") or [] if isinstance(d, dict)]
        if not ids or not all(ids):
            return Phase("shift", None, None, "no deployment ids in the execution")
        client = self.cloud.client("codedeploy")
        infos = [client.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
        created = [i["createTime"] for i in infos if i.get("createTime")]
        completed = [i.get("completeTime") for i in infos]
        if not created or not all(completed):
            return Phase("shift", min(created, default=None), None, "a CodeDeploy deployment has no completeTime")
        return Phase("shift", min(created), max(completed), "CodeDeploy completeTime")  # type: ignore[type-var]

    def _bake(self, section: dict[str, Any], visits: list[StateVisit]) -> Phase:
        bake_minutes = None
        for visit in visits:
            deployment = ((visit.section("request").get("target") or {}).get("deployment") or {})
            bake_minutes = deployment.get("bake_minutes", bake_minutes)
        started = bake_started_at(section, bake_minutes) if isinstance(bake_minutes, int | float) else None
        finished = bake_finished_at(section, self.speed)
        source = "bake task's checked_at + remaining_seconds" if finished else "the bake did not run its time"
        return Phase("bake", started, finished, source)
