"""A virtual environment that holds what a function has on Lambda: the layer's pins and the runtime's boto3.

``requirements/runtime.txt`` (installed with ``--no-deps``, as ``layer/Makefile`` does) plus the boto3 and
botocore that every Python Lambda runtime brings, at the pins of ``requirements/dev.txt`` (with their own
dependencies, as the runtime has them). Built once per content hash under ``build/layer-venv-<hash>/``;
tests/unit/test_layer_build.py imports the built layer in it and ``make bench`` times cold imports with it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
DEV_REQUIREMENTS = ROOT / "requirements" / "dev.txt"
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore")  # in every Python Lambda runtime, so not in the layer
LAMBDA_RUNTIME_DEPENDENCIES = ("jmespath", "s3transfer", "urllib3", "python-dateutil", "six")
"""What the runtime's boto3 and botocore bring along: the layer may rely on them too, and must not copy them."""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.split("#", 1)[0].strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = f"{match.group(1)}=={match.group(3)}"
    return pins


def runtime_pins() -> dict[str, str]:
    """requirements/runtime.txt as {normalised name: "Name==version"}."""
    return _pins(RUNTIME_REQUIREMENTS)


def lambda_runtime_pins() -> list[str]:
    pins = _pins(DEV_REQUIREMENTS)
    missing = [name for name in LAMBDA_RUNTIME_PACKAGES if name not in pins]
    if missing:
        raise ValueError(f"requirements/dev.txt pins no {missing}: the layer's test environment needs them")
    return [pins[name] for name in LAMBDA_RUNTIME_PACKAGES]


def _pip(python: Path, *args: str) -> None:
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True, text=True, check=False,
    )
    if install.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{install.stderr[-3000:]}")


def layer_venv() -> Path:
    """The environment's folder (its interpreter is ``bin/python``), built once per content hash."""
    extra = lambda_runtime_pins()
    key = hashlib.sha256(
        "\n".join(["no-deps", RUNTIME_REQUIREMENTS.read_text(), *extra, sys.version]).encode()
    ).hexdigest()[:16]
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    target = build / f"layer-venv-{key}"
    done = target / ".complete"
    with open(build / "layer-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once build it once
        if not done.exists():
            for stale in build.glob("layer-venv-*"):
                if stale.is_dir():
                    shutil.rmtree(stale)
            venv.EnvBuilder(with_pip=True, clear=True).create(target)
            python = target / "bin" / "python"
            _pip(python, *extra)
            _pip(python, "--no-deps", "-r", str(RUNTIME_REQUIREMENTS))
            done.write_text(json.dumps({"requirements": str(RUNTIME_REQUIREMENTS), "extra": extra}))
    return target
