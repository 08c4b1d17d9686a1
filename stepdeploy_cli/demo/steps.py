"""The demo's step-engine scenarios: the three functions of the sample app released together.

Each uploads a prebuilt artifact in which every function changed and whose stepdeploy.yml asks for
``strategy: {steps: [50, 100], ...}``; the demo's traffic (the greeter's API and queue) runs meanwhile.

- a release where the greeter regresses: judged on the versions' own metrics, every alias rolls back
  together. It needs the local cloud to record Lambda's by-version metrics of an alias (dimensions
  FunctionName, Resource, ExecutedVersion) from the invocations it runs; where it does not, the
  scenario is reported skipped with that reason rather than judged on made-up numbers. An operator holds
  the first step (`stepdeploy pause`) until the greeter's new version has served the minimum sample, then
  resumes it, so the judgement has its numbers on a machine however busy;
- a release judged Inconclusive (a minimum sample no step can reach) that pauses, then an operator
  promotes it (`stepdeploy promote`);
- an operator aborts a release mid-way (`stepdeploy abort`).

Each ends with the aliases asserted.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.error
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepdeploy.aws.version_metrics import VersionMetrics
from stepdeploy_cli.demo import traffic

if TYPE_CHECKING:
    from stepdeploy_cli.context import Operator
    from stepdeploy_cli.demo.runner import Demo

OPERATOR = "demo-operator"


def step_config(base: str, *, pause_minutes: int, min_invocations: int) -> str:
    strategy = (f"{{steps: [50, 100], pause_minutes: {pause_minutes}, "
                f"analysis: {{min_invocations: {min_invocations}, max_error_rate_increase: 5}}}}")
    lines = [f"      strategy: {strategy}" if line.strip().startswith("strategy:") else line
             for line in base.splitlines()]
    if lines == base.splitlines():
        raise ValueError("the sample app's stepdeploy.yml has no deployment.strategy line to replace")
    return "\n".join(lines) + "\n"


def by_version_metrics_recorded(demo: Demo) -> bool:
    """Does the local cloud record the alias's by-version metrics of the greeter's invocations?"""
    name = demo.function_names().get("GreeterFunction")
    if not name:
        return False
    metrics = demo.cloud.client("cloudwatch").list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:live"},
                    {"Name": "ExecutedVersion"}],
    )["Metrics"]
    return bool(metrics)


def local_operator(demo: Demo) -> Operator:
    """An operator's connection to the demo's local cloud, as the CLI makes it."""
    from stepdeploy_cli.context import Operator, Options

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # the local cloud takes any credentials
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    orchestrator = demo.cloud.orchestrator
    assert orchestrator is not None
    return Operator(Options(orchestrator=orchestrator.stack_name, region="us-east-1", endpoint_url=demo.cloud.url))


class Steer:
    """An operator at a terminal: waits until the release is in a state, then gives a command."""

    def __init__(self, demo: Demo, verb: str, until: Callable[[dict[str, Any]], bool]) -> None:
        self.demo, self.verb, self.until = demo, verb, until
        self.answer: dict[str, Any] | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"demo-{verb}", daemon=True)

    def _run(self) -> None:
        from stepdeploy.models import iso
        from stepdeploy_cli.demo.runner import STACK
        from stepdeploy_cli.steer import steer

        op = local_operator(self.demo)
        started = iso()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            control = op.ledger.progress(STACK) or {}
            if str(control.get("started_at") or "") >= started and self.until(control):
                try:
                    self.answer = steer(op, STACK, self.verb, by=OPERATOR)
                except Exception as exc:  # noqa: BLE001 - reported in the scenario's result
                    self.error = str(exc)
                return
            time.sleep(0.2)
        self.error = f"the release never reached the point to {self.verb} it"

    def start(self) -> Steer:
        self.thread.start()
        return self


class SampleHold:
    """An operator who holds a release's first step until the greeter's new version has served a sample.

    A step is judged on the traffic its pause saw. On a busy machine the demo's traffic can be too thin to
    reach ``min_invocations`` in the few real seconds a pause lasts, and the judgement is then rightly
    Inconclusive. So the operator pauses the release as soon as it starts, sends requests through the API
    until the new version's invocations (read from the by-version metrics the judgement reads) reach
    ``needed``, then resumes it: the step's pause starts again and its window holds the sample, however
    slow the machine.
    """

    def __init__(self, demo: Demo, needed: int) -> None:
        self.demo, self.needed = demo, needed
        self.answers: list[dict[str, Any]] = []
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="demo-hold", daemon=True)

    def start(self) -> SampleHold:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self._hold()
        except Exception as exc:  # noqa: BLE001 - reported in the scenario's result
            self.error = str(exc)

    def _hold(self) -> None:
        from stepdeploy.models import iso, utc_now
        from stepdeploy_cli.demo.runner import STACK
        from stepdeploy_cli.steer import steer

        op = local_operator(self.demo)
        since, started = utc_now(), iso()
        deadline = time.monotonic() + 240
        control = self._until(op, STACK, lambda c: str(c.get("started_at") or "") >= started, deadline)
        if control.get("status") != "running":
            raise RuntimeError(f"the release was {control.get('status')} ({control.get('paused_reason')}) before "
                               "it could be held: the step's pause is too short for this machine")
        self.answers.append(steer(op, STACK, "pause", by=OPERATOR))
        control = self._until(op, STACK, lambda c: c.get("status") == "paused" and int(c.get("step", -1)) >= 0,
                              deadline)
        greeter = self.demo.function_names()["GreeterFunction"]
        version = _new_version(control, greeter)
        url = traffic.api_url(self.demo.cloud.url, self.demo.stack_outputs()["GreetApiId"], "/greet")
        metrics = VersionMetrics(self.demo.cloud.client("cloudwatch"))
        while metrics.samples(greeter, "live", [version], since, utc_now())[version].invocations < self.needed:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{greeter}:{version} served fewer than {self.needed} requests in 240 s")
            for _ in range(self.needed):
                with contextlib.suppress(urllib.error.URLError):  # a 502: the new version failed, as it should
                    traffic.get_json(url)
        self.answers.append(steer(op, STACK, "resume", by=OPERATOR))

    @staticmethod
    def _until(op: Operator, stack: str, reached: Callable[[dict[str, Any]], bool], deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            control = op.ledger.progress(stack) or {}
            if control and reached(control):
                return control
            time.sleep(0.2)
        raise RuntimeError(f"the release of {stack} never reached the point to hold it")


def _new_version(control: dict[str, Any], function: str) -> str:
    """The version a release moves ``function`` to, from its control record's ``<fn>:<alias> <old> -> <new>``."""
    for entry in control.get("functions") or []:
        name, _, versions = str(entry).partition(" ")
        if name.split(":")[0] == function:
            return versions.rsplit("->", 1)[-1].strip()
    raise RuntimeError(f"the release does not move {function}: {control.get('functions')}")


def _bumped(demo: Demo, marker: str, greeter: str) -> dict[str, str]:
    """Every function's code changed (a new version each), the greeter's as given."""
    root = demo.worktree
    return {
        "greeter/app.py": greeter,
        "counter/app.py": (root / "counter" / "app.py").read_text() + f"\n# {marker}\n",
        "notifier/app.py": (root / "notifier" / "app.py").read_text() + f"\n# {marker}\n",
    }


def step_scenarios(demo: Demo) -> list[dict[str, Any]]:
    from stepdeploy_cli.demo.runner import GREETER_BUGGY, GREETER_FIXED, git

    base = (demo.worktree / "stepdeploy.yml").read_text()
    results: list[dict[str, Any]] = []
    before = dict(demo.alias_versions())

    name = "steps: a function regresses, all roll back"
    if by_version_metrics_recorded(demo):
        holder = SampleHold(demo, needed=5)
        config = step_config(base, pause_minutes=10, min_invocations=holder.needed)
        regressed = demo.run(
            name,
            lambda: (holder.start(), demo.upload(
                "steps-regression", {**_bumped(demo, "regression", GREETER_BUGGY), "stepdeploy.yml": config},
                git(demo.worktree, "rev-parse", "HEAD")))[1],
            lambda r: r["status"] == "FAILED" and r["error"] == "DeploymentRolledBack" and holder.error is None
            and "Fail" in str(r["cause"]) and r["alias_versions"] == before,
        )
        regressed["operator"] = holder.answers if holder.error is None else {"error": holder.error}
        results.append(regressed)
    else:
        reason = ("the local cloud records no by-version metrics of an alias (FunctionName, Resource, "
                  "ExecutedVersion) from the invocations it runs: the judgement would have nothing to judge")
        demo.console.rule(f"[bold]{name}")
        demo.console.print(f"skipped: {reason}")
        results.append({"name": name, "skipped": reason, "as_expected": True, "alias_versions": before})

    promoter = Steer(demo, "promote", lambda c: c.get("paused_reason") == "inconclusive")
    config = step_config(base, pause_minutes=1, min_invocations=1_000_000)
    promoted = demo.run(
        "steps: inconclusive, paused, promoted by an operator",
        lambda: (promoter.start(), demo.upload(
            "steps-promoted", {**_bumped(demo, "promoted", GREETER_FIXED.replace("you.", "you again.")),
                               "stepdeploy.yml": config},
            git(demo.worktree, "rev-parse", "HEAD")))[1],
        lambda r: r["status"] == "SUCCEEDED" and promoter.answer is not None
        and all(int(r["alias_versions"][f]) > int(v) for f, v in before.items()),  # every function moved
    )
    promoted["operator"] = promoter.answer or {"error": promoter.error}
    results.append(promoted)

    after_promotion = dict(promoted["alias_versions"])
    aborter = Steer(demo, "abort", lambda c: c.get("percent") == 50)
    config = step_config(base, pause_minutes=30, min_invocations=5)
    aborted = demo.run(
        "steps: aborted mid-release by an operator",
        lambda: (aborter.start(), demo.upload(
            "steps-aborted", {**_bumped(demo, "aborted", GREETER_FIXED.replace("Good to see you.", "Hi again.")),
                              "stepdeploy.yml": config}, git(demo.worktree, "rev-parse", "HEAD")))[1],
        lambda r: r["status"] == "FAILED" and r["error"] == "DeploymentRolledBack"
        and f"aborted by {OPERATOR}" in str(r["cause"]) and r["alias_versions"] == after_promotion,
    )
    aborted["operator"] = aborter.answer or {"error": aborter.error}
    results.append(aborted)
    return results
