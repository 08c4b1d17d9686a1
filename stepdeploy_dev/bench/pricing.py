"""The price of one deployment at AWS list prices (us-east-1), and of the same deployment on CodePipeline V2.

Step Functions Standard: per state transition (retries count). Lambda: per request and per GB-second of
billed duration (rounded up to the millisecond). CodePipeline V2: per action-execution minute, each
action's duration rounded up to the next minute; manual approvals are free. CodeBuild, CloudFormation
and CodeDeploy cost the same in both designs and are left out of both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1000
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
CODEPIPELINE_V2_PER_ACTION_MINUTE = 0.002


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation as billed: its function, configured memory and duration in AWS seconds."""

    function: str
    memory_mb: int
    seconds: float


@dataclass(frozen=True)
class Action:
    """One CodePipeline action of the equivalent pipeline and how long it ran, in AWS seconds."""

    name: str
    seconds: float
    billed: bool = True  # manual approvals are not billed


def billed_milliseconds(seconds: float) -> int:
    return max(1, math.ceil(round(seconds * 1000, 6)))


def step_functions_cost(transitions: int) -> float:
    return transitions * STEP_FUNCTIONS_PER_TRANSITION


def lambda_gb_seconds(invocations: Iterable[Invocation]) -> float:
    return sum(i.memory_mb / 1024 * billed_milliseconds(i.seconds) / 1000 for i in invocations)


def lambda_cost(invocations: Sequence[Invocation], architecture: str = "arm64") -> float:
    if architecture not in LAMBDA_PER_GB_SECOND:
        raise ValueError(f"architecture must be one of {sorted(LAMBDA_PER_GB_SECOND)}, got {architecture!r}")
    return len(invocations) * LAMBDA_PER_REQUEST + lambda_gb_seconds(invocations) * LAMBDA_PER_GB_SECOND[architecture]


def action_minutes(action: Action) -> int:
    """CodePipeline V2 bills an action from its start to its completion, rounded up to the next minute."""
    if not action.billed:
        return 0
    return max(1, math.ceil(round(action.seconds / 60, 9)))


def codepipeline_v2_cost(actions: Sequence[Action]) -> float:
    return sum(action_minutes(a) for a in actions) * CODEPIPELINE_V2_PER_ACTION_MINUTE


def equivalent_pipeline(source_seconds: float, phase_seconds: dict[str, float | None]) -> list[Action]:
    """The CodePipeline V2 pipeline that does what one execution did, action by action.

    S3 source; CodeBuild build (unless the artifact was prebuilt); CloudFormation create change set
    and execute change set (CodePipeline runs the execute action for a change set without changes
    too); a CodeDeploy traffic shift; the bake as an action that watches the alarms for the bake
    time. ``phase_seconds`` has an entry (AWS seconds, None if unknown) for each phase the
    execution reached, keyed as the wait loops' document keys (build, changeset, stack, shift, bake).
    """
    actions = [Action("Source (S3)", source_seconds)]
    if "build" in phase_seconds:
        actions.append(Action("Build (CodeBuild)", phase_seconds["build"] or 0.0))
    if "changeset" in phase_seconds:
        actions.append(Action("Deploy: create change set (CloudFormation)", phase_seconds["changeset"] or 0.0))
        actions.append(Action("Deploy: execute change set (CloudFormation)", phase_seconds.get("stack") or 0.0))
    if "shift" in phase_seconds:
        actions.append(Action("Deploy: traffic shift (CodeDeploy)", phase_seconds["shift"] or 0.0))
    if "bake" in phase_seconds:
        actions.append(Action("Bake: alarm watch", phase_seconds["bake"] or 0.0))
    return actions


@dataclass(frozen=True)
class DeploymentCost:
    transitions: int
    lambda_requests: int
    lambda_gb_seconds: float
    step_functions_usd: float
    lambda_usd: float

    @property
    def total_usd(self) -> float:
        return self.step_functions_usd + self.lambda_usd

    def as_dict(self) -> dict[str, float | int]:
        return {
            "transitions": self.transitions,
            "lambda_requests": self.lambda_requests,
            "lambda_gb_seconds": round(self.lambda_gb_seconds, 3),
            "step_functions_usd": round(self.step_functions_usd, 7),
            "lambda_usd": round(self.lambda_usd, 7),
            "total_usd": round(self.total_usd, 7),
        }


def deployment_cost(transitions: int, invocations: Sequence[Invocation], architecture: str = "arm64") -> DeploymentCost:
    return DeploymentCost(
        transitions=transitions,
        lambda_requests=len(invocations),
        lambda_gb_seconds=lambda_gb_seconds(invocations),
        step_functions_usd=step_functions_cost(transitions),
        lambda_usd=lambda_cost(invocations, architecture),
    )
