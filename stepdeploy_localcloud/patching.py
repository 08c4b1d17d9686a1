"""The one way the local cloud patches moto: ``replace`` (or ``wrap``) an attribute, remembered.

Every adapter (``<service>/patch.py``) installs its changes through these functions, so that:
- applying twice changes nothing (the first replacement of ``owner.name`` stands);
- the wrapped original stays reachable (``original``) and every change can be undone (``undo_all``).

moto's documented settings (``moto.core.config.default_user_config``) are set through ``configure``, so
that ``suspended`` and ``undo_all`` put them back too.

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
_SETTINGS: dict[tuple[str, str], Any] = {}  # (service, key) -> moto's value before (_MISSING: unset)
_LOCK = threading.RLock()


def _user_config() -> dict[str, Any]:
    from moto.core.config import default_user_config

    return default_user_config


def configure(service: str, key: str, value: Any) -> None:
    """Set one of moto's settings, e.g. ``configure("stepfunctions", "execute_state_machine", True)``."""
    with _LOCK:
        section = _user_config().setdefault(service, {})
        _SETTINGS.setdefault((service, key), section.get(key, _MISSING))
        section[key] = value


def _put_settings(values: dict[tuple[str, str], Any]) -> None:
    config = _user_config()
    for (service, key), value in values.items():
        if value is _MISSING:
            config.get(service, {}).pop(key, None)
        else:
            config.setdefault(service, {})[key] = value


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
        _put_settings(_SETTINGS)
        _SETTINGS.clear()


@contextmanager
def suspended() -> Iterator[None]:
    """moto as it ships for the duration (its settings too), every patch put back afterwards (for tests of
    plain moto)."""
    with _LOCK:
        patches = list(_PATCHES.values())
        for patch in reversed(patches):
            _restore(patch)
        config = _user_config()
        ours = {name: config.get(name[0], {}).get(name[1], _MISSING) for name in _SETTINGS}
        _put_settings(_SETTINGS)
    try:
        yield
    finally:
        with _LOCK:
            for patch in patches:
                setattr(patch.owner, patch.name, patch.new)
            _put_settings(ours)


def _restore(patch: _Patch) -> None:
    if patch.own is _MISSING:
        if patch.name in vars(patch.owner):
            delattr(patch.owner, patch.name)
    else:
        setattr(patch.owner, patch.name, patch.own)
