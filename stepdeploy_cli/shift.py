"""The schedule of a traffic shift and the bake countdown, from CodeDeploy and the execution's own state output.

A shift's steps come from its deployment configuration (TimeBasedCanary: one step of N%, then all;
TimeBasedLinear: N% more every interval; AllAtOnce: all at once), timed from the deployment's start.
Which step is current is read from the alias's live weights, not guessed from the clock.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from stepdeploy_cli.output import iso, parse_time

NAMED = re.compile(r"(Canary|Linear)(\d+)Percent(?:Every)?(\d+)Minutes?$")


@dataclass
class Step:
    percent: int
    """Share of traffic on the new version once this step is taken."""
    offset_minutes: int
    """When, counted from the deployment's start."""


@dataclass
class Schedule:
    config: str
    steps: list[Step]
    started_at: str | None
    current: int | None
    """Index of the step the live weights show (None before the first)."""
    clock_speed: float = 1.0
    """Service seconds per real second: 1 on AWS; the local cloud's clock runs faster (`--speed`)."""

    def next_step(self) -> Step | None:
        index = 0 if self.current is None else self.current + 1
        return self.steps[index] if index < len(self.steps) else None

    def next_at(self) -> datetime | None:
        step, started = self.next_step(), parse_time(self.started_at)
        if step is None or started is None:
            return None
        return started + timedelta(minutes=step.offset_minutes) / self.clock_speed

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        step = self.next_step()
        out["next"] = asdict(step) if step else None
        out["next_at"] = iso(self.next_at())
        return out


def steps_of(config_name: str, routing: dict[str, Any] | None) -> list[Step]:
    """The steps of a deployment configuration, from its trafficRoutingConfig (or, lacking it, its name)."""
    routing = routing or {}
    kind = str(routing.get("type") or "")
    percent = interval = 0
    if kind == "TimeBasedCanary":
        percent = int(routing["timeBasedCanary"]["canaryPercentage"])
        interval = int(routing["timeBasedCanary"]["canaryInterval"])
    elif kind == "TimeBasedLinear":
        percent = int(routing["timeBasedLinear"]["linearPercentage"])
        interval = int(routing["timeBasedLinear"]["linearInterval"])
    elif kind == "AllAtOnce" or config_name.endswith("AllAtOnce"):
        return [Step(100, 0)]
    else:
        match = NAMED.search(config_name)
        if not match:
            return [Step(100, 0)]
        kind = "TimeBasedCanary" if match.group(1) == "Canary" else "TimeBasedLinear"
        percent, interval = int(match.group(2)), int(match.group(3))
    if kind == "TimeBasedCanary":
        return [Step(percent, 0), Step(100, interval)]
    steps, share, offset = [], 0, 0
    while share < 100:
        share = min(share + percent, 100)
        steps.append(Step(share, offset))
        offset += interval
    return steps


def current_step(steps: list[Step], new_share: float) -> int | None:
    """The last step whose share the new version has reached (weights are fractions: 0.1 is 10%)."""
    reached = [i for i, step in enumerate(steps) if new_share * 100 + 0.5 >= step.percent]
    return reached[-1] if reached else None


def shift_schedule(codedeploy: Any, deployment_id: str, new_share: float, clock_speed: float = 1.0) -> Schedule:
    deployment = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    name = str(deployment.get("deploymentConfigName") or "")
    routing: dict[str, Any] | None = None
    try:
        config = codedeploy.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
        routing = config.get("trafficRoutingConfig")
    except Exception:  # noqa: BLE001 - the name alone says the predefined ones
        routing = None
    steps = steps_of(name, routing)
    return Schedule(name, steps, iso(deployment.get("createTime")), current_step(steps, new_share), clock_speed)


def new_version_share(split: dict[str, float], new_version: str | None) -> float:
    """The share of the new version in an alias's split ({version: share})."""
    if new_version is None:
        return 0.0
    return float(split.get(str(new_version), 0.0))


def bake_countdown(bake: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """What is left of the bake, from the Bake state's output (``until`` in AWS time)."""
    if not bake or bake.get("done"):
        return None
    until = parse_time(bake.get("until"))
    remaining = float(bake.get("remaining_seconds") or 0.0)
    return {"until": iso(until), "remaining_seconds": remaining, "checked_at": bake.get("checked_at"),
            "alarms": list(bake.get("alarms") or []),
            "left_now_seconds": max((until - now).total_seconds(), 0.0) if until else remaining}
