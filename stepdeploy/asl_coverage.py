"""Which states and transitions of a state machine an execution went through.

From a GetExecutionHistory event list (any order, boto3's shape), for coverage reports over
the tests of the state machine: the states entered and the (from, to) transitions taken,
including transitions into Catch targets. A redrive resumes the failed state without a
transition into it. Meant for machines of Task/Choice/Wait/Pass/Succeed/Fail states: inside
Map or Parallel states the iterations' states interleave and count as transitions too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stepdeploy.asl_lint import definition_transitions

__all__ = ["coverage_report", "definition_transitions", "execution_coverage"]


def execution_coverage(
    history_events: Iterable[Mapping[str, Any]],
) -> tuple[set[str], set[tuple[str, str]]]:
    entered: set[str] = set()
    transitions: set[tuple[str, str]] = set()
    previous: str | None = None
    for event in sorted(history_events, key=lambda e: int(e.get("id", 0))):
        event_type = str(event.get("type", ""))
        if event_type == "ExecutionRedriven":
            previous = None
        elif event_type.endswith("StateEntered"):
            name = event.get("stateEnteredEventDetails", {}).get("name")
            if not isinstance(name, str):
                continue
            entered.add(name)
            if previous is not None:
                transitions.add((previous, name))
            previous = name
    return entered, transitions


def coverage_report(
    definition: Mapping[str, Any], histories: Iterable[Iterable[Mapping[str, Any]]]
) -> dict[str, Any]:
    """States and transitions of ``definition`` that no execution in ``histories`` went through."""
    states = set((definition.get("States") or {}).keys())
    all_transitions = definition_transitions(definition)
    entered: set[str] = set()
    taken: set[tuple[str, str]] = set()
    for events in histories:
        execution_states, execution_transitions = execution_coverage(events)
        entered |= execution_states
        taken |= execution_transitions
    return {
        "states": len(states),
        "states_entered": len(states & entered),
        "transitions": len(all_transitions),
        "transitions_taken": len(all_transitions & taken),
        "states_not_entered": sorted(states - entered),
        "transitions_not_taken": sorted(all_transitions - taken),
    }
