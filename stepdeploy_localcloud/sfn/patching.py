"""Idempotent monkeypatching: each replaced attribute remembers moto's original."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MARK = "__stepdeploy_patched__"
_ORIGINAL = "__stepdeploy_original__"


def replace(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Set ``owner.name`` to ``make(original)`` unless that was done already.

    For classes only the class's own attribute counts, so that patching a base class and a
    subclass stay independent.
    """
    current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if current is None and isinstance(owner, type):
        current = getattr(owner, name, None)
    if getattr(current, _MARK, False):
        return
    new = make(current)
    setattr(new, _MARK, True)
    setattr(new, _ORIGINAL, current)
    setattr(owner, name, new)


def original(owner: Any, name: str) -> Any:
    """moto's own attribute behind a patch (the attribute itself when unpatched)."""
    current = getattr(owner, name)
    return getattr(current, _ORIGINAL, current)


def is_patched(owner: Any, name: str) -> bool:
    return bool(getattr(getattr(owner, name, None), _MARK, False))
