"""The Lambda layer as the local cloud builds it imports with nothing but its own packages and the runtime's boto3.

`template.yaml` builds `StepdeployLayer` with `BuildMethod: makefile`: `sam build` (and the local cloud's
packager) runs `make build-StepdeployLayer` with `ARTIFACTS_DIR` set; with `STEPDEPLOY_LOCAL_BUILD=1` the
packages of `requirements/runtime.txt` come from the wheels `make setup` downloaded for this machine (no
network). This test runs that target, then imports every module of the built layer on the layer's Python
(3.12) exactly as the local cloud's Lambda runtime does: no site-packages, the layer's `python/` on the path,
then boto3 and botocore as the Lambda runtime provides them. A module that reaches for a development-only
package (moto, typer, rich...) or for another root of the repository fails here by name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from stepdeploy_localcloud.awslambda import binaries, runtimes, sdk

pytestmark = [pytest.mark.unit, pytest.mark.layer, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
LAYER_RUNTIME = "python3.12"  # template.yaml: Globals Runtime, the layer's CompatibleRuntimes

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


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make build-StepdeployLayer` as the local cloud's packager runs it (in layer/); the artifacts directory."""
    artifacts = tmp_path_factory.mktemp("layer")
    env = dict(os.environ, ARTIFACTS_DIR=str(artifacts), STEPDEPLOY_LOCAL_BUILD="1")
    result = subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(ROOT / "layer" / "Makefile"), "build-StepdeployLayer"],
        cwd=ROOT / "layer", env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"make build-StepdeployLayer failed:\n{result.stdout}\n{result.stderr}"
    return artifacts


def _pins() -> dict[str, str]:
    pins = {}
    for line in RUNTIME_REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "_", match.group(1).lower())] = match.group(3)
    return pins


def test_the_layer_holds_stepdeploy_and_its_runtime_requirements(layer: Path) -> None:
    assert sorted(p.name for p in layer.iterdir()) == ["python"]
    files = [p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file()]
    assert not [f for f in files if "__pycache__" in f]
    assert not [f for f in files if re.search(r"stepdeploy_(cli|localcloud|dev)|(^|/)(tests|functions)/", f)]
    sources = (ROOT / "stepdeploy").rglob("*.py")
    source = {p.relative_to(ROOT).as_posix() for p in sources if "__pycache__" not in p.parts}
    built = {f.removeprefix("python/") for f in files if f.endswith(".py") and f.startswith("python/stepdeploy/")}
    assert built == source, "the layer's stepdeploy is `stepdeploy/` copied whole"
    installed = {
        m.group(1).lower(): m.group(2)
        for p in (layer / "python").glob("*.dist-info")
        if (m := re.match(r"^(.+)-([^-]+)\.dist-info$", p.name))
    }
    for name, version in _pins().items():
        assert installed.get(name) == version, f"the layer lacks {name}=={version} of requirements/runtime.txt"
    assert binaries.foreign_binary(layer / "python", "3.12") is None, "compiled for another machine or Python"


def test_every_layer_module_imports_with_runtime_requirements_only(layer: Path, tmp_path: Path) -> None:
    python = runtimes.interpreter(LAYER_RUNTIME).executable
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(layer),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "stepdeploy",
    }
    # -I -S: no site-packages, no cwd, no PYTHONPATH; the runtime's boto3 last on the path, as on AWS.
    path_setup = f"import sys; sys.path.append({str(sdk.python_sdk(tmp_path))!r})\n"
    result = subprocess.run(
        [python, "-I", "-S", "-c", path_setup + IMPORT_ALL, str(layer / "python")],
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
