"""The demo's pipeline scenario: one push built once and promoted dev -> automated test -> staging -> approval
-> production (production in the local cloud's second account, the approval given by an operator of the
scenario), then a push that breaks the greeter stops at the smoke test, staging and production untouched.

The sample app becomes a pipeline in its own push: ``examples/stages`` gives the smoke test function and the
stages' ``stepdeploy.yml``; the function is added to the app's template and build here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepdeploy_localcloud.cloud import PROJECT_ROOT, STAGE_ACCOUNT

if TYPE_CHECKING:
    from stepdeploy_cli.context import Operator
    from stepdeploy_cli.demo.runner import Demo

STAGES_EXAMPLE = PROJECT_ROOT / "examples" / "stages"
PIPELINE = "sample"
STAGE_STACKS = {"dev": "sample-stages-dev", "staging": "sample-stages-staging", "production": "sample-stages-prod"}
PRODUCTION_ACCOUNT = STAGE_ACCOUNT
"""The production stage lives in the local cloud's second account (examples/stages/stepdeploy.yml)."""
NAME = "stages: dev, test, staging, approval, production; then a failed test"
APPROVER = "demo-approver"
SMOKE_RESOURCE = """  SmokeTestFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: smoke/
      Environment:
        Variables:
          GREETER: !Ref GreeterFunction
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref GreeterFunction}

"""
FIRST_RESOURCE_AFTER_FUNCTIONS = "  GreetingsQueue:\n"
GREETER_RETURN = 'return {"message": greet(str(name)), "version": VERSION}'


def broken_greeter(app: Path) -> str:
    """The greeter answering "Service unavailable": a bug the app's unit tests (greet()) do not see, the
    smoke test of the deployed stage does."""
    text = (app / "greeter" / "app.py").read_text()
    if GREETER_RETURN not in text:
        raise ValueError(f"{app}/greeter/app.py no longer has {GREETER_RETURN!r} to break")
    return text.replace(GREETER_RETURN, 'return {"message": "Service unavailable", "version": VERSION}')


def staged_edits(app: Path) -> dict[str, str]:
    """The files that make the sample app at ``app`` a pipeline of stages: the smoke test function (its code,
    its resource in the template, its folder in the build output) and the stages' stepdeploy.yml."""
    template = (app / "template.yaml").read_text()
    buildspec = (app / "buildspec.yml").read_text()
    if FIRST_RESOURCE_AFTER_FUNCTIONS not in template:
        raise ValueError(f"{app}/template.yaml has no {FIRST_RESOURCE_AFTER_FUNCTIONS.strip()} to add the smoke "
                         "test function before")
    if " dist/" not in buildspec:
        raise ValueError(f"{app}/buildspec.yml no longer copies the app's folders into dist/")
    return {
        "smoke/app.py": (STAGES_EXAMPLE / "smoke" / "app.py").read_text(),
        "stepdeploy.yml": (STAGES_EXAMPLE / "stepdeploy.yml").read_text(),
        "template.yaml": template.replace(FIRST_RESOURCE_AFTER_FUNCTIONS,
                                          SMOKE_RESOURCE + FIRST_RESOURCE_AFTER_FUNCTIONS, 1),
        "buildspec.yml": buildspec.replace(" dist/", " smoke dist/", 1),
    }


class Approver:
    """An operator who approves the production stage's change set once it waits (`stepdeploy approve`)."""

    def __init__(self, op: Operator, stack: str, timeout: float = 300.0) -> None:
        self.op, self.stack, self.timeout = op, stack, timeout
        self.answer: dict[str, Any] | None = None
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-approver", daemon=True)

    def _run(self) -> None:
        from stepdeploy_cli.approvals import answer, pending_approvals

        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            waiting = [p for p in pending_approvals(self.op) if p.get("stack") == self.stack]
            if waiting:
                try:
                    self.answer = answer(self.op, waiting[0]["execution_arn"], approved=True,
                                         comment="staging passed its smoke test", by=APPROVER)
                except Exception as exc:  # noqa: BLE001 - reported in the scenario's result
                    self.error = str(exc)
                return
            self.stop.wait(0.2)
        self.error = self.error or f"nothing waited for approval on {self.stack}"

    def start(self) -> Approver:
        self.thread.start()
        return self


def _output(demo: Demo, execution_arn: str) -> dict[str, Any]:
    import json

    value = json.loads(demo.sfn.describe_execution(executionArn=execution_arn).get("output") or "{}")
    return value if isinstance(value, dict) else {}


def _promoted(demo: Demo, result: dict[str, Any]) -> list[str]:
    """The stages the parent execution deployed (its promotion's Deployed releases), in order."""
    if result["status"] != "SUCCEEDED":
        return []
    return [str(p["stage"]) for p in _output(demo, result["execution_arn"]).get("promotion") or []
            if (p.get("release") or {}).get("outcome") == "Deployed"]


def stages_scenario(demo: Demo, op: Operator) -> dict[str, Any]:
    from stepdeploy_cli.demo.runner import FAILING_TEST_PATH, git
    from stepdeploy_cli.pipelines import pipeline_record, stage_rows

    # The pipeline's one build runs the app's unit tests: the "build fails" scenario's failing test goes.
    edits: dict[str, str | None] = {**staged_edits(demo.worktree), FAILING_TEST_PATH: None}
    approver = Approver(op, STAGE_STACKS["production"])
    promoted = demo.run(
        "stages: one build promoted dev -> smoke test -> staging -> approval -> production",
        lambda: (approver.start(), demo.push("Promote the sample app through stages", edits))[1],
        lambda r: r["status"] == "SUCCEEDED" and _promoted(demo, r) == list(STAGE_STACKS),
    )
    good = git(demo.worktree, "rev-parse", "HEAD")
    approver.stop.set()
    stopped = demo.run(
        "stages: a broken greeter stops at the smoke test, production untouched",
        lambda: demo.push("Break the greeter", {"greeter/app.py": broken_greeter(demo.worktree)}),
        lambda r: r["status"] == "FAILED" and r["error"] == "StageGateFailed"
        and "SmokeTestFunction failed" in str(r["cause"]),
    )
    broken = git(demo.worktree, "rev-parse", "HEAD")
    rows = stage_rows(op, PIPELINE, pipeline_record(op, PIPELINE))
    live = {row["stage"]: row["commit"] for row in rows}
    expected = {"dev": broken, "staging": good, "production": good}
    for row in rows:
        where = f" in account {row['account']}" if row.get("account") else ""
        demo.console.print(f"  {row['stage']:<10} {row['stack']}{where}: {str(row['commit'] or '-')[:7]} live "
                           f"(last attempt {row['last_outcome'] or '-'})", markup=False)
    if approver.answer:
        demo.console.print(f"  production approved by {approver.answer['by']}", markup=False)
    demo.console.print(f"  the failed test: {stopped.get('cause')}", markup=False)
    as_expected = promoted["as_expected"] and stopped["as_expected"] and live == expected \
        and approver.answer is not None
    mark = "[green]as expected[/green]" if as_expected else "[red]NOT as expected[/red]"
    demo.console.print(f"{NAME}: {mark}")
    return {
        **stopped,
        "name": NAME,
        "pushes": [promoted, stopped],
        "stages": rows,
        "approval": approver.answer or {"error": approver.error},
        "commits": {"promoted": good, "stopped": broken},
        "wall_seconds": round(promoted["wall_seconds"] + stopped["wall_seconds"], 2),
        "as_expected": as_expected,
    }
