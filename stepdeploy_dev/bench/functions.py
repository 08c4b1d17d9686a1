"""The functions: the webhook's time per request, every function's cold import time and package size.

- Webhook per request: ``stepdeploy_dev.bench.webhook.request_times`` (the real handler in process, moto
  standing in for Secrets Manager, DynamoDB and EventBridge), repeated; medians over the repetitions.
  Requests per second on one core: the process is pinned to one CPU while it measures, and the figure
  is 1000 / the mean milliseconds of an accepted push (one request at a time, moto's work included).
- Cold import, as on Lambda: ``python -X importtime -c "import app"`` in ``functions/<name>``, with
  the layer's stepdeploy (what the Makefile puts there: no localcloud, no cli, no bytecode) first
  on the path and bytecode writing off, so our modules compile from source every time as they do
  from the read-only /opt of a Lambda layer shipped without .pyc; the dependencies load from their
  bytecode (pip compiles them into the layer). Also the same with every module from bytecode, to
  show what shipping .pyc would save. Median of several fresh interpreters.
- Package size: the function's zip (its ``functions/<name>`` directory, as ``sam package`` zips it)
  and the shared layer's zip: stepdeploy as above plus the distributions ``requirements/runtime.txt``
  resolves to, from this machine's virtual environment (x86_64 wheels for this Python, where the
  real layer has aarch64 ones for 3.12: an estimate), without bytecode.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from stepdeploy_dev.bench import webhook as bench_webhook
from stepdeploy_dev.bench.stats import median
from stepdeploy_localcloud.cloudformation.package import deterministic_zip

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"


def function_dirs() -> list[Path]:
    return sorted(p for p in FUNCTIONS_DIR.iterdir() if (p / "app.py").is_file())


# --- webhook ------------------------------------------------------------------------------------
def webhook_figures(runs: int, requests: int) -> dict[str, Any]:
    """Medians over ``runs`` of ``requests`` requests, on one CPU (where the OS lets us pin the process)."""
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(allowed)})
    try:
        samples = [bench_webhook.request_times(requests) for _ in range(runs)]
    finally:
        if pinned:
            os.sched_setaffinity(0, allowed)
    accepted = [s["accepted"] for s in samples]
    mean_ms = median([a["mean_ms"] for a in accepted])
    return {
        "runs": runs,
        "one_cpu": pinned,
        "requests_per_run": requests,
        "p50_ms": round(median([a["p50_ms"] for a in accepted]), 3),
        "p99_ms": round(median([a["p99_ms"] for a in accepted]), 3),
        "mean_ms": round(mean_ms, 3),
        "requests_per_second": round(1000 / mean_ms, 1),
        "refused_p50_ms": round(median([s["refused"]["p50_ms"] for s in samples]), 3),
        "refused_p99_ms": round(median([s["refused"]["p99_ms"] for s in samples]), 3),
        "first_request_ms": round(median([s["first_request_ms"] for s in samples]), 1),
    }


# --- imports ------------------------------------------------------------------------------------
def import_ms(function_dir: Path, python_path: list[Path], *, write_bytecode: bool = True,
              pycache_prefix: str | None = None) -> float:
    """Cumulative import time of ``app`` in ``function_dir``, in a fresh interpreter, in milliseconds."""
    env = {**os.environ, **bench_webhook.FUNCTION_ENVIRONMENT, "PYTHONPATH": os.pathsep.join(map(str, python_path))}
    env.pop("AWS_ENDPOINT_URL", None)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if pycache_prefix:
        env["PYTHONPYCACHEPREFIX"] = pycache_prefix
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"],
                         cwd=function_dir, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"{function_dir.name}: import app failed: {run.stderr[-800:]}")
    for line in run.stderr.splitlines():
        _, _, rest = line.partition("|")
        cumulative, _, name = rest.partition("|")
        if name.rstrip() == " app":  # the top-level line: everything app.py imports, nested
            return int(cumulative) / 1000
    raise RuntimeError(f"{function_dir.name}: python -X importtime printed no line for app: {run.stderr[-500:]}")


def copy_layer_package(target: Path) -> Path:
    """stepdeploy as the layer carries it, without bytecode, under ``target/python``; returns that dir."""
    python_dir = target / "python"
    shutil.copytree(ROOT / "stepdeploy", python_dir / "stepdeploy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return python_dir


def import_times(runs: int) -> dict[str, dict[str, float]]:
    """Per function: ``cold_ms`` (as on Lambda, see the module's doc) and ``bytecode_ms`` (all cached)."""
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as layer:
        layer_python = copy_layer_package(Path(layer))
        for function_dir in function_dirs():
            import_ms(function_dir, [ROOT])  # writes the bytecode cache for the cached figure
            cold, cached = [], []
            for _ in range(runs):  # interleaved, so that a change in the machine's load touches both alike
                cold.append(import_ms(function_dir, [layer_python], write_bytecode=False))
                cached.append(import_ms(function_dir, [ROOT]))
            figures[function_dir.name] = {"cold_ms": round(median(cold), 1), "bytecode_ms": round(median(cached), 1)}
    return figures


# --- package sizes ------------------------------------------------------------------------------
def runtime_distributions(requirements: Path = RUNTIME_REQUIREMENTS) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``pip install -r requirements`` would put in the layer, dependencies included."""
    pending = [Requirement(line.split("#", 1)[0].strip()) for line in requirements.read_text().splitlines()
               if line.split("#", 1)[0].strip()]
    found: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        distribution = importlib.metadata.distribution(requirement.name)
        found[key] = distribution
        for text in distribution.requires or []:
            dependency = Requirement(text)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                pending.append(dependency)
    return sorted(found.values(), key=lambda d: d.metadata["Name"].lower())


def copy_distributions(distributions: list[importlib.metadata.Distribution], target: Path) -> None:
    for distribution in distributions:
        for file in distribution.files or []:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or ".." in file.parts:
                continue
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                destination = target / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def package_sizes() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as work:
        own = Path(work) / "own"
        copy_layer_package(own)
        full = Path(work) / "full"
        python_dir = copy_layer_package(full)
        distributions = runtime_distributions()
        copy_distributions(distributions, python_dir)
        layer = {
            "stepdeploy_zip_bytes": len(deterministic_zip(own)),
            "zip_bytes": len(deterministic_zip(full)),
            "unzipped_bytes": _tree_bytes(full),
            "distributions": [f"{d.metadata['Name']}=={d.version}" for d in distributions],
        }
    functions = {d.name: len(deterministic_zip(d)) for d in function_dirs()}
    return {"layer": layer, "function_zip_bytes": functions}


def measure(*, request_runs: int, requests: int, import_runs: int) -> dict[str, Any]:
    return {
        "webhook": webhook_figures(request_runs, requests),
        "imports": import_times(import_runs),
        "packages": package_sizes(),
    }
