"""Bake: after 100% of traffic moved, watch the alarms for bake_minutes; an alarm moves the aliases back.

The first call (after Wait while baking slept for the bake time, or an alarm woke it) fixes the bake
window, from when the traffic shift was seen finished, and the alarm names; each call reads the alarms once
and takes the time since the previous call off what is left (times the clock speed, which is 1 on AWS
and the local cloud's speed there). While time is left, ``wait_seconds`` tells Wait while baking how
long to sleep on its task token, which an alarm's state change into ALARM cuts short; the template
gives CheckAlarmsFunction a polling budget of 0, so each call reads the alarms once. bake_minutes 0
is one check, then done.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from stepdeploy.aws.alarms import Alarms, resolve_alarm_names
from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.errors import AlarmDuringBake
from stepdeploy.models import BakeInfo, Document, ExecutionContext, iso, utc_now
from stepdeploy.observability import logger
from stepdeploy.settings import settings
from stepdeploy.template.preferences import gating_alarms


def start_bake(document: Document, cfn: CloudFormation, now: datetime) -> BakeInfo:
    """The bake began when the traffic shift was seen finished (Wait while baking slept since then)."""
    request = document.require_request()
    assert request.target is not None
    deployment = request.target.deployment
    shift = document.shift
    if shift is not None and shift.alarms:
        alarms = list(shift.alarms)
    else:
        entries = gating_alarms(deployment, document.artifact.deployment_preferences if document.artifact else {})
        alarms = resolve_alarm_names(cfn, request.stack, entries) if entries else []
    began = now
    if shift is not None and shift.finished_at:
        began = min(now, datetime.fromisoformat(shift.finished_at.replace("Z", "+00:00")))
    return BakeInfo(
        until=iso(began + timedelta(minutes=deployment.bake_minutes)),
        remaining_seconds=deployment.bake_minutes * 60.0,
        checked_at=iso(began),
        alarms=alarms,
    )


def roll_back_aliases(document: Document, lam: LambdaVersions) -> list[str]:
    """Point every shifted alias back at its previous version; what was moved, for the message."""
    moved = []
    for release in document.versions.functions if document.versions else []:
        if not release.needs_shift or release.previous_version is None:
            continue
        lam.point_alias(release.function_name, release.alias, release.previous_version)
        moved.append(f"{release.function_name}:{release.alias} {release.version} -> {release.previous_version}")
    return moved


def check_alarms(
    document: Document,
    execution: ExecutionContext,
) -> BakeInfo:
    now = utc_now()
    bake = document.bake
    if bake is None:
        bake = start_bake(document, CloudFormation(client("cloudformation")), now)
    if bake.alarms:
        states = Alarms(client("cloudwatch")).states(bake.alarms)
        missing = [name for name in bake.alarms if name not in states]
        if missing:
            logger.warning("alarms to watch do not exist", extra={"alarms": missing})
        firing = {name: s["reason"] for name, s in states.items() if s["state"] == "ALARM"}
        if firing:
            moved = roll_back_aliases(document, LambdaVersions(client("lambda")))
            reasons = "; ".join(f"{name}: {reason}" if reason else name for name, reason in sorted(firing.items()))
            raise AlarmDuringBake(
                f"alarm{'s' if len(firing) > 1 else ''} in ALARM while baking ({reasons}). "
                f"Aliases moved back: {', '.join(moved) or 'none (nothing was shifted)'}"
            )
    elapsed = (now - datetime.fromisoformat(bake.checked_at.replace("Z", "+00:00"))).total_seconds()
    remaining = bake.remaining_seconds - max(0.0, elapsed) * settings().poll.speed
    done = remaining <= 0
    return bake.model_copy(update={"remaining_seconds": remaining, "checked_at": iso(now), "done": done,
                                   "wait_seconds": 0 if done else max(1, math.ceil(remaining))})
