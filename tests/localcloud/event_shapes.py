"""The local cloud's service events against AWS's documented examples (tests/fixtures/aws_events)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws_events"
ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def documented(name: str) -> dict[str, Any]:
    """One documented example event, by file name without .json."""
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def shape_differences(emitted: Any, example: Any, path: str = "$") -> list[str]:
    """Where ``emitted`` lacks a field of ``example`` or has another JSON type there (empty: same shape).

    Objects: every key of the example must be there (the emitted event may have more). Arrays: every
    emitted item has the shape of one of the example's items.
    """
    if isinstance(example, dict):
        if not isinstance(emitted, dict):
            return [f"{path}: expected an object, got {type(emitted).__name__}"]
        problems: list[str] = []
        for key, value in example.items():
            if key not in emitted:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(shape_differences(emitted[key], value, f"{path}.{key}"))
        return problems
    if isinstance(example, list):
        if not isinstance(emitted, list):
            return [f"{path}: expected an array, got {type(emitted).__name__}"]
        problems = []
        for index, item in enumerate(emitted):
            tries = [shape_differences(item, shape, f"{path}[{index}]") for shape in example]
            if tries and all(tries):
                problems.extend(min(tries, key=len))
        return problems
    if isinstance(example, bool) or example is None:
        same = isinstance(emitted, bool) if isinstance(example, bool) else emitted is None
        return [] if same else [f"{path}: expected {type(example).__name__}, got {emitted!r}"]
    if isinstance(example, (int, float)):
        ok = isinstance(emitted, (int, float)) and not isinstance(emitted, bool)
        return [] if ok else [f"{path}: expected a number, got {emitted!r}"]
    return [] if isinstance(emitted, str) else [f"{path}: expected a string, got {emitted!r}"]


def assert_documented_shape(event: dict[str, Any], name: str) -> None:
    example = documented(name)
    assert set(ENVELOPE) <= set(event), f"{name}: envelope fields missing: {sorted(set(ENVELOPE) - set(event))}"
    assert event["source"] == example["source"] and event["detail-type"] == example["detail-type"]
    problems = shape_differences(event, example)
    assert not problems, f"{name}: " + "; ".join(problems)
