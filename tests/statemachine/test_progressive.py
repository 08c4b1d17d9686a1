"""stepdeploy's step engine on the real state machine, with the real handlers, on the local cloud.

The sample app's greeter changes; stepdeploy.yml asks for steps [50, 100]. The by-version metrics
that judge each step are put by this test (``Feeder``: put_metric_data under the dimensions Lambda
uses for an alias's versions, FunctionName + Resource + ExecutedVersion), not made by invocations:
the tests steer what the analysis sees (healthy, regressed, or nothing at all).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy.aws.ledger import Ledger
from stepdeploy.aws.version_metrics import dimensions
from stepdeploy_cli.context import Operator, Options
from stepdeploy_cli.dashboard.data import act
from stepdeploy_cli.demo.runner import SAMPLE_APP, STACK, sample_app_on_local_cloud
from stepdeploy_cli.steer import progress_of, steer

from .test_paths import Machine

pytestmark = pytest.mark.statemachine

CONFIG = (SAMPLE_APP / "stepdeploy.yml").read_text()


def step_config(pause_minutes: int, min_invocations: int = 5) -> str:
    strategy = (f"{{steps: [50, 100], pause_minutes: {pause_minutes}, "
                f"analysis: {{min_invocations: {min_invocations}}}}}")
    assert "strategy: LambdaCanary10Percent5Minutes" in CONFIG
    return CONFIG.replace("strategy: LambdaCanary10Percent5Minutes", f"strategy: {strategy}")


class Feeder:
    """Puts each weighted alias's by-version Invocations and Errors every 0.2 s while it runs."""

    def __init__(self, machine: Machine, errors_of_new: float = 0.0) -> None:
        self.machine = machine
        self.errors_of_new = errors_of_new
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        lam, cloudwatch = self.machine.cloud.client("lambda"), self.machine.cloud.client("cloudwatch")
        while not self.stop.wait(0.2):
            for name in self.machine.demo.function_names().values():
                alias = lam.get_alias(FunctionName=name, Name="live")
                weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                for new in weights:
                    for version, errors in ((new, self.errors_of_new), (alias["FunctionVersion"], 0.0)):
                        dims = dimensions(name, "live", version)
                        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
                            {"MetricName": "Invocations", "Value": 10.0, "Unit": "Count", "Dimensions": dims},
                            {"MetricName": "Errors", "Value": errors, "Unit": "Count", "Dimensions": dims},
                        ])


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    with sample_app_on_local_cloud("stepdeploy-steps-") as demo:
        m = Machine(demo.cloud, demo)
        first = m.finish(demo.push("First version", {}))
        assert first["status"] == "SUCCEEDED", first.get("cause")
        yield m


@pytest.fixture()
def operator(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> Operator:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "testing"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    orchestrator = machine.cloud.orchestrator
    assert orchestrator is not None
    return Operator(Options(orchestrator=orchestrator.stack_name, region="us-east-1",
                            endpoint_url=machine.cloud.url))


def ledger(machine: Machine) -> Ledger:
    return Ledger(machine.cloud.orchestrator.table_name,  # type: ignore[union-attr]
                  dynamodb_resource=machine.cloud.resource("dynamodb"))


def until_progress(machine: Machine, arn: str, **wanted: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        control = ledger(machine).progress(STACK) or {}
        if control.get("execution_arn") == arn and all(control.get(k) == v for k, v in wanted.items()):
            return control
        time.sleep(0.1)
    raise TimeoutError(f"the release never reached {wanted}: {ledger(machine).progress(STACK)}")


def greeter(machine: Machine) -> tuple[str, dict[str, float]]:
    name = machine.demo.function_names()["GreeterFunction"]
    alias = machine.cloud.client("lambda").get_alias(FunctionName=name, Name="live")
    return alias["FunctionVersion"], dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


def journal(machine: Machine, arn: str) -> list[dict[str, Any]]:
    return ledger(machine).journal_of(STACK, arn.rsplit(":", 1)[-1])


def test_healthy_steps_go_to_100_percent(machine: Machine) -> None:
    before = machine.demo.alias_versions()
    with Feeder(machine):
        arn = machine.upload("steps pass", step_config(pause_minutes=2))
        described = machine.finish(arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    path = machine.path(arn)
    assert path[path.index("Traffic to shift?") + 1] == "Advance release"
    assert path[-4:] == ["Release finished?", "Record release", "Prune versions", "Deployed"]
    new = int(before["GreeterFunction"]) + 1
    assert greeter(machine) == (str(new), {})
    entries = journal(machine, arn)
    assert [e["type"] for e in entries] == ["step", "judgement", "step"]
    assert entries[1]["verdict"] == "Pass" and entries[1]["functions"][0]["new"]["invocations"] >= 5
    assert json.loads(described["output"])["progress"]["judgements"][0]["verdict"] == "Pass"


def test_a_regression_rolls_everything_back(machine: Machine) -> None:
    before = greeter(machine)
    with Feeder(machine, errors_of_new=5.0):
        arn = machine.upload("steps regress", step_config(pause_minutes=2))
        described = machine.finish(arn)
    assert described["status"] == "FAILED" and described["error"] == "DeploymentRolledBack"
    assert "release judged at 50%: Fail" in described["cause"] and "error rate 50.00%" in described["cause"]
    assert greeter(machine) == before
    assert machine.path(arn)[-4:] == ["Wait for release step", "Advance release", "Record failure",
                                      "Deployment failed"]
    assert ledger(machine).progress(STACK)["status"] == "done"


def test_inconclusive_pauses_until_an_operator_promotes(machine: Machine, operator: Operator) -> None:
    arn = machine.upload("steps inconclusive", step_config(pause_minutes=1, min_invocations=1000))
    until_progress(machine, arn, status="paused", paused_reason="inconclusive")
    paused_at = greeter(machine)
    assert len(paused_at[1]) == 1 and list(paused_at[1].values()) == [0.5]  # the aliases stay where they were
    answered = steer(operator, STACK, "promote", by="ada")
    assert answered["woken"] and answered["engine"] == "stepdeploy"
    described = machine.finish(arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert greeter(machine) == (next(iter(paused_at[1])), {})
    kinds = [(e["type"], e.get("verdict") or e.get("verb")) for e in journal(machine, arn)]
    assert kinds == [("step", None), ("judgement", "Inconclusive"), ("command", "promote"), ("step", None)]
    assert next(e for e in journal(machine, arn) if e["type"] == "command")["by"] == "ada"
    shown = progress_of(operator, STACK)  # what `stepdeploy progress sample-prod` prints
    assert shown["status"] == "done" and shown["percent"] == 100 and len(shown["journal"]) == 4


def test_abort_mid_release_rolls_back_within_seconds(machine: Machine, operator: Operator) -> None:
    before = greeter(machine)
    arn = machine.upload("steps aborted", step_config(pause_minutes=30))  # 30 s between steps at speed 60
    until_progress(machine, arn, percent=50)
    asked = time.monotonic()
    answered = act(operator, "abort", arn, comment="", by="ada")  # the dashboard's API, as its button would
    assert answered["woken"] and answered["verb"] == "abort"
    described = machine.finish(arn)
    answered_in = time.monotonic() - asked
    assert described["status"] == "FAILED" and described["error"] == "DeploymentRolledBack"
    assert "release aborted by ada at 50%" in described["cause"]
    assert greeter(machine) == before
    events = machine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    waits = [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskTimedOut")
             and "resumed_by" in json.dumps(e.get("taskSucceededEventDetails") or {})]
    assert waits and not any(e["type"] == "TaskTimedOut" for e in events), "the abort waited out the step"
    print(f"abort answered in {answered_in:.2f} s")


def test_commands_with_no_release_running_say_so(machine: Machine, operator: Operator) -> None:
    from stepdeploy_cli.errors import CliError

    with pytest.raises(CliError, match="no release of sample-prod is running"):
        steer(operator, STACK, "pause")


def test_an_alarm_mid_step_cuts_the_pause_short_and_rolls_back(machine: Machine) -> None:
    """The greeter's errors alarm (in the sample app) evaluates real datapoints of its alias put here."""
    before = greeter(machine)
    name = machine.demo.function_names()["GreeterFunction"]
    stop = threading.Event()

    def failing_alias() -> None:
        cloudwatch = machine.cloud.client("cloudwatch")
        while not stop.wait(0.2):
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
                "MetricName": "Errors", "Value": 3.0, "Unit": "Count",
                "Dimensions": [{"Name": "FunctionName", "Value": name},
                               {"Name": "Resource", "Value": f"{name}:live"}]}])

    arn = machine.upload("steps alarm", step_config(pause_minutes=30))  # 30 s a step at speed 60
    until_progress(machine, arn, percent=50)
    feeder = threading.Thread(target=failing_alias, daemon=True)
    feeder.start()
    try:
        described = machine.finish(arn)
    finally:
        stop.set()
        feeder.join(5)
    assert described["status"] == "FAILED" and described["error"] == "DeploymentRolledBack", described.get("cause")
    assert "in ALARM since the release began" in described["cause"]
    events = machine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert not any(e["type"] == "TaskTimedOut" for e in events), "the alarm waited for the step's end"
    assert greeter(machine) == before
