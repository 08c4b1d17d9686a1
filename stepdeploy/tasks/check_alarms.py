"""Bake: after 100% of traffic moved, watch the alarms for bake_minutes; an alarm moves the aliases back.

The first call fixes the number of checks (bake time / the "Wait while baking" interval) and the
alarm names; each call reads the alarms once. The bake is counted in the state machine's own Waits,
not in wall-clock time, so it lasts the same on AWS and on the local cloud's accelerated clock.
bake_minutes 0 is one check, then done.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from stepdeploy.aws.alarms import Alarms, resolve_alarm_names
from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.errors import AlarmDuringBake
from stepdeploy.models import BakeInfo, Document, ExecutionContext, iso, utc_now

logger = Logger(service="stepdeploy", child=True)

BAKE_CHECK_SECONDS = 30
"""The Seconds of the "Wait while baking" state in statemachines/deploy.asl.json."""


def start_bake(document: Document, cfn: CloudFormation, now: datetime) -> BakeInfo:
    request = document.require_request()
    assert request.target is not None
    deployment = request.target.deployment
    alarms = resolve_alarm_names(cfn, request.stack, deployment.alarms) if deployment.alarms else []
    return BakeInfo(
        until=iso(now + timedelta(minutes=deployment.bake_minutes)),
        checks_left=math.ceil(deployment.bake_minutes * 60 / BAKE_CHECK_SECONDS) + 1,
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
    cloudwatch: Any = None,
    lambda_client: Any = None,
    cloudformation: Any = None,
) -> BakeInfo:
    now = utc_now()
    bake = document.bake
    if bake is None:
        bake = start_bake(document, CloudFormation(cloudformation or client("cloudformation")), now)
    if bake.alarms:
        states = Alarms(cloudwatch or client("cloudwatch")).states(bake.alarms)
        missing = [name for name in bake.alarms if name not in states]
        if missing:
            logger.warning("alarms to watch do not exist", extra={"alarms": missing})
        firing = {name: s["reason"] for name, s in states.items() if s["state"] == "ALARM"}
        if firing:
            moved = roll_back_aliases(document, LambdaVersions(lambda_client or client("lambda")))
            reasons = "; ".join(f"{name}: {reason}" if reason else name for name, reason in sorted(firing.items()))
            raise AlarmDuringBake(
                f"alarm{'s' if len(firing) > 1 else ''} in ALARM while baking ({reasons}). "
                f"Aliases moved back: {', '.join(moved) or 'none (nothing was shifted)'}"
            )
    checks_left = bake.checks_left - 1
    return bake.model_copy(update={"checks_left": checks_left, "done": checks_left <= 0})
