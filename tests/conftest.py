"""Session-wide: the state machine coverage report (build/sfn-coverage.json).

Tests that run executions of the real ASL hand their histories to ``record_execution``; at the end
of the session the states entered and transitions taken are written next to what the definition has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASL = ROOT / "statemachines" / "deploy.asl.json"
REPORT = ROOT / "build" / "sfn-coverage.json"

_entered: set[str] = set()
_transitions: set[tuple[str, str]] = set()


def record_execution(history_events: list[dict[str, Any]]) -> None:
    from stepdeploy_dev.asl_lint import execution_coverage

    states, transitions = execution_coverage(history_events)
    _entered.update(states)
    _transitions.update(transitions)


def coverage_report() -> dict[str, Any]:
    from stepdeploy_dev.asl_lint import definition_transitions

    definition = json.loads(ASL.read_text())
    all_states = sorted(definition["States"])
    all_transitions = sorted(definition_transitions(definition))
    return {
        "states": {name: name in _entered for name in all_states},
        "transitions": [list(t) for t in sorted(_transitions)],
        "summary": {
            "states_entered": sum(1 for s in all_states if s in _entered),
            "states_total": len(all_states),
            "transitions_taken": sum(1 for t in all_transitions if t in _transitions),
            "transitions_total": len(all_transitions),
            "transitions_not_taken": [list(t) for t in all_transitions if t not in _transitions],
        },
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        for partial in REPORT.parent.glob("sfn-coverage.*.json"):
            partial.unlink()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker:  # an xdist worker: leave its part for the controller to merge
        part = {"states": sorted(_entered), "transitions": sorted(_transitions)}
        (REPORT.parent / f"sfn-coverage.{worker}.json").write_text(json.dumps(part))
        return
    for partial in REPORT.parent.glob("sfn-coverage.*.json"):
        part = json.loads(partial.read_text())
        _entered.update(part["states"])
        _transitions.update(tuple(t) for t in part["transitions"])
        partial.unlink()
    if _entered or _transitions:
        REPORT.write_text(json.dumps(coverage_report(), indent=2) + "\n")
