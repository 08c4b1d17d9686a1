"""Coverage of a state machine by executions: which states and transitions none went through.

``execution_coverage`` (one history) lives in ``stepdeploy_dev.asl_lint`` beside the state graph it
shares; this module adds the report over many executions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stepdeploy_dev.asl_lint import definition_transitions, execution_coverage

__all__ = ["coverage_report", "definition_transitions", "execution_coverage"]


def coverage_report(definition: Mapping[str, Any], histories: Iterable[Iterable[Mapping[str, Any]]]) -> dict[str, Any]:
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
