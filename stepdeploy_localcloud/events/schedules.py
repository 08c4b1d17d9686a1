"""Emulator: schedules fire when a test (or an operator) says so, never on the wall clock.

moto 5.2.5 stores EventBridge schedule rules (``ScheduleExpression``) and EventBridge Scheduler
schedules but never runs them. ``fire_rule`` delivers one "Scheduled Event" to every target of a
schedule rule, as EventBridge does at each tick (Lambda targets asynchronously); ``fire_schedule``
hands one schedule's target its ``Input``, as EventBridge Scheduler does. Each target is invoked
by the ARN it names, so a target on an alias runs whichever version the alias's weights pick.

``fire_schedule`` runs a Lambda target to completion and returns the result (on AWS the
scheduler invokes asynchronously and nobody sees the answer); SQS and Step Functions targets are
delivered as EventBridge delivers them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from stepdeploy_localcloud import backends, endpoint
from stepdeploy_localcloud.events import patch as events


def scheduled_event(rule_arn: str, *, account_id: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def fire_rule(
    name: str, *, bus: str = "default", account_id: str = endpoint.ACCOUNT_ID, region: str = endpoint.REGION
) -> int:
    """One tick of a schedule rule: every target gets the Scheduled Event; returns how many targets."""
    rule = backends.backend("events", account_id, region).describe_rule(name, bus)
    if not getattr(rule, "scheduled_expression", None):
        raise ValueError(f"rule {name} on bus {bus} has no ScheduleExpression; it fires on events, not on a schedule")
    event = scheduled_event(str(rule.arn), account_id=account_id, region=region)
    for target in list(rule.targets):
        events._deliver(rule, target, event, time.time(), True)
    return len(rule.targets)


def fire_schedule(
    name: str, *, group: str = "default", account_id: str = endpoint.ACCOUNT_ID, region: str = endpoint.REGION
) -> Any:
    """One tick of an EventBridge Scheduler schedule; a Lambda target's InvokeResult, else None."""
    schedule = backends.backend("scheduler", account_id, region).get_schedule(group, name)
    target = schedule.target or {}
    arn = str(target.get("Arn") or "")
    body = target.get("Input")
    body = body if isinstance(body, str) else json.dumps(body if body is not None else {})
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "lambda":
        from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

        return lambda_runtime.invoke(arn, body.encode(), account_id=account_id, region=region)
    if service == "sqs":
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        events.send_to_queue(arn, body, group_id=group_id)
        return None
    if service == "states":
        events.start_state_machine(arn, body)
        return None
    raise NotImplementedError(
        f"schedule {group}/{name}: the local cloud fires schedules at Lambda, SQS and Step Functions targets, "
        f"not {arn or 'a target without an Arn'}"
    )
