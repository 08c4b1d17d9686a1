"""The catalogue of hostile stepdeploy.yml files (tests/fixtures/hostile_configs/), for the unit and e2e tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).parent / "fixtures" / "hostile_configs"
SAMPLE_REPOSITORY = "platform/sample-app"


@dataclass(frozen=True)
class HostileConfig:
    name: str
    text: bytes
    key: str
    state: str
    error: str
    repository: str = SAMPLE_REPOSITORY
    files: dict[str, str] = field(default_factory=dict)
    valid: bool = False


def _padded(text: bytes, size: int | None) -> bytes:
    if not size or len(text) >= size:
        return text
    line = b"# " + b"x" * 76 + b"\n"
    return text + line * ((size - len(text)) // len(line) + 1)


def load() -> list[HostileConfig]:
    expectations: dict[str, dict[str, Any]] = json.loads((CATALOGUE / "expectations.json").read_text())
    cases = []
    for name, spec in expectations.items():
        text = _padded((CATALOGUE / f"{name}.yml").read_bytes(), spec.get("pad_to_bytes"))
        cases.append(
            HostileConfig(
                name=name,
                text=text,
                key=spec["key"],
                state=spec["state"],
                error=spec["error"],
                repository=spec.get("repository", SAMPLE_REPOSITORY),
                files=spec.get("files", {}),
                valid=spec.get("valid", False),
            )
        )
    return cases
