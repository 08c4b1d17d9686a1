"""The Lambda layer as `sam build` makes it imports with nothing but its runtime dependencies, and fast.

`template.yaml` builds `StepdeployLayer` from `layer/` with `BuildMethod: makefile`: `sam build` copies that
folder to a scratch folder and runs `make --makefile layer/Makefile build-StepdeployLayer` there with
`ARTIFACTS_DIR` set (the local cloud's packager runs it in `layer/` itself). This test does the same, then
imports every module of the built layer in a virtual environment holding only `requirements/runtime.txt`
plus the boto3 and botocore that the Lambda runtime brings (stepdeploy_dev.layer_env). A module that
reaches for a development-only package (moto, typer, rich...) or for another root of the repository fails
here by name. In the same environment every function's `app` imports without the X-Ray SDK, boto3's
session and clients or PyYAML (unless it parses YAML): those come when an invocation first needs them.

The virtual environment is cached under `build/` keyed by a hash of what it holds, so reruns take seconds.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from stepdeploy_dev.layer_env import (
    LAMBDA_RUNTIME_DEPENDENCIES,
    LAMBDA_RUNTIME_PACKAGES,
    layer_venv,
    runtime_pins,
)

pytestmark = [pytest.mark.unit, pytest.mark.layer, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
YAML_READERS = {"package_artifact"}  # reads the application's template (stepdeploy.template.cfn_yaml)

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

# Run inside the layer's environment, in functions/<name>: import app as Lambda does, report what came along.
IMPORT_APP = """
import json, sys
sys.path[:0] = [".", sys.argv[1]]
import app
print(json.dumps(sorted(sys.modules)))
"""

# A traced handler with tracing on (as on Lambda, trace not sampled): the Tracer comes at the first call.
TRACED_CALL = """
import json, sys
sys.path.insert(0, sys.argv[1])
from stepdeploy.observability import annotate, trace_handler

@trace_handler
def handler(event, context):
    annotate(stack="probe")
    return {"answer": event["question"] * 2}

before = "aws_xray_sdk" in sys.modules
answer = handler({"question": 21}, None)
from aws_xray_sdk.core import patcher
print(json.dumps({"before": before, "answer": answer, "after": "aws_xray_sdk.core" in sys.modules,
                  "patched": sorted(patcher._PATCHED_MODULES)}))
"""
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def _lambda_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "stepdeploy",
        **extra,
    }


def _run_in_layer(code: str, layer: Path, cwd: Path, env: dict[str, str]) -> str:
    python = layer_venv() / "bin" / "python"
    result = subprocess.run(
        [str(python), "-I", "-c", code, str(layer / "python")],  # -I: no cwd, no PYTHONPATH, no user site
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make build-StepdeployLayer` the way `sam build` runs it (in a copy of layer/); the artifacts directory."""
    artifacts = tmp_path_factory.mktemp("layer")
    scratch = tmp_path_factory.mktemp("scratch") / "layer"
    shutil.copytree(ROOT / "layer", scratch)
    env = dict(os.environ, ARTIFACTS_DIR=str(artifacts), STEPDEPLOY_LOCAL_BUILD="1")
    result = subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(ROOT / "layer" / "Makefile"), "build-StepdeployLayer"],
        cwd=scratch, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"make build-StepdeployLayer failed:\n{result.stdout}\n{result.stderr}"
    # The local build also carries the packages, built for the layer's Python (3.12; what the layer holds is
    # checked by test_layer_local_runtime.py). Here the runtime package alone is imported, with those packages
    # from layer_venv() at the same pins for this interpreter.
    for entry in (artifacts / "python").iterdir():
        if entry.name != "stepdeploy":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return artifacts


def test_sam_copies_the_layers_makefile_alone() -> None:
    """ContentUri is what `sam build` copies before it builds: the repository root would take its .venv along."""
    assert sorted(p.name for p in (ROOT / "layer").iterdir()) == ["Makefile"]
    template = (ROOT / "template.yaml").read_text()
    assert re.search(r"^      ContentUri: layer/", template, re.M)
    assert re.search(r"^      BuildArchitecture: arm64$", template, re.M)


def test_the_runtime_requirements_are_closed_under_dependencies() -> None:
    """The layer installs runtime.txt with --no-deps: every dependency is pinned there or comes with the runtime."""
    pins = runtime_pins()
    provided = {*LAMBDA_RUNTIME_PACKAGES, *LAMBDA_RUNTIME_DEPENDENCIES}
    assert not provided & set(pins), f"runtime.txt pins what the Lambda runtime brings: {sorted(provided & set(pins))}"
    missing = []
    for name, pin in pins.items():
        distribution = importlib.metadata.distribution(name)
        assert distribution.version == pin.split("==")[1], f"this environment has {name} {distribution.version}"
        for text in distribution.requires or []:
            dependency = Requirement(text)
            if dependency.marker is not None and not dependency.marker.evaluate({"extra": ""}):
                continue
            key = dependency.name.lower().replace("_", "-")
            if key not in pins and key not in provided:
                missing.append(f"{name} needs {dependency}")
            elif key in pins and not dependency.specifier.contains(pins[key].split("==")[1], prereleases=True):
                missing.append(f"{name} needs {dependency}, runtime.txt pins {pins[key]}")
    assert not missing, "requirements/runtime.txt is not closed:\n" + "\n".join(missing)


def test_every_layer_module_imports_with_runtime_requirements_only(layer: Path) -> None:
    report = json.loads(_run_in_layer(IMPORT_ALL, layer, layer, _lambda_env(layer)))
    assert Path(report["file"]).is_relative_to(layer), f"imported stepdeploy from {report['file']}, not the layer"
    assert len(report["modules"]) > 10
    failures = report["failures"]
    assert not failures, "modules of the layer that do not import with requirements/runtime.txt only:\n" + "\n".join(
        f"- {name}:\n{trace}" for name, trace in sorted(failures.items())
    )
    assert not report["outside"], f"the layer pulled in {report['outside']}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_imports_what_its_first_call_needs_later(layer: Path, function: str) -> None:
    """Tracing on as on Lambda: the X-Ray SDK, boto3's session and clients and PyYAML wait for their first use."""
    env = _lambda_env(layer, LAMBDA_TASK_ROOT=str(ROOT / "functions" / function), _X_AMZN_TRACE_ID=TRACE_ID)
    modules = set(json.loads(_run_in_layer(IMPORT_APP, layer, ROOT / "functions" / function, env)))
    assert "app" in modules
    deferred = {"aws_xray_sdk", "wrapt", "boto3", "botocore.session", "botocore.client", "s3transfer", "urllib3"}
    if function not in YAML_READERS:
        deferred.add("yaml")
    assert not deferred & modules, f"{function}: `import app` imported {sorted(deferred & modules)}"


def test_a_traced_handler_makes_the_tracer_at_its_first_call(layer: Path) -> None:
    env = _lambda_env(layer, LAMBDA_TASK_ROOT=str(layer), _X_AMZN_TRACE_ID=TRACE_ID)
    report = json.loads(_run_in_layer(TRACED_CALL, layer, layer, env))
    assert report == {"before": False, "answer": {"answer": 42}, "after": True, "patched": ["botocore", "httplib"]}


def test_no_tracer_where_powertools_would_not_trace(layer: Path) -> None:
    unpatched = "patcher = type('P', (), {'_PATCHED_MODULES': ()})"
    code = TRACED_CALL.replace("from aws_xray_sdk.core import patcher", unpatched)
    env = _lambda_env(layer, LAMBDA_TASK_ROOT=str(layer), POWERTOOLS_TRACE_DISABLED="true")
    report = json.loads(_run_in_layer(code, layer, layer, env))
    assert report == {"before": False, "answer": {"answer": 42}, "after": False, "patched": []}
