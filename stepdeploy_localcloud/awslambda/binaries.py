"""Compiled files in a function's code or layers that this machine cannot load.

A package built for another architecture (``sam build`` for ``arm64`` puts aarch64 wheels in the
zip) or another Python version (``*.cpython-312-*.so`` under Python 3.11) would fail at import with
a bare ``No module named 'pydantic_core._pydantic_core'``. The local cloud looks at the ELF header of
every ``.so`` and ``.node`` file before a worker starts and names the first one that cannot load here.
"""

from __future__ import annotations

import platform
import re
import threading
from pathlib import Path

# ELF e_machine values of the architectures Lambda offers.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}
LAMBDA_NAMES = {"x86_64": "x86_64", "aarch64": "arm64"}
_CPYTHON_TAG = re.compile(r"\.cpython-(?P<version>\d)(?P<minor>\d+)[^.]*\.so$")
HOST_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())

_cache: dict[tuple[str, str], str | None] = {}
_lock = threading.Lock()


def elf_machine(path: Path) -> str | None:
    """The architecture an ELF file is built for (None when it is not ELF or not one Lambda offers)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order = "little" if header[5] == 1 else "big"
    machine = int.from_bytes(header[18:20], order)
    return ELF_MACHINES.get(machine, f"ELF machine {machine}")


def _problem(path: Path, root: Path, python_version: str | None) -> str | None:
    machine = elf_machine(path)
    relative = path.relative_to(root).as_posix()
    if machine is not None and machine != HOST_MACHINE:
        return (
            f"{relative} is built for {machine} ({LAMBDA_NAMES.get(machine, machine)}), and this machine runs "
            f"{HOST_MACHINE}: the local cloud cannot load it"
        )
    tag = _CPYTHON_TAG.search(path.name)
    if python_version and tag and f"{tag['version']}.{tag['minor']}" != python_version:
        return (
            f"{relative} is built for Python {tag['version']}.{tag['minor']}, and the function runs on "
            f"Python {python_version}: it cannot be imported"
        )
    return None


def foreign_binary(root: Path, python_version: str | None = None) -> str | None:
    """The first compiled file under ``root`` that cannot load here, described; None when all can.

    ``python_version`` ("3.12") also checks CPython extension tags. Remembered per (folder, version):
    the folders are extracted once per code hash and never change.
    """
    key = (str(root), python_version or "")
    with _lock:
        if key in _cache:
            return _cache[key]
    found: str | None = None
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".so", ".node") and ".so." not in path.name:
            continue
        if path.is_file() and (found := _problem(path, root, python_version)):
            break
    with _lock:
        _cache[key] = found
    return found
