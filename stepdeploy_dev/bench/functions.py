"""The functions: the webhook's time per request, every function's cold import time and package size.

- Webhook per request: ``stepdeploy_dev.bench.webhook.request_times`` (the real handler in process, moto
  standing in for Secrets Manager, DynamoDB and EventBridge), repeated; medians over the repetitions.
  Requests per second on one core: the process is pinned to one CPU while it measures, and the figure
  is 1000 / the mean milliseconds of an accepted push (one request at a time, moto's work included).
- Cold import, as on Lambda: ``python -X importtime -c "import app"`` in ``functions/<name>``, in the
  environment a function has on Lambda (stepdeploy_dev.layer_env: the layer's pins and the runtime's
  boto3, nothing else), with Lambda's variables (LAMBDA_TASK_ROOT, a trace header: tracing on), the
  layer's stepdeploy (what layer/Makefile puts there: no localcloud, no cli) first on the path and
  bytecode writing off, so our modules compile from source every time; the dependencies load from
  their bytecode (the layer ships it, compiled by Python 3.12). Also the CPU time of the same import
  (the interpreter's own start subtracted), steadier than wall time on a shared machine, and the
  import with every module from bytecode. Median of several fresh interpreters.
- Package size: the function's zip (its ``functions/<name>`` directory, as ``sam package`` zips it)
  and the shared layer as ``layer/Makefile`` builds it for ``sam build`` (arm64 wheels for Python 3.12
  from the package index, with bytecode); where that build cannot run (no index), an estimate from this
  machine's virtual environment (its wheels, without bytecode).
- ``sam build`` wall time from a fresh clone of the committed tree (``git clone``, then ``sam build
  --no-cached``), when a SAM CLI is on PATH (or named by SAM_CLI) and python3.12 with it; else not measured.
"""

from __future__ import annotations

import importlib.metadata
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from stepdeploy_dev.bench import webhook as bench_webhook
from stepdeploy_dev.bench.stats import median
from stepdeploy_dev.layer_env import layer_venv, runtime_pins
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
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def _lambda_environment(function_dir: Path, python_path: list[Path]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **bench_webhook.FUNCTION_ENVIRONMENT,
        "LAMBDA_TASK_ROOT": str(function_dir),
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "PYTHONPATH": os.pathsep.join(map(str, python_path)),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def _child_cpu_ms(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return run, (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def import_ms(python: Path, function_dir: Path, python_path: list[Path], *,
              write_bytecode: bool = True) -> tuple[float, float]:
    """Cumulative import time of ``app`` in ``function_dir``, and the CPU time of the process, in milliseconds."""
    env = _lambda_environment(function_dir, python_path)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    run, cpu = _child_cpu_ms([str(python), "-X", "importtime", "-c", "import app"], function_dir, env)
    if run.returncode != 0:
        raise RuntimeError(f"{function_dir.name}: import app failed: {run.stderr[-800:]}")
    for line in run.stderr.splitlines():
        _, _, rest = line.partition("|")
        cumulative, _, name = rest.partition("|")
        if name.rstrip() == " app":  # the top-level line: everything app.py imports, nested
            return int(cumulative) / 1000, cpu
    raise RuntimeError(f"{function_dir.name}: python -X importtime printed no line for app: {run.stderr[-500:]}")


def copy_layer_package(target: Path) -> Path:
    """stepdeploy as the layer carries it, without bytecode, under ``target/python``; returns that dir."""
    python_dir = target / "python"
    shutil.copytree(ROOT / "stepdeploy", python_dir / "stepdeploy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return python_dir


def import_times(runs: int) -> dict[str, dict[str, float]]:
    """Per function: ``cold_ms`` and ``cpu_ms`` (as on Lambda, see the module's doc), ``bytecode_ms`` (all cached)."""
    python = layer_venv() / "bin" / "python"
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as layer:
        layer_python = copy_layer_package(Path(layer))
        start_env = _lambda_environment(Path(layer), [])
        start_cpu = median([_child_cpu_ms([str(python), "-c", "pass"], Path(layer), start_env)[1] for _ in range(runs)])
        for function_dir in function_dirs():
            import_ms(python, function_dir, [ROOT])  # writes the bytecode cache for the cached figure
            cold, cpu, cached = [], [], []
            for _ in range(runs):  # interleaved, so that a change in the machine's load touches both alike
                wall, cpu_ms = import_ms(python, function_dir, [layer_python], write_bytecode=False)
                cold.append(wall)
                cpu.append(cpu_ms - start_cpu)
                cached.append(import_ms(python, function_dir, [ROOT])[0])
            figures[function_dir.name] = {"cold_ms": round(median(cold), 1), "cpu_ms": round(median(cpu), 1),
                                          "bytecode_ms": round(median(cached), 1)}
    return figures


# --- package sizes ------------------------------------------------------------------------------
def runtime_distributions() -> list[importlib.metadata.Distribution]:
    """The installed distributions of ``requirements/runtime.txt`` (the layer installs exactly these, --no-deps)."""
    found = [importlib.metadata.distribution(name) for name in runtime_pins()]
    return sorted(found, key=lambda d: d.metadata["Name"].lower())


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


def build_layer(target: Path) -> None:
    """``make build-StepdeployLayer`` as ``sam build`` runs it: in a copy of layer/, with ARTIFACTS_DIR set."""
    scratch = target.parent / "layer-scratch"
    shutil.copytree(ROOT / "layer", scratch)
    run = subprocess.run(["make", "--no-print-directory", "--makefile", str(ROOT / "layer" / "Makefile"),
                          "build-StepdeployLayer"], cwd=scratch, env={**os.environ, "ARTIFACTS_DIR": str(target)},
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"make build-StepdeployLayer failed: {run.stderr[-800:]}")


def package_sizes() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as work:
        own = Path(work) / "own"
        copy_layer_package(own)
        full = Path(work) / "full"
        distributions = runtime_distributions()
        try:
            build_layer(full)
            built = "layer/Makefile: arm64 wheels for Python 3.12, with bytecode"
        except RuntimeError as problem:
            shutil.rmtree(full, ignore_errors=True)
            copy_distributions(distributions, copy_layer_package(full))
            built = f"estimate from this environment's wheels, without bytecode ({str(problem)[:200]})"
        layer = {
            "built": built,
            "stepdeploy_zip_bytes": len(deterministic_zip(own)),
            "zip_bytes": len(deterministic_zip(full)),
            "unzipped_bytes": _tree_bytes(full),
            "distributions": [f"{d.metadata['Name']}=={d.version}" for d in distributions],
        }
    functions = {d.name: len(deterministic_zip(d)) for d in function_dirs()}
    return {"layer": layer, "function_zip_bytes": functions}


# --- sam build ----------------------------------------------------------------------------------
def sam_build_seconds() -> dict[str, Any]:
    """``sam build --no-cached`` in a fresh clone of HEAD; ``{"seconds": None, "why": ...}`` without a SAM CLI."""
    sam = os.environ.get("SAM_CLI") or shutil.which("sam")
    if not sam:
        return {"seconds": None, "why": "no SAM CLI on PATH (nor SAM_CLI)"}
    if not shutil.which("python3.12"):
        return {"seconds": None, "why": "sam build needs python3.12 on PATH for the python3.12 functions"}
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as work:
        clone = Path(work) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True)
        started = time.monotonic()
        run = subprocess.run([sam, "build", "--no-cached"], cwd=clone, env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
                             capture_output=True, text=True, check=False)
        seconds = round(time.monotonic() - started, 1)
    if run.returncode != 0:
        return {"seconds": None, "why": f"sam build failed: {(run.stderr or run.stdout)[-300:]}"}
    return {"seconds": seconds, "why": None}


def measure(*, request_runs: int, requests: int, import_runs: int) -> dict[str, Any]:
    return {
        "webhook": webhook_figures(request_runs, requests),
        "imports": import_times(import_runs),
        "packages": package_sizes(),
        "sam_build": sam_build_seconds(),
    }
