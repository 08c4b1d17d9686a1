"""The operator verbs that apply to an execution now, and the refusal of one that does not: one place for the
dashboard's buttons, its API's check and the CLI's answers.

Of the execution: approve and reject while it waits at "Wait for approval", stop while it runs, redrive after
it failed outside the pipeline's failure path. Of the release it runs: with stepdeploy's step engine, pause
while the release runs, resume while it is paused, promote and abort both (`step_verbs`); with
CodeDeploy, abort while the execution shifts traffic and holds its stack's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, VerbRefused
from stepdeploy_cli.watch import SHIFT_STATES, ExecutionView

REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")
FAILURE_PATH_END = "Deployment failed"
EXECUTION_VERBS = ("approve", "reject", "stop", "redrive")
RELEASE_VERBS = ("pause", "resume", "promote", "abort")
VERBS = EXECUTION_VERBS + RELEASE_VERBS


def step_verbs(execution_status: str, release_status: str | None) -> list[str]:
    """The verbs a step release offers now: pause while it runs, resume while paused; promote and abort both. The
    one rule for the dashboard's buttons, its API and these commands."""
    if execution_status != "RUNNING" or release_status not in ("running", "paused"):
        return []
    return ["pause" if release_status == "running" else "resume", "promote", "abort"]


def release_state(control: dict[str, Any]) -> str:
    """Where a step release stands, for a refusal: ``paused (inconclusive) at 25%``."""
    status, reason = str(control.get("status")), control.get("paused_reason")
    return f"{status}{f' ({reason})' if status == 'paused' and reason else ''} at {control.get('percent')}%"


def execution_verbs(status: str, last_state: str | None, waiting_approval: bool) -> list[str]:
    """The verbs of the execution itself (not of its release) it offers now."""
    if status == "RUNNING":
        return ["approve", "reject", "stop"] if waiting_approval else ["stop"]
    if status in REDRIVABLE and last_state != FAILURE_PATH_END:
        return ["redrive"]
    return []


@dataclass(frozen=True)
class Offer:
    """An execution's state as far as the verbs go, and the verbs that apply to it now."""

    name: str
    execution_arn: str
    status: str
    current_state: str | None
    waiting_approval: bool
    stack: str | None
    engine: str | None  # the release it runs: "stepdeploy" (the step engine), "codedeploy", or None
    release_status: str | None
    verbs: list[str]

    def state(self) -> str:
        """``RUNNING at 'Wait for release step'; its step release of sample-prod is paused (operator) at 50%``."""
        text = self.status + (f" at {self.current_state!r}" if self.current_state else "")
        if self.waiting_approval:
            text += ", waiting for approval"
        if self.engine == "stepdeploy":
            text += f"; its step release of {self.stack} is {self.release_status}"
        elif self.engine == "codedeploy":
            text += f"; CodeDeploy shifts the traffic of {self.stack}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"execution": self.name, "execution_arn": self.execution_arn, "status": self.status,
                "current_state": self.current_state, "waiting_for_approval": self.waiting_approval,
                "release": {"engine": self.engine, "stack": self.stack, "state": self.release_status}
                if self.engine else None}


def offer(op: Operator, described: dict[str, Any], view: ExecutionView | None = None) -> Offer:
    """What applies to the execution ``described`` (DescribeExecution's answer) now; ``view``: its history, if
    read already."""
    arn, name, status = str(described["executionArn"]), str(described["name"]), str(described["status"])
    if view is None:
        view = ExecutionView(op.sfn, arn)
        view.refresh()
    runs = view.runs()
    current = view.current_state()
    waiting = status == "RUNNING" and op.ledger.approval(arn) is not None
    verbs = execution_verbs(status, runs[-1].name if runs else None, waiting)
    known = op.ledger.stack_of_execution(arn)
    stack = str(known["stack"]) if known and known.get("stack") else None
    engine = release_status = None
    control = op.ledger.progress(stack) if stack else None
    if control and control.get("execution_arn") == arn:
        engine, release_status = "stepdeploy", release_state(control)
        verbs += step_verbs(status, str(control.get("status")))
    elif stack and status == "RUNNING" and current in SHIFT_STATES:
        holder = op.ledger.lock_holder(stack)
        if holder and holder.get("owner") == arn:
            engine, release_status = "codedeploy", "shifting"
            verbs.append("abort")
    return Offer(name=name, execution_arn=arn, status=status, current_state=current, waiting_approval=waiting,
                 stack=stack, engine=engine, release_status=release_status, verbs=verbs)


def unknown_verb(verb: str) -> CliError:
    return CliError(f"unknown action {verb!r}: expected one of {', '.join(VERBS)}")


def check(op: Operator, verb: str, described: dict[str, Any]) -> Offer:
    """The execution's offer, if ``verb`` applies to it now; VerbRefused (what was asked, the state it is in, what
    applies) if not."""
    if verb not in VERBS:
        raise unknown_verb(verb)
    found = offer(op, described)
    if verb not in found.verbs:
        state = found.state()
        if verb in ("approve", "reject"):
            state += ", nothing waits for approval"
        raise VerbRefused(verb, found.name, state, found.verbs, {"found": found.as_dict()})
    return found
