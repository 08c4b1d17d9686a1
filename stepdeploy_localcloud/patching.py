"""The one way the local cloud patches moto: ``replace`` (or ``wrap``) an attribute, remembered.

Every adapter (``<service>/patch.py``) installs its changes through these functions, so that:
- applying twice changes nothing (the first replacement of ``owner.name`` stands);
- the wrapped original stays reachable (``original``) and every change can be undone (``undo_all``).

For classes only the class's own attribute counts, so that patching a base class and a subclass
stay independent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class _Patch:
    owner: Any
    name: str
    own: Any  # what owner.__dict__ held before (_MISSING: the attribute was inherited or absent)
    original: Any  # getattr(owner, name) before: what a wrapper calls
    new: Any


_PATCHES: dict[tuple[int, str], _Patch] = {}
_LOCK = threading.RLock()


def _own(owner: Any, name: str) -> Any:
    return vars(owner).get(name, _MISSING) if hasattr(owner, "__dict__") else getattr(owner, name, _MISSING)


def wrap(owner: Any, name: str, make: Callable[[Any], Any]) -> Any:
    """Set ``owner.name`` to ``make(original)`` unless that was done already; return the original."""
    with _LOCK:
        patch = _PATCHES.get((id(owner), name))
        if patch is not None and patch.owner is owner:
            return patch.original
        original = getattr(owner, name, None)
        new = make(original)
        _PATCHES[(id(owner), name)] = _Patch(owner, name, _own(owner, name), original, new)
        setattr(owner, name, new)
        return original


def replace(owner: Any, name: str, new: Any) -> Any:
    """Set ``owner.name`` to ``new`` unless that was done already; return the original."""
    return wrap(owner, name, lambda _original: new)


def original(owner: Any, name: str) -> Any:
    """moto's own attribute behind a patch (the attribute itself when unpatched)."""
    patch = _PATCHES.get((id(owner), name))
    if patch is not None and patch.owner is owner:
        return patch.original
    return getattr(owner, name)


def is_patched(owner: Any, name: str) -> bool:
    patch = _PATCHES.get((id(owner), name))
    return patch is not None and patch.owner is owner


def undo(owner: Any, name: str) -> None:
    """Put back one attribute (nothing happens when it is not patched)."""
    with _LOCK:
        patch = _PATCHES.get((id(owner), name))
        if patch is not None and patch.owner is owner:
            _restore(_PATCHES.pop((id(owner), name)))


def undo_all() -> None:
    """Put back every attribute replaced so far, newest first."""
    with _LOCK:
        for patch in reversed(list(_PATCHES.values())):
            _restore(patch)
        _PATCHES.clear()


@contextmanager
def suspended() -> Iterator[None]:
    """moto as it ships for the duration, every patch put back afterwards (for tests of plain moto)."""
    with _LOCK:
        patches = list(_PATCHES.values())
        for patch in reversed(patches):
            _restore(patch)
    try:
        yield
    finally:
        with _LOCK:
            for patch in patches:
                setattr(patch.owner, patch.name, patch.new)


def _restore(patch: _Patch) -> None:
    if patch.own is _MISSING:
        if patch.name in vars(patch.owner):
            delattr(patch.owner, patch.name)
    else:
        setattr(patch.owner, patch.name, patch.own)
