"""docs/benchmarks.md and the one-line JSON summary, from the parts' results.

The method section is written here by hand; everything else is generated from the run.
"""

from __future__ import annotations

import json
from typing import Any

from stepdeploy_dev.bench import pricing
from stepdeploy_dev.bench.demo_runs import LATENCY_DEPLOYMENTS, LATENCY_SPEED, POLLING_BUDGET_SECONDS

HEADLINE_SCENARIO = "code change (canary)"

METHOD = """\
## Method

Everything runs on the embedded local cloud (`stepdeploy_localcloud`: moto 5 with the project's
adapters, one Python process, Lambda functions in worker subprocesses), with the real
`template.yaml`, `statemachines/deploy.asl.json` and handlers. `make bench` runs
`python -m stepdeploy_dev.bench`; each part runs in a process of its own. `--quick` shrinks every
repetition (for development; it writes `build/benchmarks-quick.md`, not this file).

**AWS seconds.** The local cloud runs change sets, stack operations, CodeDeploy's canary steps, bake
times and the Check functions' poll intervals on a clock {speed:g} times faster than AWS
(`stepdeploy_localcloud.clock.CLOCK.speed`). Durations of those are reported in AWS seconds = real
seconds x {speed:g}. A local build really runs the buildspec (no CodeBuild provisioning), and the
other functions do work rather than wait: their durations are real seconds, unscaled. Local
overhead (HTTP to the in-process AWS API, worker dispatch, moto) is scaled too wherever it falls
inside an accelerated phase, so at speed {speed:g} every real millisecond of it counts as {speed:g} ms:
the added latencies below are upper bounds, and their real milliseconds are given beside them.

**Transitions and invocations per deployment.** For each of the demo's six scenarios (`stepdeploy
demo`, the `Demo` class, run {demo_runs} time(s); medians): state transitions = states entered
plus task retries, from GetExecutionHistory (Standard workflows bill both). Lambda invocations =
every invocation of an orchestrator function between the scenario's trigger and its end plus
{settle:g} s (the webhook, the EventBridge-started StartDeployment, the state machine's tasks, the
finaliser), recorded by wrapping the local Lambda runtime's `run_target`.

**Price.** AWS list prices, us-east-1: Step Functions Standard ${sfn_per_1000}/1,000 transitions;
Lambda ${request_per_million}/1M requests and ${gb_s_arm}/GB-s on arm64 (the template's architecture;
x86_64 is ${gb_s_x86}), billed duration rounded up to the millisecond, memory as configured. Billed
durations: a Check function that polls on the accelerated clock, real duration x {speed:g} (Check
change set in both designs; every Check of the accelerated wait loops in the polling design, which
polled for up to 600 s); every other function its real duration here (Wait for event, Resume wait, and
the Checks after a token wait, which read their service once, since the operation is over).
Cold starts on this machine are included (they inflate the first push most). The comparison is the
same deployment on CodePipeline V2 at ${cp_minute} per action-execution minute, each action rounded up
to the next minute (manual approvals free): S3 source; CodeBuild build (not for a prebuilt
artifact); CloudFormation create change set and execute change set (executed even with no changes:
CodePipeline cannot skip it); CodeDeploy traffic shift; the bake as an action that watches the
alarms for the bake time (CodePipeline has no bake; a Lambda invoke action or a stage condition with
a CloudWatch alarm rule would do it; the latter's billing is not modelled). Action durations are the
same run's phases: the request resolution for the source (real seconds), the local build (real
seconds; a real CodeBuild build takes a minute or two, so CodePipeline's build action is
underestimated here by about one minute), the change set, stack operation, traffic shift and bake
(AWS seconds). CodeBuild, CloudFormation, CodeDeploy, S3, DynamoDB, Secrets Manager and EventBridge
cost the same or nearly so in both designs and are left out of both. Estimates: the billed Lambda
durations (local, scaled as said), the build's duration, the bake action. Free tiers are ignored.

**Added latency per wait.** For each wait loop of the state machine, found by state name
(`stepdeploy_dev/bench/waits.py`: the run fails, naming what differs, if the state machine no longer has
them): from the service's own completion to the TaskStateExited of the Check visit that left the
loop (done, or failed and caught). Completion: CodeBuild's build endTime; the moment the local
CloudFormation shows the change set computed (its `ready_at`; it computes synchronously and then
shows CREATE_IN_PROGRESS for 10 virtual seconds so that pollers poll) and the stack operation
complete (the later of the stack's terminal event and its `busy_until`, 30 virtual seconds after the
operation began); CodeDeploy's completeTime (the latest of the execution's deployments); the bake's
end by the bake task's own accounting (last `checked_at` + remaining time). The local overhead after
a completion (the Check's last poll reaching the in-process AWS API, the worker returning, the local
Step Functions moving on: tens of real milliseconds) is scaled by the clock speed like everything in
an accelerated phase, so the headline figures come from a part of their own at clock speed
{latency_speed:g}: {latency_deployments} deployments of the sample app (a first push, then code
changes) with an all-at-once shift and a one-minute bake, every wait of every one; median and maximum.
The demo's scenarios at speed {speed:g} give the same per scenario, where that overhead weighs
{speed:g} times. For a token wait the added latency on AWS is the event's delivery (EventBridge, then
Resume wait's invocation and SendTaskSuccess), then one Check invocation and two state transitions.

**Webhook.** `stepdeploy_dev/bench/webhook.py`: the real handler in process, moto standing in for
Secrets Manager, DynamoDB and EventBridge (no network), {webhook_runs} run(s) of {webhook_requests}
accepted pushes (and as many forged ones, refused); medians over the runs of each run's p50 and p99
(nearest rank). Requests per second on one core: the process pinned to one CPU, 1000 / the mean
milliseconds of an accepted push. Cold import: `python -X importtime -c "import app"` in
`functions/<name>`, median of {import_runs} fresh interpreters, in the environment a function has on
Lambda (`stepdeploy_dev/layer_env.py`: `requirements/runtime.txt` and the runtime's boto3, nothing
else) with Lambda's variables (tracing on); "as on Lambda" puts the layer's stepdeploy on the path with
bytecode writing off, so our modules compile on every start while the dependencies load from bytecode
(the layer ships theirs, compiled by Python 3.12); "CPU" is the CPU time of that import, the
interpreter's own start subtracted (steadier than wall time when other work shares the machine);
"from bytecode" caches everything. A function imports what its first call needs when it needs it: the
X-Ray SDK at the first traced invocation, boto3 at the first AWS call, PyYAML at the first YAML read.
Package size: the function's zip (as `sam package` zips `functions/<name>`) and the shared layer as
`layer/Makefile` builds it for `sam build` (see the layer's line for how it was built this run).
`sam build`: wall time of `sam build --no-cached` in a fresh clone of the committed tree, when a SAM CLI
is on PATH.

**Wall times.** The demo: as `make demo` (local cloud start to stop, six scenarios), without the
benchmark's own pauses and reads; median of the runs. The test suite: the pytest command of the
Makefile's `test` target (`{suite_command}`), run once; `make test` also runs cfn-lint, the ASL
checks and ruff before it, not timed here.

**Load.** {load_repositories} repositories, copies of `examples/sample-app` deploying `sample-<n>-prod`
(odd n: concurrency superseded; even n: queued), {load_pushes_each} pushes each. Every push is made to
the local GHE first; then one thread per repository delivers its signed webhooks over HTTP, all at
once. A delivery answered 5xx (or not at all) is redelivered with the same delivery id, up to
{redeliveries} times with a growing pause, as a person would from GHE's delivery log (GHE does not
retry by itself); redeliveries are counted. Then it waits (at most {load_timeout:g} s) for every execution to end.
The load runs twice: on the machine as it is, then beside a CPU hog (one busy-loop process per CPU,
started before the local cloud and killed after it, by the benchmark), waiting twice as long.
Overlapping changes to one stack: pairs of executions whose intervals from leaving "Acquire lock" with
the lock to entering a "Record*" state overlap on the same stack. Pushes lost: pushes whose commit the
stack's ledger (`Ledger.releases_of`) never recorded, whatever the outcome (Deployed, Superseded,
NoChanges or a failure). Stacks on their newest commit: the stack's last Deployed release (by when it
was recorded) is the commit of its last push. The local cloud is one process on {cpus} CPU(s) and
runs at most 4 workers per function version, with a function's timeout counted from the request (so
time queued for a worker counts, unlike on AWS, which runs more sandboxes): a burst can make the local
webhook time out (502) where AWS would not.

**Noise.** Other processes share this machine; its load average is given with the machine. Small
figures (milliseconds) move with it.
"""


def _money(value: float | None, digits: int = 6) -> str:
    return "—" if value is None else f"${value:.{digits}f}"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.{digits}f}"
    return f"{int(value):,}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 1)


def headline(demo: dict[str, Any] | None) -> dict[str, Any]:
    if not demo:
        return {}
    scenario = demo["scenarios"].get(HEADLINE_SCENARIO)
    if scenario is None:
        raise KeyError(
            f"the demo has no scenario named {HEADLINE_SCENARIO!r} (it has {sorted(demo['scenarios'])}); "
            "stepdeploy_dev/bench/report.py HEADLINE_SCENARIO names the deployment the summary reports"
        )
    return scenario  # type: ignore[no-any-return]


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON: the keys of issue 8, plus a few that explain them."""
    demo, functions, load, suite = (results.get(k) for k in ("demo", "functions", "load", "suite"))
    latency = results.get("latency")
    busy = results.get("load-busy")
    deployment = headline(demo)
    cost, codepipeline = deployment.get("cost_usd"), deployment.get("codepipeline_v2_usd")
    load_keys = ("pushes", "repositories", "executions_started", "executions_ended", "overlapping_stack_changes",
                 "pushes_lost", "stacks_on_newest_commit", "wall_seconds", "accepted_pushes_lost",
                 "webhook_refused", "redeliveries", "push_window_seconds", "stacks_on_newest_accepted_commit")
    return {
        "deployment_scenario": HEADLINE_SCENARIO if deployment else None,
        "transitions_per_deployment": deployment.get("transitions"),
        "lambda_invocations_per_deployment": deployment.get("lambda_invocations"),
        "cost_per_deployment_usd": cost,
        "codepipeline_v2_cost_usd": codepipeline,
        "codepipeline_v2_cost_ratio": _ratio(codepipeline, cost),
        "scenarios": {
            name: {"transitions": s["transitions"], "lambda_invocations": s["lambda_invocations"],
                   "cost_usd": s["cost_usd"], "codepipeline_v2_cost_usd": s["codepipeline_v2_usd"]}
            for name, s in (demo or {}).get("scenarios", {}).items()
        },
        "added_latency_seconds": {
            wait: x["median_seconds"] for wait, x in (latency or demo or {}).get("added_latency", {}).items()
        },
        "added_latency_clock_speed": (latency or demo or {}).get("speed"),
        "before_event_waits": _before_summary(latency),
        "waits_resumed_by": (demo or {}).get("resumed_by"),
        "added_latency_seconds_at_demo_speed": {
            wait: x["median_seconds"] for wait, x in (demo or {}).get("added_latency", {}).items()
        },
        "webhook_p50_ms": (functions or {}).get("webhook", {}).get("p50_ms"),
        "webhook_p99_ms": (functions or {}).get("webhook", {}).get("p99_ms"),
        "webhook_requests_per_second": (functions or {}).get("webhook", {}).get("requests_per_second"),
        "cold_import_ms": {name: x["cold_ms"] for name, x in (functions or {}).get("imports", {}).items()},
        "function_zip_bytes": (functions or {}).get("packages", {}).get("function_zip_bytes", {}),
        "cold_import_cpu_ms": {name: x.get("cpu_ms") for name, x in (functions or {}).get("imports", {}).items()},
        "layer_zip_bytes": (functions or {}).get("packages", {}).get("layer", {}).get("zip_bytes"),
        "layer_unzipped_bytes": (functions or {}).get("packages", {}).get("layer", {}).get("unzipped_bytes"),
        "sam_build_seconds": ((functions or {}).get("sam_build") or {}).get("seconds"),
        "demo_wall_seconds": (demo or {}).get("median_wall_seconds"),
        "test_wall_seconds": (suite or {}).get("wall_seconds"),
        "load": {key: load.get(key) for key in load_keys} if load else None,
        "load_beside_cpu_hog": {key: busy.get(key) for key in (*load_keys, "cpu_hog_processes")} if busy else None,
        "clock_speed": results.get("speed"),
        "quick": results.get("quick", False),
        "errors": results.get("errors") or {},
    }


def _before_summary(latency: dict[str, Any] | None) -> dict[str, Any] | None:
    before = (latency or {}).get("before")
    if not before:
        return None
    scenario = before["demo"]["scenarios"].get(HEADLINE_SCENARIO, {})
    return {
        "transitions_per_deployment": scenario.get("transitions"),
        "lambda_invocations_per_deployment": scenario.get("lambda_invocations"),
        "cost_per_deployment_usd": scenario.get("cost_usd"),
        "added_latency_seconds": {w: x["median_seconds"] for w, x in before["latency"]["added_latency"].items()},
    }


# --- the document ---------------------------------------------------------------------------------
def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    return [
        "## Machine",
        "",
        f"- {m['cpu']}, {m['cpus']} CPU(s) available, {m['memory_gib']} GiB memory",
        f"- Python {m['python']}, {m['os']}, moto {m['moto']}",
        f"- commit {m['commit']}{' with uncommitted changes' if m['uncommitted_changes'] else ''}, {m['date']}",
        f"- load average (1, 5, 15 min) at start {m['load_average_at_start']}, "
        f"at end {results.get('load_average_at_end')}",
        f"- whole run: {_num(results.get('total_seconds'))} s; local cloud clock speed {results.get('speed'):g}",
        "",
    ]


def _deployments(demo: dict[str, Any]) -> list[str]:
    lines = [
        "## Transitions, Lambda invocations and price per deployment",
        "",
        f"Medians over {demo['runs']} demo run(s). The deployment the summary reports is "
        f"\"{HEADLINE_SCENARIO}\": build, change set, stack update, canary shift, bake.",
        "",
        "| scenario | outcome | transitions | Lambda invocations | Lambda GB-s | Step Functions | Lambda | "
        "stepdeploy total | CodePipeline V2 (minutes) | CodePipeline V2 | CodePipeline / stepdeploy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in demo["scenarios"].items():
        ratio = _ratio(s["codepipeline_v2_usd"], s["cost_usd"])
        flag = "" if s["all_as_expected"] else " (not as expected!)"
        lines.append(
            f"| {name} | {s['status']} {s.get('error') or s['outcome']}{flag} | {_num(s['transitions'])} | "
            f"{_num(s['lambda_invocations'])} | {s['lambda_gb_seconds']:.1f} | {_money(s['step_functions_usd'])} | "
            f"{_money(s['lambda_usd'])} | **{_money(s['cost_usd'])}** | {_num(s['codepipeline_v2_minutes'])} | "
            f"**{_money(s['codepipeline_v2_usd'], 3)}** | {'—' if ratio is None else f'{ratio:g}x'} |"
        )
    deployment = headline(demo)
    lines += [
        "",
        f"Phases of \"{HEADLINE_SCENARIO}\" (AWS seconds; source and build in real seconds, see the method):",
        "",
        "| phase | seconds |",
        "| --- | ---: |",
        *[f"| {phase} | {_num(seconds)} |" for phase, seconds in deployment["phases_aws_seconds"].items()],
        "",
        "Lambda invocations of one run of it, by function: "
        + ", ".join(f"{fn} {n}" for fn, n in deployment["lambda_by_function"].items()) + ".",
        "",
    ]
    return lines


def _latency(demo: dict[str, Any], title: str, what: str) -> list[str]:
    lines = [
        title,
        "",
        f"AWS seconds (real x {demo['speed']:g}; upper bounds, see the method) from the service's completion "
        f"to the state machine leaving the wait loop; {what}.",
        "",
        "| wait loop | n | median (AWS s) | max (AWS s) | median (real ms) | service completion |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for wait, x in demo["added_latency"].items():
        lines.append(f"| {wait} | {x['n']} | {x['median_seconds']:.2f} | {x['max_seconds']:.2f} | "
                     f"{x['median_real_ms']:.1f} | {x['completion']} |")
    names = list(demo["scenarios"])
    lines += [
        "",
        "By scenario (median over runs, AWS seconds; — where the scenario has no such wait):",
        "",
        "| wait loop | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for wait, x in demo["added_latency"].items():
        cells = [f"{x.get('by_scenario', {})[n]:.2f}" if n in x.get("by_scenario", {}) else "—" for n in names]
        lines.append(f"| {wait} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _resumed(counts: dict[str, int] | None) -> str:
    if not counts:
        return "—"
    return ", ".join(f"{how} {n}" for how, n in counts.items())


def _improvement(now_latency: dict[str, Any], before: dict[str, Any], now_demo: dict[str, Any] | None) -> list[str]:
    """What token waits changed, measured against the polling design on the same scenarios in this run."""
    lines = [
        "## What was changed, and what it gained",
        "",
        "Before: each Check task polled its service every second within one invocation for up to "
        f"POLL_BUDGET_SECONDS = {POLLING_BUDGET_SECONDS} (and Bake polled the alarms the same way), so a "
        "deployment paid Lambda GB-seconds for as long as CodeBuild, CloudFormation, CodeDeploy and the bake "
        "took. Now the build, the stack update, the traffic shift and the bake sleep on a task token "
        "(Wait for event, `.waitForTaskToken`) that the service's own EventBridge event resumes (Resume "
        "wait); the Check after it reads the outcome once, and the wait's time-out leads to that same check "
        "when an event is lost. Change-set creation sends no event: a Wait state and a short check. Both "
        "designs were measured in this run on the same scenarios: the old one is reproduced on the local "
        "cloud by rewiring the deployed definition (Start X straight to Check X, 2 s Wait states) and "
        f"setting POLL_BUDGET_SECONDS={POLLING_BUDGET_SECONDS} on the Check functions "
        "(`stepdeploy_dev/bench/demo_runs.py poll_in_invocations`).",
        "",
    ]
    if now_demo:
        lines += [
            f"Per deployment, the demo's scenarios (clock speed {before['demo']['speed']:g}; now: median of "
            f"{now_demo['runs']} run(s), before: one run):",
            "",
            "| scenario | transitions before | now | Lambda invocations before | now | Lambda GB-s before | now "
            "| price before | now | CodePipeline V2 / stepdeploy before | now | waits resumed now |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, x in now_demo["scenarios"].items():
            old = before["demo"]["scenarios"].get(name, {})
            ratio_old = _ratio(old.get("codepipeline_v2_usd"), old.get("cost_usd"))
            ratio_new = _ratio(x.get("codepipeline_v2_usd"), x.get("cost_usd"))
            lines.append(
                f"| {name} | {_num(old.get('transitions'))} | {_num(x['transitions'])} | "
                f"{_num(old.get('lambda_invocations'))} | {_num(x['lambda_invocations'])} | "
                f"{_num(old.get('lambda_gb_seconds'), 1)} | {_num(x.get('lambda_gb_seconds'), 1)} | "
                f"{_money(old.get('cost_usd'))} | **{_money(x['cost_usd'])}** | "
                f"{'—' if ratio_old is None else f'{ratio_old:g}x'} | "
                f"**{'—' if ratio_new is None else f'{ratio_new:g}x'}** | {_resumed(x.get('resumed_by'))} |"
            )
        lines += [
            "",
            "Waits resumed: `event` by the service's EventBridge event, `check` by the wait's own first look "
            "(the operation was over before the token was stored), `timeout` by the time-out and the "
            "reconciling check (a lost event), `bake time over` a bake that ran its full time (its "
            "time-out is the bake time). Events are dropped on purpose in "
            "`tests/statemachine/test_waits.py` (the CodeBuild rule disabled): that wait ends by its "
            "time-out and the Check reconciles.",
            "",
        ]
    lines += [
        f"Added latency per wait (AWS seconds, clock speed {now_latency['speed']:g}, "
        f"{len(now_latency['scenarios'])} short deployments each; upper bounds, see the method):",
        "",
        "| wait loop | median before | now | max before | now |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    before_latency = before["latency"]["added_latency"]
    for wait, x in now_latency["added_latency"].items():
        old = before_latency.get(wait, {})
        lines.append(f"| {wait} | {_num(old.get('median_seconds'), 2)} | {x['median_seconds']:.2f} | "
                     f"{_num(old.get('max_seconds'), 2)} | {_num(x.get('max_seconds'), 2)} |")
    lines += [
        "",
        f"Waits resumed in the latency part: now {_resumed(now_latency.get('resumed_by'))}.",
        "",
        f"During the demo's scenarios (clock speed {before['demo']['speed']:g}, the canary scenario's median):",
        "",
        "| wait loop | before | now |",
        "| --- | ---: | ---: |",
    ]
    for wait, x in before["demo"].get("added_latency", {}).items():
        old = x.get("by_scenario", {}).get(HEADLINE_SCENARIO)
        new = ((now_demo or {}).get("added_latency", {}).get(wait, {}).get("by_scenario", {})
               .get(HEADLINE_SCENARIO))
        lines.append(f"| {wait} | {_num(old, 2)} | {_num(new, 2)} |")
    return [*lines, ""]


def _functions(functions: dict[str, Any]) -> list[str]:
    webhook, imports, packages = functions["webhook"], functions["imports"], functions["packages"]
    layer = packages["layer"]
    lines = [
        "## The webhook handler",
        "",
        "| accepted push p50 | p99 | mean | requests/s on one core | forged (refused) p50 | p99 | first request |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {webhook['p50_ms']:.2f} ms | {webhook['p99_ms']:.2f} ms | {webhook['mean_ms']:.2f} ms | "
        f"{webhook['requests_per_second']:.0f} | {webhook['refused_p50_ms']:.2f} ms | "
        f"{webhook['refused_p99_ms']:.2f} ms | "
        f"{webhook['first_request_ms']:.0f} ms |",
        "",
        f"{webhook['runs']} run(s) of {webhook['requests_per_run']} requests; "
        f"{'pinned to one CPU' if webhook.get('one_cpu') else 'not pinned (no sched_setaffinity)'}.",
        "",
        "## Cold import and package size of every function",
        "",
        f"The shared layer: {layer['zip_bytes'] / 1e6:.1f} MB zipped, {layer['unzipped_bytes'] / 1e6:.1f} MB unzipped "
        f"(limit 250 MB), of which stepdeploy {layer['stepdeploy_zip_bytes'] / 1e3:.0f} kB zipped; the rest is "
        + ", ".join(layer["distributions"]) + f". Built by {layer.get('built', 'an estimate')}.",
        "",
        _sam_build_line(functions.get("sam_build")),
        "",
        "| function | import as on Lambda (ms) | CPU (ms) | import from bytecode (ms) | function zip (bytes) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, x in imports.items():
        cpu = f"{x['cpu_ms']:.0f}" if "cpu_ms" in x else "-"
        lines.append(f"| {name} | {x['cold_ms']:.0f} | {cpu} | {x['bytecode_ms']:.0f} | "
                     f"{packages['function_zip_bytes'].get(name, 0):,} |")
    return [*lines, ""]


def _sam_build_line(sam_build: dict[str, Any] | None) -> str:
    if not sam_build:
        return "`sam build`: not measured."
    if sam_build.get("seconds") is None:
        return f"`sam build`: not measured ({sam_build.get('why')})."
    return f"`sam build --no-cached` from a fresh clone: {sam_build['seconds']:.1f} s."


def _walls(demo: dict[str, Any] | None, suite: dict[str, Any] | None) -> list[str]:
    lines = ["## Wall times", ""]
    if demo:
        lines.append(f"- the demo (`make demo`): median {demo['median_wall_seconds']:.1f} s over {demo['runs']} run(s) "
                     f"({', '.join(f'{w:.1f}' for w in demo['wall_seconds'])} s)")
    if suite:
        lines.append(f"- the test suite (`{suite['command']}`): {suite['wall_seconds']:.1f} s, {suite['summary']}, "
                     f"exit code {suite['exit_code']}")
    return [*lines, ""]


def _load_rows(load: dict[str, Any]) -> list[tuple[str, Any]]:
    modes = ", ".join(f"{n} {mode}" for mode, n in load["modes"].items())
    return [
        ("pushes (repositories)", f"{load['pushes']} ({load['repositories']}: {modes})"),
        ("webhook deliveries spread over", f"{load['push_window_seconds']:.1f} s"),
        ("deliveries refused (5xx or no answer) and redelivered",
         f"{load['redeliveries']} redeliveries for {load['pushes_redelivered']} pushes; "
         f"{load['webhook_refused']} never accepted"),
        ("executions started", load["executions_started"]),
        ("executions that ended", f"{load['executions_ended']}{'' if load['all_ended'] else ' (timed out waiting)'}"),
        ("execution statuses", ", ".join(f"{k} {v}" for k, v in load["execution_statuses"].items())),
        ("ledger outcomes", ", ".join(f"{k} {v}" for k, v in load["ledger_outcomes"].items())),
        ("overlapping changes to one stack (target 0)", load["overlapping_stack_changes"]),
        ("pushes lost (target 0)", f"{load['pushes_lost']} (of them accepted by the webhook: "
                                   f"{load['accepted_pushes_lost']})"),
        ("stacks whose last deployed commit is their newest push (target all)",
         f"{load['stacks_on_newest_commit']} of {load['repositories']} (on their newest push the webhook "
         f"accepted: {load.get('stacks_on_newest_accepted_commit', '—')})"),
        ("wall time, first delivery to last execution ended", f"{load['wall_seconds']:.1f} s"),
        ("state transitions, Lambda invocations (all executions)",
         f"{load['transitions']:,}, {load['lambda_invocations']:,}"),
    ]


def _load_details(load: dict[str, Any], label: str) -> list[str]:
    lines: list[str] = []
    if load.get("lost"):
        lines += ["", f"Lost pushes ({label}):", "", *[f"- {item}" for item in load["lost"]]]
    if load.get("failures"):
        lines += ["", f"Failed executions ({label}):", "", *[f"- {item}" for item in load["failures"]]]
    if load.get("stacks_not_on_newest_commit"):
        lines += ["", f"Stacks not on their newest push ({label}): " + ", ".join(load["stacks_not_on_newest_commit"])]
    return lines


def _load(load: dict[str, Any] | None, busy: dict[str, Any] | None) -> list[str]:
    """The load quiet and beside a CPU hog, side by side (either may be missing)."""
    runs = [(label, run) for label, run in (
        ("quiet", load),
        (f"beside a CPU hog ({(busy or {}).get('cpu_hog_processes', '?')} busy loops)", busy),
    ) if run]
    if not runs:
        return []
    table = [dict(_load_rows(run)) for _, run in runs]
    lines = ["## Load: pushes across repositories", "",
             "| | " + " | ".join(label for label, _ in runs) + " |", "| --- |" + " --- |" * len(runs)]
    lines += [f"| {name} | " + " | ".join(str(rows[name]) for rows in table) + " |" for name in table[0]]
    for label, run in runs:
        lines += _load_details(run, label)
    return [*lines, ""]


def render(results: dict[str, Any], summary_line: dict[str, Any]) -> str:
    demo, functions, load, suite = (results.get(k) for k in ("demo", "functions", "load", "suite"))
    settings = results["settings"]
    method = METHOD.format(
        speed=results["speed"], demo_runs=settings["demo_runs"], settle=settings["settle_seconds"],
        latency_speed=LATENCY_SPEED, latency_deployments=LATENCY_DEPLOYMENTS,
        sfn_per_1000=f"{pricing.STEP_FUNCTIONS_PER_TRANSITION * 1000:g}",
        request_per_million=f"{pricing.LAMBDA_PER_REQUEST * 1_000_000:.2f}",
        gb_s_arm=f"{pricing.LAMBDA_PER_GB_SECOND['arm64']:.10f}",
        gb_s_x86=f"{pricing.LAMBDA_PER_GB_SECOND['x86_64']:.10f}",
        cp_minute=f"{pricing.CODEPIPELINE_V2_PER_ACTION_MINUTE:g}",
        webhook_runs=settings["webhook_runs"], webhook_requests=settings["webhook_requests"],
        import_runs=settings["import_runs"], python=results["machine"]["python"],
        suite_command=(suite or {}).get("command", "not run"),
        load_repositories=settings["load_repositories"], load_pushes_each=settings["load_pushes_each"],
        redeliveries=settings["redeliveries"], load_timeout=settings["load_timeout"], cpus=results["machine"]["cpus"],
    )
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m stepdeploy_dev.bench`); the method section is kept in "
        "`stepdeploy_dev/bench/report.py`. Do not edit by hand: run it again.",
        "",
    ]
    if results.get("quick"):
        lines += ["**Quick run: reduced repetitions, for development only.**", ""]
    if results.get("errors"):
        lines += ["**Parts that failed:**", "", *[f"- {k}: {v}" for k, v in results["errors"].items()], ""]
    lines += _machine(results)
    latency = results.get("latency")
    if demo:
        lines += _deployments(demo)
    if latency:
        lines += _latency(latency, "## Added latency per wait",
                          f"clock speed {latency['speed']:g}, every wait of {len(latency['scenarios'])} deployments "
                          "(all at once, one-minute bake)")
    if demo:
        lines += _latency(
            demo, "### The same, during the demo's scenarios (clock speed "
            f"{demo['speed']:g}: local overhead weighs {demo['speed']:g} times)",
            "over every scenario of every run")
    if latency and latency.get("before"):
        lines += _improvement(latency, latency["before"], demo)
    if functions:
        lines += _functions(functions)
    lines += _walls(demo, suite)
    lines += _load(load, results.get("load-busy"))
    lines += [method, "## Summary (the last line `make bench` prints)", "", "```json",
              json.dumps(summary_line, indent=2), "```", ""]
    return "\n".join(lines)
