"""The demo's "alarm during canary", driven by the scenario rather than by a race with the clock.

At speed 60 a five-minute canary lasts five real seconds. Whether the users' calls reach the new
version, fail, and put the alarm in ALARM within them depended on how busy the machine was: on a
busy one the canary ended first and the alarm was seen during the bake instead (AlarmDuringBake,
not DeploymentRolledBack). Here the local CodeDeploy reports its first traffic step of the watched
function (``set_traffic_step_listener``) and waits while this driver calls the live alias, as users
would, until the alarm is in ALARM; the canary's wait, with its alarm checks, starts after that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stepdeploy_localcloud.cloud import LocalCloud
from stepdeploy_localcloud.codedeploy import engine as codedeploy

RAISE_TIMEOUT_SECONDS = 120.0  # a bound on the driver's calls; the deployment goes on after it


class AlarmOnFirstCanaryStep:
    """Calls ``alias`` of the stack's ``function`` until ``alarm`` is in ALARM, at the first traffic step."""

    def __init__(self, cloud: LocalCloud, stack: str, function: str, alarm: str, *, alias: str = "live",
                 payload: bytes = b"{}", timeout: float = RAISE_TIMEOUT_SECONDS) -> None:
        self.cloud, self.stack, self.function, self.alarm = cloud, stack, function, alarm
        self.alias, self.payload, self.timeout = alias, payload, timeout
        self.raised_at_weight: float | None = None
        self.calls = 0
        self.failed_calls = 0

    def physical_ids(self) -> tuple[str, str]:
        resources = self.cloud.client("cloudformation").describe_stack_resources(StackName=self.stack)["StackResources"]
        ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        return ids[self.function], ids[self.alarm]

    def __call__(self, step: codedeploy.TrafficStep) -> None:
        function_name, alarm_name = self.physical_ids()
        if step.function_name != function_name or self.raised_at_weight is not None:
            return
        lambdas, cloudwatch = self.cloud.client("lambda"), self.cloud.client("cloudwatch")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            alarms: list[dict[str, Any]] = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
            if alarms and alarms[0]["StateValue"] == "ALARM":
                self.raised_at_weight = step.weight
                return
            answer = lambdas.invoke(FunctionName=function_name, Qualifier=self.alias, Payload=self.payload)
            self.calls += 1
            self.failed_calls += 1 if answer.get("FunctionError") else 0

    @contextmanager
    def installed(self) -> Iterator[AlarmOnFirstCanaryStep]:
        codedeploy.set_traffic_step_listener(self)
        try:
            yield self
        finally:
            codedeploy.set_traffic_step_listener(None)
