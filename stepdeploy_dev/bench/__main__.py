"""`python -m stepdeploy_dev.bench` (`make bench`): every benchmark, docs/benchmarks.md, and a JSON summary.

Each part runs in a process of its own (``--part NAME --result FILE``), so that one local cloud's
threads and workers never touch the next part's figures, and a failing part is reported while the
others still run. Progress goes to stderr; the last line on stdout is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stepdeploy_dev.bench import machine, report

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "build" / "benchmarks-results.json"  # every figure of the last run, to render again
PARTS = ("functions", "suite", "demo", "latency", "load", "load-busy")


@dataclass(frozen=True)
class Settings:
    webhook_runs: int
    webhook_requests: int
    import_runs: int
    demo_runs: int
    load_repositories: int
    load_pushes_each: int
    load_timeout: float
    run_suite: bool


FULL = Settings(webhook_runs=5, webhook_requests=300, import_runs=3, demo_runs=2,
                load_repositories=20, load_pushes_each=5, load_timeout=600.0, run_suite=True)
QUICK = Settings(webhook_runs=1, webhook_requests=100, import_runs=1, demo_runs=1,
                 load_repositories=4, load_pushes_each=3, load_timeout=180.0, run_suite=False)
PART_TIMEOUT_SECONDS = {"functions": 900.0, "suite": 1500.0, "demo": 900.0, "latency": 1500.0, "load": 600.0,
                        "load-busy": 600.0}
BUSY_LOAD_TIMEOUT_FACTOR = 2.0  # the load beside a CPU hog may wait twice as long for its executions


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- one part, in a child process ------------------------------------------------------------------
def run_part(part: str, settings: Settings, speed: float) -> dict[str, Any]:
    if part == "functions":
        from stepdeploy_dev.bench import functions

        return functions.measure(request_runs=settings.webhook_runs, requests=settings.webhook_requests,
                                 import_runs=settings.import_runs)
    if part == "suite":
        from stepdeploy_dev.bench import suite

        return suite.run_suite()
    if part == "demo":
        from stepdeploy_dev.bench import demo_runs

        return demo_runs.run_once(speed)
    if part == "latency":
        from stepdeploy_dev.bench import demo_runs

        deployments = 2 if settings is QUICK else demo_runs.LATENCY_DEPLOYMENTS

        def short(demo: Any) -> list[dict[str, Any]]:
            return demo_runs.latency_scenarios(demo, deployments)

        # Now, then the polling design that token waits replaced, on the same scenarios: short deployments
        # at a slow clock for the latency, the demo's scenarios for transitions, invocations and price.
        return {
            **demo_runs.aggregate([demo_runs.run_once(demo_runs.LATENCY_SPEED, script=short)]),
            "before": {
                "latency": demo_runs.aggregate([demo_runs.run_once(demo_runs.LATENCY_SPEED, script=short,
                                                                   design="polling")]),
                "demo": demo_runs.aggregate([demo_runs.run_once(speed, design="polling")]),
            },
        }
    if part == "load":
        from stepdeploy_dev.bench import load

        return load.run_load(settings.load_repositories, settings.load_pushes_each, speed=speed,
                             timeout=settings.load_timeout)
    if part == "load-busy":
        from stepdeploy_dev.bench import load
        from stepdeploy_dev.bench.cpu_hog import cpu_hog

        # The same load while one busy loop per CPU competes with it (started and killed here).
        with cpu_hog() as hogs:
            result = load.run_load(settings.load_repositories, settings.load_pushes_each, speed=speed,
                                   timeout=settings.load_timeout * BUSY_LOAD_TIMEOUT_FACTOR)
        return {**result, "cpu_hog_processes": len(hogs)}
    raise ValueError(f"unknown part {part!r}; the parts are {', '.join(PARTS)}")


def child_main(part: str, result_file: Path, settings: Settings, speed: float) -> int:
    try:
        result: dict[str, Any] = {"result": run_part(part, settings, speed)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which carries on with the other parts
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result_file.write_text(json.dumps(result, default=str))
    return 0 if "result" in result else 1


def in_child(part: str, quick: bool, speed: float) -> dict[str, Any]:
    """Run one part in a fresh interpreter; its stdout and stderr go to our stderr."""
    with tempfile.TemporaryDirectory(prefix="stepdeploy-bench-") as work:
        result_file = Path(work) / "result.json"
        command = [sys.executable, "-m", "stepdeploy_dev.bench", "--part", part, "--result", str(result_file),
                   "--speed", repr(speed), *(["--quick"] if quick else [])]
        load_timeout = QUICK.load_timeout if quick else FULL.load_timeout
        timeout = PART_TIMEOUT_SECONDS[part] + {"load": load_timeout,
                                                "load-busy": load_timeout * BUSY_LOAD_TIMEOUT_FACTOR}.get(part, 0.0)
        try:
            subprocess.run(command, cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"the {part} part did not finish within {timeout:.0f} s"}
        if not result_file.exists():
            return {"error": f"the {part} part ended without a result (see its output above)"}
        return dict(json.loads(result_file.read_text()))


# --- everything, in the parent -------------------------------------------------------------------
def check_state_machine() -> str | None:
    from stepdeploy_dev.bench.demo_runs import load_asl
    from stepdeploy_dev.bench.waits import AslMismatch

    try:
        load_asl()
    except AslMismatch as mismatch:
        return str(mismatch)
    return None


def output_path(requested: str | None, quick: bool, partial: bool, failed: bool) -> Path:
    if requested:
        return Path(requested)
    if quick:
        return ROOT / "build" / "benchmarks-quick.md"
    if partial:
        return ROOT / "build" / "benchmarks-partial.md"
    if failed:
        return ROOT / "build" / "benchmarks-failed.md"
    return DOC


def main(argv: list[str] | None = None) -> int:
    from stepdeploy_localcloud.clock import DEFAULT_SPEED

    parser = argparse.ArgumentParser(prog="python -m stepdeploy_dev.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, a small load; for development")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--output", help="where to write the document (default: docs/benchmarks.md for a full run)")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="the local cloud's clock speed")
    parser.add_argument("--render", metavar="RESULTS", help="write the document again from a results file "
                        "(build/benchmarks-results.json), measuring nothing")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.part:
        return child_main(args.part, Path(args.result), settings, args.speed)

    if args.render:
        results = json.loads(Path(args.render).read_text())
        return finish(results, args.output, results.get("quick", False), results.get("partial", False))

    selected = [p for p in PARTS if (p in args.only if args.only else p != "suite" or settings.run_suite)]
    if {"demo", "latency", "load"} & set(selected) and (problem := check_state_machine()):
        log(f"error: {problem}")
        return 2
    from stepdeploy_dev.bench.demo_runs import SETTLE_SECONDS
    from stepdeploy_dev.bench.load import REDELIVERIES

    results: dict[str, Any] = {"quick": args.quick, "speed": args.speed,
                               "settings": {**asdict(settings), "redeliveries": REDELIVERIES,
                                            "settle_seconds": SETTLE_SECONDS},
                               "machine": machine.describe(), "errors": {}}
    started = time.monotonic()
    for part in selected:
        log(f"bench: {part} ...")
        part_started = time.monotonic()
        if part == "demo":
            outcomes = [in_child("demo", args.quick, args.speed) for _ in range(settings.demo_runs)]
            runs = [o["result"] for o in outcomes if "result" in o]
            errors = [o["error"] for o in outcomes if "error" in o]
            if errors:
                results["errors"]["demo"] = "; ".join(errors)
            if runs:
                from stepdeploy_dev.bench.demo_runs import aggregate

                results["demo"] = aggregate(runs)
        else:
            outcome = in_child(part, args.quick, args.speed)
            if "error" in outcome:
                results["errors"][part] = outcome["error"]
            else:
                results[part] = outcome["result"]
        log(f"bench: {part} took {time.monotonic() - part_started:.0f} s")
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["load_average_at_end"] = machine.load_average()
    results["partial"] = bool(args.only)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    return finish(results, args.output, args.quick, bool(args.only))


def finish(results: dict[str, Any], output: str | None, quick: bool, partial: bool) -> int:
    """Write the document, print the summary as the last line; non-zero if a part failed."""
    summary = report.summary(results)
    path = output_path(output, quick, partial, bool(results["errors"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.render(results, summary))
    log(f"bench: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(json.dumps(summary), flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
