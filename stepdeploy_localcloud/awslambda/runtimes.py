"""Which interpreter runs a Lambda runtime locally: the declared one, or an error that says how to get it.

A ``pythonX.Y`` function runs on a Python X.Y interpreter, a ``nodejsNN.x`` function on a Node.js NN.
Where one comes from, first found wins:

1. configured: ``stepdeploy local up --runtime python3.12=/path/to/python3.12`` (``configure``) or the
   environment variable ``STEPDEPLOY_RUNTIME_PYTHON3_12=/path`` (the runtime's name upper-cased, every
   character that is not a letter or digit as ``_``);
2. the command of that name on PATH (``python3.12``; ``node`` for Node.js);
3. pyenv's installations (``$PYENV_ROOT`` or ``~/.pyenv``, ``versions/3.12.*``) and ``/usr/bin``,
   ``/usr/local/bin`` for Python.

Every candidate is run once to ask its version: a pyenv shim that is not active, or a ``node`` of
another major version, does not count. A configured Node.js may be of another major version (the user
chose it; the function's logs say so); a configured Python must be of the declared version, because
compiled packages are built for one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

PYTHON = re.compile(r"^python(?P<major>\d)\.(?P<minor>\d+)$")
NODE = re.compile(r"^nodejs(?P<major>\d+)\.x$")
_VERSION_PROBE = {
    "python": ["-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)"],
    "node": ["-e", "console.log(process.versions.node); console.log(process.execPath)"],
}


class RuntimeUnavailable(Exception):
    """The declared runtime cannot run here; the message says why and how to provide it."""


@dataclass(frozen=True)
class Interpreter:
    runtime: str  # as declared: python3.12, nodejs20.x
    language: str  # python or node
    executable: str
    version: str  # the interpreter's own, e.g. 3.12.1 or 20.20.2
    note: str = ""  # e.g. "nodejs22.x runs on node 20.20.2 (configured)"


_configured: dict[str, str] = {}
_found: dict[str, Interpreter] = {}
_lock = threading.Lock()


def env_name(runtime: str) -> str:
    return "STEPDEPLOY_RUNTIME_" + re.sub(r"[^A-Za-z0-9]", "_", runtime).upper()


def how_to_provide(runtime: str) -> str:
    return (
        f"install it, or point the local cloud at one: `stepdeploy local up --runtime {runtime}=/path/to/interpreter`"
        f" or the environment variable {env_name(runtime)}=/path/to/interpreter"
    )


def parse_assignment(text: str) -> tuple[str, str]:
    """``RUNTIME=PATH`` as given to ``--runtime``."""
    runtime, sep, path = text.partition("=")
    runtime = runtime.strip()
    if not sep or not path.strip() or not (PYTHON.match(runtime) or NODE.match(runtime)):
        raise ValueError(
            f"--runtime {text!r}: expected RUNTIME=PATH, e.g. python3.12=/usr/bin/python3.12 or "
            "nodejs20.x=/usr/bin/node"
        )
    return runtime, path.strip()


def configure(runtime: str, executable: str) -> None:
    """Use ``executable`` for ``runtime`` (checked at the first invocation that needs it)."""
    if not (PYTHON.match(runtime) or NODE.match(runtime)):
        raise ValueError(f"runtime {runtime!r}: expected pythonX.Y or nodejsNN.x")
    with _lock:
        _configured[runtime] = executable
        _found.pop(runtime, None)


def clear_configuration() -> None:
    with _lock:
        _configured.clear()
        _found.clear()


def _probe(language: str, executable: str) -> tuple[str, str] | None:
    """The (version, real executable) of a candidate, or None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - a candidate interpreter, asked for its version
            [executable, *_VERSION_PROBE[language]],
            capture_output=True, text=True, timeout=30, check=False, env={"PATH": os.environ.get("PATH", "")},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) < 2:
        return None
    return lines[0], lines[1]


def _python_candidates(major: str, minor: str) -> list[str]:
    name = f"python{major}.{minor}"
    candidates = [found] if (found := shutil.which(name)) else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = sorted((pyenv_root / "versions").glob(f"{major}.{minor}.*"), reverse=True)
    candidates += [str(v / "bin" / name) for v in versions]
    candidates += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    return [c for c in dict.fromkeys(candidates) if Path(c).exists()]


def _configured_for(runtime: str) -> str | None:
    return (
        _configured.get(runtime)
        or os.environ.get(env_name(runtime))
        or os.environ.get(f"STEPDEPLOY_RUNTIME_{runtime}")
    )


def _find(runtime: str) -> Interpreter:
    python, node = PYTHON.match(runtime), NODE.match(runtime)
    configured = _configured_for(runtime)
    if python:
        wanted = f"{python['major']}.{python['minor']}"
        candidates = [configured] if configured else _python_candidates(python["major"], python["minor"])
        for candidate in candidates:
            probed = _probe("python", candidate)
            if probed and probed[0].rsplit(".", 1)[0] == wanted:
                return Interpreter(runtime, "python", probed[1], probed[0])
            if configured:
                seen = f"Python {probed[0]}" if probed else "nothing that runs"
                raise RuntimeUnavailable(
                    f"runtime {runtime}: the configured interpreter {configured} is {seen}, not Python {wanted}; "
                    + how_to_provide(runtime)
                )
        raise RuntimeUnavailable(
            f"runtime {runtime}: no Python {wanted} interpreter on this machine; " + how_to_provide(runtime)
        )
    if node:
        wanted = node["major"]
        candidate = configured or shutil.which("node")
        probed = _probe("node", candidate) if candidate else None
        if probed and configured:
            note = "" if probed[0].split(".")[0] == wanted else f"{runtime} runs on node {probed[0]} (configured)"
            return Interpreter(runtime, "node", probed[1], probed[0], note)
        if probed and probed[0].split(".")[0] == wanted:
            return Interpreter(runtime, "node", probed[1], probed[0])
        seen = f"node on PATH is {probed[0]}" if probed else "no node runs here"
        if configured and not probed:
            seen = f"the configured {configured} does not run"
        raise RuntimeUnavailable(f"runtime {runtime}: needs Node.js {wanted}, {seen}; " + how_to_provide(runtime))
    raise RuntimeUnavailable(
        f"runtime {runtime or '(none)'}: the local cloud runs pythonX.Y and nodejsNN.x zip functions only"
    )


def interpreter(runtime: str) -> Interpreter:
    """The interpreter for ``runtime``; raises RuntimeUnavailable naming the runtime and the remedy."""
    with _lock:
        if runtime in _found:
            return _found[runtime]
    found = _find(runtime)
    with _lock:
        _found[runtime] = found
    return found
