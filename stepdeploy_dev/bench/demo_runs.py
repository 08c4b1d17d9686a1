"""The demo's six scenarios, measured: transitions, Lambda invocations, price, phases and added latency per wait.

One run = one local cloud and the scenarios of ``stepdeploy_cli.demo.runner``, exactly as ``make demo`` runs
them (the Demo class), with two additions after each scenario, not counted in the demo's wall time:
a short pause so that functions triggered by the execution's end (the finaliser) are attributed to
it, and reading its history and the services' timestamps.

Durations: the local cloud runs change sets, stack operations, canary steps, bake times and the
Check functions' poll intervals on a clock ``speed`` times faster than AWS; a real second there is
``speed`` AWS seconds. Those phases and every added latency are reported in AWS seconds (real x
speed). A local build really runs the buildspec, and the other functions do work, not waiting: their
real durations are used as they are. Lambda billed durations follow the same rule: the Check
functions of the accelerated loops, real duration x speed; every other function, real duration.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stepdeploy_cli.demo.runner import GREETER_V2, SAMPLE_APP, Demo, sample_app_on_local_cloud, scenarios
from stepdeploy_dev.bench import history, pricing, token_waits, waits
from stepdeploy_dev.bench.invocations import Recorder, recording
from stepdeploy_dev.bench.services import ACCELERATED, ChangeSetWatcher, Phase, ServiceReader
from stepdeploy_dev.bench.stats import median
from stepdeploy_localcloud.cloud import PROJECT_ROOT, LocalCloud

ASL_PATH = PROJECT_ROOT / "statemachines" / "deploy.asl.json"
HEADLINE_SCENARIO = "code change (canary)"
SETTLE_SECONDS = 0.5
# The latency part: a slower clock, so that local overhead (scaled by the speed like everything inside
# an accelerated phase) weighs less in the AWS seconds reported; all at once and a one-minute bake keep
# each deployment short in real time.
LATENCY_SPEED = 6.0
LATENCY_DEPLOYMENTS = 4
ARCHITECTURE = "arm64"  # template.yaml: Globals.Function.Architectures


def load_asl(path: Path = ASL_PATH) -> dict[str, Any]:
    asl: dict[str, Any] = json.loads(path.read_text())
    waits.check_asl(asl)
    return asl


def history_events(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


@dataclass
class ScenarioRecord:
    name: str
    result: dict[str, Any]
    started: float
    ended: float
    visits: list[history.StateVisit]
    phases: dict[str, Phase]
    waits: list[token_waits.WaitOutcome]


class MeasuredDemo(Demo):
    def __init__(
        self, cloud: LocalCloud, worktree: Path, console: Console, speed: float, change_sets: ChangeSetWatcher
    ) -> None:
        super().__init__(cloud, worktree, console, live=False)
        self.reader = ServiceReader(cloud, speed, change_sets)
        self.records: list[ScenarioRecord] = []
        self.measuring_seconds = 0.0

    def run(self, name: str, trigger: Any, expect: Any) -> dict[str, Any]:
        started = time.time()
        result = super().run(name, trigger, expect)
        clock = time.monotonic()
        time.sleep(SETTLE_SECONDS)
        events = history_events(self.sfn, result["execution_arn"])
        visits = history.state_visits(events)
        phases = self.reader.phases(visits)
        self.records.append(ScenarioRecord(name, result, started, time.time(), visits, phases,
                                           token_waits.wait_outcomes(events)))
        self.measuring_seconds += time.monotonic() - clock
        return result


def _seconds(start: Any, end: Any, speed: float) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * speed, 3)


def measure_scenario(
    record: ScenarioRecord,
    recorder: Recorder,
    functions: dict[str, str],
    waiting: dict[str, str],
    speed: float,
    design: str = "events",
) -> dict[str, Any]:
    """Everything about one scenario. ``functions``: physical name -> logical id of the orchestrator's
    functions; ``waiting``: logical id of each wait loop's Check function -> the loop's wait state;
    ``design``: "events" (token waits; only the change set's Check sleeps on the clock while it polls)
    or "polling" (every Check polls its service on the clock, the design before)."""
    accelerated_waits = {loop.wait for loop in waits.WAIT_LOOPS
                         if loop.key in ACCELERATED and (design == "polling" or not loop.token)}
    calls = recorder.between(record.started, record.ended, set(functions))
    invocations = [
        pricing.Invocation(functions[c.function], c.memory_mb,
                           c.seconds * speed if waiting.get(functions[c.function]) in accelerated_waits else c.seconds)
        for c in calls
    ]
    transitions = history.transitions(record.visits)
    cost = pricing.deployment_cost(transitions, invocations, ARCHITECTURE)
    phase_seconds = {key: phase.seconds(speed) for key, phase in record.phases.items()}
    first = record.visits[0] if record.visits else None  # the request is resolved: CodePipeline's source action
    source_seconds = _seconds(first.entered_at, first.exited_at, 1.0) if first else None  # work, not waiting
    actions = pricing.equivalent_pipeline(source_seconds or 0.0, phase_seconds)
    codepipeline_usd = pricing.codepipeline_v2_cost(actions)

    latencies: dict[str, dict[str, Any]] = {}
    for loop in waits.WAIT_LOOPS:
        exits = waits.loop_exits(record.visits, loop)
        phase = record.phases.get(loop.key)
        if not exits or phase is None or phase.finished_at is None or exits[-1].exited_at is None:
            continue
        latencies[loop.wait] = {
            "seconds": round(waits.added_latency_seconds(phase.finished_at, exits[-1].exited_at, speed), 3),
            "real_ms": round((exits[-1].exited_at - phase.finished_at).total_seconds() * 1000, 1),
            "left": "done" if waits.left_done(exits[-1], loop) else "failed",
            "completion": phase.source,
            "check_visits": sum(1 for v in record.visits if v.name == loop.check),
        }
    return {
        "name": record.name,
        "status": record.result["status"],
        "outcome": record.result["outcome"],
        "error": record.result.get("error"),
        "as_expected": record.result["as_expected"],
        "wall_seconds": record.result["wall_seconds"],
        "transitions": transitions,
        "task_invocations": history.task_attempts(record.visits),
        "lambda_invocations": len(invocations),
        "lambda_by_function": dict(sorted(Counter(i.function for i in invocations).items())),
        "cost": cost.as_dict(),
        "phases_aws_seconds": {"source": source_seconds, **phase_seconds},
        "codepipeline_v2": {
            "actions": [{"name": a.name, "seconds": round(a.seconds, 1), "minutes": pricing.action_minutes(a)}
                        for a in actions],
            "usd": round(codepipeline_usd, 6),
        },
        "added_latency": latencies,
        "resumed_by": token_waits.resumed_counts(record.waits),
    }


# The design that token waits replaced (main at acee852): Start X led straight to Check X, which polled its
# service every second within one invocation for up to POLL_BUDGET_SECONDS=600; a 2 s Wait state looped back
# to the Check when a wait outlasted the budget; Bake polled the alarms the same way.
POLLING_BUDGET_SECONDS = "600"
POLLING_STARTS = {"Wait for build": "Start build", "Wait for stack": "Execute change set",
                  "Wait for traffic shift": "Start traffic shift"}


def poll_in_invocations(cloud: LocalCloud) -> None:
    """Turn the deployed orchestrator into the polling design: every Check polls for up to 600 s within
    its invocation (function timeout 660 s, task timeout 700 s) and each token wait is a 2 s Wait state
    that the Check's Choice loops through, as before the change."""
    assert cloud.orchestrator is not None
    asl = load_asl()
    lam, sfn = cloud.client("lambda"), cloud.client("stepfunctions")
    for logical_id in waits.waiting_functions(asl):
        name = cloud.orchestrator.resources[logical_id]
        variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        lam.update_function_configuration(
            FunctionName=name, Timeout=660,
            Environment={"Variables": {**variables, "POLL_BUDGET_SECONDS": POLLING_BUDGET_SECONDS}},
        )
    arn = cloud.orchestrator.state_machine_arn
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    states = definition["States"]
    for loop in waits.WAIT_LOOPS:
        states[loop.check]["TimeoutSeconds"] = 700
        if loop.token:
            states[loop.wait] = {"Type": "Wait", "Seconds": 2, "Next": loop.check}
        if loop.wait in POLLING_STARTS:
            states[POLLING_STARTS[loop.wait]]["Next"] = loop.check
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))


def latency_scenarios(demo: Demo, deployments: int = LATENCY_DEPLOYMENTS) -> list[dict[str, Any]]:
    """A first push, then code changes, each waiting on a build, a change set, a stack update, an
    all-at-once traffic shift and a one-minute bake."""
    config = (SAMPLE_APP / "stepdeploy.yml").read_text()
    quick = config.replace("strategy: LambdaCanary10Percent5Minutes", "strategy: LambdaAllAtOnce")
    quick = quick.replace("bake_minutes: 2", "bake_minutes: 1")
    if quick == config or "LambdaAllAtOnce" not in quick or "bake_minutes: 1" not in quick:
        raise ValueError("examples/sample-app/stepdeploy.yml no longer has the strategy and bake_minutes the "
                         "latency part replaces (stepdeploy_dev/bench/demo_runs.py latency_scenarios)")
    results = [demo.run("first push (all at once)", lambda: demo.push("First version", {"stepdeploy.yml": quick}),
                        lambda r: r["status"] == "SUCCEEDED")]
    for n in range(1, deployments):
        edits = {"greeter/app.py": GREETER_V2.replace("Welcome back.", f"Welcome back, {n}.")}
        results.append(demo.run(f"code change {n} (all at once)", lambda e=edits, k=n: demo.push(f"Change {k}", e),
                                lambda r: r["status"] == "SUCCEEDED"))
    return results


def run_once(
    speed: float, log: Any = sys.stderr, script: Callable[[Demo], list[dict[str, Any]]] = scenarios,
    design: str = "events",
) -> dict[str, Any]:
    """One local cloud, the scenarios of ``script`` (the demo's six by default), every figure of every one;
    ``design`` "polling" turns the cloud into the design before token waits first (poll_in_invocations)."""
    if design not in ("events", "polling"):
        raise ValueError(f"design must be 'events' or 'polling', got {design!r}")
    asl = load_asl()  # before a minute is spent: fail now if the state names changed
    waiting_logical = waits.waiting_functions(asl)
    console = Console(file=io.StringIO(), width=120)
    started = time.monotonic()
    measured: list[dict[str, Any]] = []
    measuring_seconds = 0.0
    change_sets = ChangeSetWatcher()

    def measured_demo(cloud: LocalCloud, worktree: Path, _console: Console, _live: bool) -> MeasuredDemo:
        return MeasuredDemo(cloud, worktree, console, speed, change_sets)

    with recording() as recorder, sample_app_on_local_cloud("stepdeploy-bench-demo-", speed=speed,
                                                            make_demo=measured_demo) as demo:
        assert isinstance(demo, MeasuredDemo) and demo.cloud.orchestrator is not None
        if design == "polling":
            poll_in_invocations(demo.cloud)
        change_sets.start()
        try:
            script(demo)
            clock = time.monotonic()
            resources = demo.cloud.orchestrator.resources
            functions = {physical: logical for logical, physical in resources.items() if physical}
            measured = [measure_scenario(r, recorder, functions, waiting_logical, speed, design)
                        for r in demo.records]
            measuring_seconds = demo.measuring_seconds + time.monotonic() - clock
        finally:
            change_sets.stop()
    wall = time.monotonic() - started - measuring_seconds
    for scenario in measured:
        print(f"  {scenario['name']}: {scenario['status']} transitions={scenario['transitions']} "
              f"lambda={scenario['lambda_invocations']} ${scenario['cost']['total_usd']:.6f}", file=log)
    return {"speed": speed, "design": design, "wall_seconds": round(wall, 2), "scenarios": measured,
            "waiting_functions": waiting_logical}


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(sorted(total.items()))


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs, per scenario; added latencies pooled over runs and scenarios, per wait."""
    names = [s["name"] for s in runs[0]["scenarios"]]
    per_scenario: dict[str, dict[str, Any]] = {}
    for name in names:
        samples = [s for run in runs for s in run["scenarios"] if s["name"] == name]
        per_scenario[name] = {
            "runs": len(samples),
            "all_as_expected": all(s["as_expected"] for s in samples),
            "status": samples[0]["status"],
            "outcome": samples[0]["outcome"],
            "error": samples[0].get("error"),
            "transitions": median([s["transitions"] for s in samples]),
            "lambda_invocations": median([s["lambda_invocations"] for s in samples]),
            "lambda_gb_seconds": round(median([s["cost"]["lambda_gb_seconds"] for s in samples]), 3),
            "step_functions_usd": round(median([s["cost"]["step_functions_usd"] for s in samples]), 7),
            "lambda_usd": round(median([s["cost"]["lambda_usd"] for s in samples]), 7),
            "cost_usd": round(median([s["cost"]["total_usd"] for s in samples]), 7),
            "codepipeline_v2_usd": round(median([s["codepipeline_v2"]["usd"] for s in samples]), 6),
            "codepipeline_v2_minutes": median([sum(a["minutes"] for a in s["codepipeline_v2"]["actions"])
                                               for s in samples]),
            "phases_aws_seconds": {
                key: round(median(values), 1)
                for key in samples[0]["phases_aws_seconds"]
                if (values := [s["phases_aws_seconds"].get(key) for s in samples
                               if s["phases_aws_seconds"].get(key) is not None])
            },
            "lambda_by_function": samples[0]["lambda_by_function"],
            "resumed_by": _summed([s.get("resumed_by", {}) for s in samples]),
        }
    latency: dict[str, dict[str, Any]] = {}
    for loop in waits.WAIT_LOOPS:
        samples = [s["added_latency"][loop.wait] for run in runs for s in run["scenarios"]
                   if loop.wait in s["added_latency"]]
        if not samples:
            continue
        seconds = [x["seconds"] for x in samples]
        by_scenario = {
            name: round(median(values), 2)
            for name in names
            if (values := [s["added_latency"][loop.wait]["seconds"] for run in runs for s in run["scenarios"]
                           if s["name"] == name and loop.wait in s["added_latency"]])
        }
        latency[loop.wait] = {
            "n": len(samples),
            "median_seconds": round(median(seconds), 2),
            "max_seconds": round(max(seconds), 2),
            "median_real_ms": round(median([x["real_ms"] for x in samples]), 1),
            "completion": loop.completion,
            "by_scenario": by_scenario,
        }
    return {
        "runs": len(runs),
        "speed": runs[0]["speed"],
        "design": runs[0].get("design", "events"),
        "resumed_by": _summed([s.get("resumed_by", {}) for run in runs for s in run["scenarios"]]),
        "wall_seconds": [r["wall_seconds"] for r in runs],
        "median_wall_seconds": round(median([r["wall_seconds"] for r in runs]), 2),
        "scenarios": per_scenario,
        "added_latency": latency,
        "waiting_functions": runs[0]["waiting_functions"],
    }
