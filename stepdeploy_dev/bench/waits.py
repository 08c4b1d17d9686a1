"""The state machine's wait loops, found by state name, and the latency each one adds.

A wait loop is a Check task, a Choice that reads ``$.<key>.done`` and a wait that leads back to the
Check: a token wait (a ``.waitForTaskToken`` Task that the service's event resumes: build, stack,
traffic shift, bake) or a Wait state (change-set creation, which sends no event). Its added latency
is the time from the service's own completion (the build's endTime, the change set computed, the
stack operation complete, the CodeDeploy deployment's completeTime, the end of the bake time) to the
TaskStateExited of the Check visit that left the loop.

The loops are named here, not discovered: if the state machine's names or wiring change, ``check_asl``
says what no longer matches, so the benchmark never measures the wrong thing quietly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stepdeploy_dev.bench.history import LOCK_STATE, RECORD_PREFIX, StateVisit


@dataclass(frozen=True)
class WaitLoop:
    wait: str
    check: str
    choice: str
    key: str  # the document section the Check returns and the Choice reads
    completion: str  # what counts as the service having finished, for the report
    token: bool = True  # the wait is a .waitForTaskToken Task (else a Wait state)


WAIT_LOOPS: tuple[WaitLoop, ...] = (
    WaitLoop("Wait for build", "Check build", "Build finished?", "build", "CodeBuild build endTime"),
    WaitLoop("Wait for change set", "Check change set", "Change set ready?", "changeset",
             "change set shown CREATE_COMPLETE/FAILED by the local CloudFormation", token=False),
    WaitLoop("Wait for stack", "Check stack", "Stack updated?", "stack",
             "stack operation shown complete by the local CloudFormation"),
    WaitLoop("Wait for traffic shift", "Check traffic shift", "Traffic shifted?", "shift",
             "CodeDeploy deployment completeTime (the latest, for several functions)"),
    WaitLoop("Wait while baking", "Bake", "Baked?", "bake", "bake time over (the task's own accounting)"),
)

_SUBSTITUTION = re.compile(r"^\$\{(?P<logical>[A-Za-z0-9]+)Arn\}$")


class AslMismatch(RuntimeError):
    """The state machine no longer has the states the benchmark measures."""


def _loop_problems(states: dict[str, Any], loop: WaitLoop) -> list[str]:
    problems = []
    for name, expected in ((loop.wait, "Task" if loop.token else "Wait"), (loop.check, "Task"),
                           (loop.choice, "Choice")):
        state = states.get(name)
        if state is None:
            problems.append(f"no state named {name!r}")
        elif state.get("Type") != expected:
            problems.append(f"{name!r} is a {state.get('Type')} state, expected a {expected} state")
    if problems:
        return problems
    if loop.token and not str(states[loop.wait].get("Resource", "")).endswith(".waitForTaskToken"):
        problems.append(f"{loop.wait!r} is not a .waitForTaskToken Task")
    wait, check, choice = states[loop.wait], states[loop.check], states[loop.choice]
    if wait.get("Next") != loop.check:
        problems.append(f"{loop.wait!r} should lead to {loop.check!r}, leads to {wait.get('Next')!r}")
    if check.get("Next") != loop.choice:
        problems.append(f"{loop.check!r} should lead to {loop.choice!r}, leads to {check.get('Next')!r}")
    rules = choice.get("Choices") or []
    if choice.get("Default") != loop.wait and not any(r.get("Next") == loop.wait for r in rules):
        problems.append(f"{loop.choice!r} never leads back to {loop.wait!r}")
    if not any(r.get("Variable") == f"$.{loop.key}.done" for r in rules):
        problems.append(f"{loop.choice!r} does not read $.{loop.key}.done")
    if not _SUBSTITUTION.match(str((check.get("Parameters") or {}).get("FunctionName", ""))):
        problems.append(f"{loop.check!r} does not invoke a function named by a ${{<LogicalId>Arn}} substitution")
    return problems


def check_asl(asl: dict[str, Any], loops: Sequence[WaitLoop] = WAIT_LOOPS) -> None:
    """Raise AslMismatch, naming every difference, unless the ASL has the loops and states measured here."""
    states = asl.get("States") or {}
    problems = [p for loop in loops for p in _loop_problems(states, loop)]
    if states.get(LOCK_STATE, {}).get("Type") != "Task":
        problems.append(f"no Task state named {LOCK_STATE!r} (the stack lock)")
    if not any(name.startswith(RECORD_PREFIX) for name in states):
        problems.append(f"no state whose name starts with {RECORD_PREFIX!r} (the ledger records)")
    if problems:
        raise AslMismatch(
            "statemachines/deploy.asl.json does not match the wait loops the benchmark measures: "
            + "; ".join(problems)
            + ". The loops are named in stepdeploy_dev/bench/waits.py (WAIT_LOOPS): update them to the state machine."
        )


def waiting_functions(asl: dict[str, Any], loops: Sequence[WaitLoop] = WAIT_LOOPS) -> dict[str, str]:
    """Logical id of the function each loop's Check invokes -> the loop's Wait state name."""
    functions = {}
    for loop in loops:
        name = str(asl["States"][loop.check]["Parameters"]["FunctionName"])
        match = _SUBSTITUTION.match(name)
        if match is None:
            raise AslMismatch(f"{loop.check!r} invokes {name!r}, expected a ${{<LogicalId>Arn}} substitution")
        functions[match["logical"]] = loop.wait
    return functions


def loop_exits(visits: Sequence[StateVisit], loop: WaitLoop) -> list[StateVisit]:
    """The visits of the loop's Check after which the execution left the loop (done, or failed and caught)."""
    exits = []
    for index, visit in enumerate(visits):
        if visit.name != loop.check or visit.exited_at is None:
            continue
        following = [v.name for v in visits[index + 1: index + 3]]
        if following == [loop.choice, loop.wait]:
            continue  # not done yet: the loop goes round again
        exits.append(visit)
    return exits


def left_done(visit: StateVisit, loop: WaitLoop) -> bool:
    return visit.section(loop.key).get("done") is True and "error" not in (visit.output or {})


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def bake_finished_at(bake: dict[str, Any], speed: float) -> datetime | None:
    """When the bake time ran out, by the bake task's own accounting.

    Each check takes the (virtual) time since the previous one off ``remaining_seconds``; the final
    check's ``checked_at`` plus its (zero or negative) remaining time, in real seconds, is the moment
    the bake time was over.
    """
    checked_at = _instant(bake.get("checked_at"))
    remaining = bake.get("remaining_seconds")
    if bake.get("done") is not True or checked_at is None or not isinstance(remaining, int | float):
        return None
    return checked_at + timedelta(seconds=float(remaining) / speed)


def bake_started_at(bake: dict[str, Any], bake_minutes: float) -> datetime | None:
    """When the bake's first check ran: its ``until`` is that moment plus bake_minutes of wall time."""
    until = _instant(bake.get("until"))
    return None if until is None else until - timedelta(minutes=bake_minutes)


def added_latency_seconds(service_finished_at: datetime, loop_left_at: datetime, speed: float) -> float:
    """AWS seconds from the service finishing to the state machine leaving the loop (real seconds x speed)."""
    return (loop_left_at - service_finished_at).total_seconds() * speed
