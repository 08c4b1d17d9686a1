"""The Lambda layer as `sam build` makes it imports with nothing but its runtime dependencies.

`template.yaml` builds `StepdeployLayer` with `BuildMethod: makefile`: `sam build` (and the local cloud's
packager) runs `make build-StepdeployLayer` with `ARTIFACTS_DIR` set. This test runs that target, then imports
every module of the built layer in a virtual environment holding only `requirements/runtime.txt` plus the boto3
and botocore that the Lambda runtime brings (at the pins of `requirements/dev.txt`). A module that reaches for
a development-only package (moto, typer, rich...) or for another root of the repository fails here by name.

The virtual environment is cached under `build/` keyed by a hash of what it holds, so reruns take seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.layer, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
DEV_REQUIREMENTS = ROOT / "requirements" / "dev.txt"
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore")  # in every Python Lambda runtime, so not in the layer

# Run inside the layer's environment: import every module under the layer's `stepdeploy`, report failures.
IMPORT_ALL = """
import importlib, json, pkgutil, sys, traceback
sys.path.insert(0, sys.argv[1])  # Lambda puts a layer's python/ on sys.path the same way (/opt/python)
import stepdeploy
failures = {}
names = ["stepdeploy"]
def note(name):
    failures[name] = traceback.format_exc(limit=-3)
for info in pkgutil.walk_packages(stepdeploy.__path__, "stepdeploy.", onerror=note):
    names.append(info.name)
    try:
        importlib.import_module(info.name)
    except BaseException:
        note(info.name)
outside = sorted({m.split(".")[0] for m in sys.modules} & {"stepdeploy_cli", "stepdeploy_localcloud", "stepdeploy_dev"})
print(json.dumps({"modules": names, "failures": failures, "file": stepdeploy.__file__, "outside": outside}))
"""


def _dev_pins(names: tuple[str, ...]) -> list[str]:
    pins = {}
    for line in DEV_REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.strip())
        if match and match.group(1).lower() in names:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(3)}"
    missing = [name for name in names if name not in pins]
    assert not missing, f"requirements/dev.txt pins no {missing}"
    return [pins[name] for name in names]


def _layer_venv() -> Path:
    """A virtual environment with runtime.txt and the Lambda runtime's boto3, built once per content hash."""
    extra = _dev_pins(LAMBDA_RUNTIME_PACKAGES)
    key = hashlib.sha256(
        "\n".join([RUNTIME_REQUIREMENTS.read_text(), *extra, sys.version]).encode()
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
            install = subprocess.run(
                [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "-r", str(RUNTIME_REQUIREMENTS), *extra],
                capture_output=True, text=True, check=False,
            )
            assert install.returncode == 0, f"pip install into {target} failed:\n{install.stderr[-3000:]}"
            done.write_text(json.dumps({"requirements": str(RUNTIME_REQUIREMENTS), "extra": extra}))
    return target


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make build-StepdeployLayer` the way `sam build` and the local cloud run it; the artifacts directory."""
    artifacts = tmp_path_factory.mktemp("layer")
    env = dict(os.environ, ARTIFACTS_DIR=str(artifacts), STEPDEPLOY_LOCAL_BUILD="1")
    result = subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(ROOT / "Makefile"), "build-StepdeployLayer"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"make build-StepdeployLayer failed:\n{result.stdout}\n{result.stderr}"
    return artifacts


def test_the_layer_holds_the_runtime_package_only(layer: Path) -> None:
    assert sorted(p.name for p in layer.iterdir()) == ["python"]
    assert sorted(p.name for p in (layer / "python").iterdir()) == ["stepdeploy"]
    files = [p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file()]
    assert not [f for f in files if "__pycache__" in f]
    assert not [f for f in files if re.search(r"stepdeploy_(cli|localcloud|dev)|(^|/)(tests|functions)/", f)]
    sources = (ROOT / "stepdeploy").rglob("*.py")
    source = {p.relative_to(ROOT).as_posix() for p in sources if "__pycache__" not in p.parts}
    built = {f.removeprefix("python/") for f in files if f.endswith(".py")}
    assert built == source, "the layer is `stepdeploy/` copied whole"


def test_every_layer_module_imports_with_runtime_requirements_only(layer: Path) -> None:
    python = _layer_venv() / "bin" / "python"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(layer),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "stepdeploy",
    }
    result = subprocess.run(
        [str(python), "-I", "-c", IMPORT_ALL, str(layer / "python")],  # -I: no cwd, no PYTHONPATH, no user site
        cwd=layer, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(layer), f"imported stepdeploy from {report['file']}, not the layer"
    assert len(report["modules"]) > 10
    failures = report["failures"]
    assert not failures, "modules of the layer that do not import with requirements/runtime.txt only:\n" + "\n".join(
        f"- {name}:\n{trace}" for name, trace in sorted(failures.items())
    )
    assert not report["outside"], f"the layer pulled in {report['outside']}"
