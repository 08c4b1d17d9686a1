"""The dashboard's release verbs and pipeline view, read from canned Step Functions histories and ledger items
(no network): which verbs a step release offers, its steps and live weights, and the gate a running
pipeline waits at (window, soak, approval of a stage's child, or still building)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy_cli.dashboard.data import pipelines, release_of
from stepdeploy_cli.pipelines import running_pipelines
from stepdeploy_cli.verbs import step_verbs
from stepdeploy_cli.watch import ExecutionView

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stepdeploy-deploy"
PREFIX = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:"
STARTED = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STAGES = [{"name": "dev", "stack": "sample-dev"}, {"name": "production", "stack": "sample-prod"}]
COMMIT = "1a2b3c4" + "d" * 33


class History:
    """Events of one execution, in the shape GetExecutionHistory answers."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = [self._event("ExecutionStarted")]

    def _event(self, kind: str, **details: Any) -> dict[str, Any]:
        return {"type": kind, "timestamp": STARTED + timedelta(seconds=len(getattr(self, "events", []))), **details}

    def state(self, name: str, output: dict[str, Any] | None = None, kind: str = "Task",
              exits: bool = True) -> History:
        self.events.append(self._event(f"{kind}StateEntered", stateEnteredEventDetails={"name": name}))
        if kind == "Task":
            self.events.append(self._event("TaskScheduled"))
        if exits:
            self.events.append(self._event(f"{kind}StateExited", stateExitedEventDetails={
                "name": name, "output": json.dumps(output or {})}))
        return self

    def waits(self) -> History:
        self.events.append(self._event("TaskSubmitted"))
        return self

    def iteration(self, index: int) -> History:
        self.events.append(self._event("MapIterationStarted", mapIterationStartedEventDetails={
            "name": "Promote through stages", "index": index}))
        return self


class Sfn:
    def __init__(self) -> None:
        self.executions: dict[str, tuple[dict[str, Any], History]] = {}

    def add(self, name: str, history: History, trigger: dict[str, Any] | None = None) -> str:
        arn = PREFIX + name
        self.executions[arn] = ({"executionArn": arn, "name": name, "status": "RUNNING", "startDate": STARTED,
                                 "input": json.dumps(trigger or {"source": "ghe", "event": {}})}, history)
        return arn

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["stateMachineArn"] == MACHINE and kwargs["statusFilter"] == "RUNNING"
        return {"executions": [{"executionArn": arn} for arn in self.executions]}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        return dict(self.executions[executionArn][0])

    def get_execution_history(self, executionArn: str, **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return {"events": self.executions[executionArn][1].events}


class Ledger:
    def __init__(self) -> None:
        self.approvals: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, list[dict[str, Any]]] = {}
        self.control: dict[str, dict[str, Any]] = {}
        self.journals: dict[str, list[dict[str, Any]]] = {}

    def approval(self, arn: str) -> dict[str, Any] | None:
        return self.approvals.get(arn)

    def latest_releases(self) -> list[dict[str, Any]]:
        return [history[0] for history in self.releases.values() if history]

    def releases_of(self, stack: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.releases.get(stack, [])[:limit]

    def progress(self, stack: str) -> dict[str, Any] | None:
        return self.control.get(stack)

    def journal_of(self, stack: str, name: str) -> list[dict[str, Any]]:
        return self.journals.get(name, [])


class Lambda:
    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable

    def get_alias(self, FunctionName: str, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if not self.reachable:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": f"Function not found: {FunctionName}"}}, "GetAlias")
        return {"FunctionVersion": "3", "RoutingConfig": {"AdditionalVersionWeights": {"4": 0.25}}}


def operator(sfn: Sfn, ledger: Ledger, lam: Lambda | None = None) -> Any:
    return SimpleNamespace(sfn=sfn, ledger=ledger, state_machine_arn=MACHINE, client=lambda service: lam or Lambda())


def parent_until_the_map(stage_index: int) -> History:
    request = {"commit": COMMIT, "pusher": "ada", "pipeline": {"name": "sample", "stages": STAGES}}
    history = History().state("Resolve request", {"request": request})
    history.state("Promote through stages", kind="Map", exits=False)
    for index in range(stage_index + 1):
        history.iteration(index)
    return history


def gate_output(stage: str, **gate: Any) -> dict[str, Any]:
    return {"document": {}, "stage": stage, "checked": {"gate": {"stage": stage, **gate}}}


# --- a step release's verbs --------------------------------------------------------------------------
def test_a_step_release_offers_pause_only_while_it_runs_and_resume_only_while_paused():
    assert step_verbs("RUNNING", "running") == ["pause", "promote", "abort"]
    assert step_verbs("RUNNING", "paused") == ["resume", "promote", "abort"]
    assert step_verbs("RUNNING", "done") == []  # the last step is taken: nothing left to steer
    assert step_verbs("SUCCEEDED", "paused") == []  # a stale control record of an ended execution
    assert step_verbs("RUNNING", None) == []


def test_the_release_of_an_execution_shows_its_steps_weights_journal_and_verbs():
    sfn, ledger = Sfn(), Ledger()
    functions = [{"function_name": "sample-prod-Greeter", "logical_id": "GreeterFunction", "alias": "live",
                  "version": "4", "previous_version": "3", "changed": True},
                 {"function_name": "sample-prod-Counter", "logical_id": "CounterFunction", "alias": "live",
                  "version": "2", "previous_version": "2", "changed": False}]
    history = History().state("Publish versions", {"versions": {"functions": functions}})
    history.state("Wait for release step", exits=False).waits()
    arn = sfn.add("run-7", history)
    ledger.control["sample-prod"] = {"execution_arn": arn, "execution_name": "run-7", "status": "paused",
                                     "paused_reason": "operator", "step": 1, "percent": 25, "steps": [5, 25, 100],
                                     "pk": "stack#sample-prod", "sk": "progress#control"}
    ledger.journals["run-7"] = [{"type": "step", "percent": 5}, {"type": "command", "verb": "pause", "by": "ada"}]
    view = ExecutionView(sfn, arn)
    view.refresh()
    shown = release_of(operator(sfn, ledger), view, {"stack": "sample-prod", "execution_arn": arn,
                                                     "status": "RUNNING", "traffic": None})
    assert shown is not None and shown["engine"] == "stepdeploy"
    assert (shown["status"], shown["paused_reason"], shown["percent"], shown["steps"]) == (
        "paused", "operator", 25, [5, 25, 100])
    assert shown["verbs"] == ["resume", "promote", "abort"]
    assert shown["functions"] == [{"function": "GreeterFunction", "alias": "live", "new_version": "4",
                                   "old_version": "3", "split": {"3": 0.75, "4": 0.25}, "new_share": 0.25}]
    assert [e["type"] for e in shown["journal"]] == ["step", "command"]
    assert "pk" not in json.dumps(shown) and shown["weights_problem"] is None
    running = {"stack": "sample-prod", "execution_arn": arn, "status": "RUNNING", "traffic": None}
    unreachable = release_of(operator(sfn, ledger, Lambda(reachable=False)), view, running)
    assert unreachable is not None and unreachable["functions"][0]["split"] is None  # shown without its weights
    assert "Function not found: sample-prod-Greeter" in unreachable["weights_problem"]
    assert unreachable["verbs"] == ["resume", "promote", "abort"]

    other = sfn.add("run-8", History())  # the stack's control record belongs to run-7, not to this one
    assert release_of(operator(sfn, ledger), ExecutionView(sfn, other),
                      {"stack": "sample-prod", "execution_arn": other, "status": "RUNNING", "traffic": None}) is None
    codedeploy = release_of(operator(sfn, ledger), ExecutionView(sfn, other),
                            {"stack": "sample-prod", "execution_arn": other, "status": "RUNNING",
                             "traffic": {"functions": []}})
    assert codedeploy == {"engine": "codedeploy", "stack": "sample-prod", "verbs": ["abort"]}


# --- pipelines ---------------------------------------------------------------------------------------
def test_a_running_pipeline_names_the_gate_it_waits_at():
    sfn, ledger = Sfn(), Ledger()
    window = parent_until_the_map(1).state("Check stage gates", gate_output(
        "production", wait_seconds=3600, reason="outside the deployment window; it opens at 2026-12-07T09:00:00+01:00",
        waiting_at="window"))
    window.state("Stage gates open?", kind="Choice").state("Wait at stage gate", kind="Wait", exits=False)
    sfn.add("p-window", window)
    soak = parent_until_the_map(1).state("Check stage gates", gate_output(
        "production", wait_seconds=300, reason="soaking stage dev until 2026-12-05T13:00:00+00:00", waiting_at="soak"))
    soak.state("Stage gates open?", kind="Choice").state("Wait at stage gate", kind="Wait", exits=False)
    sfn.add("p-soak", soak)
    approval = parent_until_the_map(1).state("Check stage gates", gate_output(
        "production", wait_seconds=0, child_name="p-approval-production"))
    approval.state("Stage gates open?", kind="Choice").state("Deploy stage", exits=False).waits()
    sfn.add("p-approval", approval)
    child = sfn.add("p-approval-production",
                    History().state("Wait for approval", exits=False).waits(),
                    {"source": "ghe", "event": {}, "stage": "production"})
    ledger.approvals[child] = {"changes": [{"LogicalResourceId": "GreeterFunction"},
                                           {"LogicalResourceId": "GreeterFunctionAliaslive"}], "task_token": "secret"}
    deploying = parent_until_the_map(0).state("Check stage gates", gate_output(
        "dev", wait_seconds=0, child_name="p-deploying-dev"))
    deploying.state("Stage gates open?", kind="Choice").state("Deploy stage", exits=False).waits()
    sfn.add("p-deploying", deploying)
    sfn.add("p-deploying-dev", History().state("Wait for stack", exits=False).waits(),
            {"source": "ghe", "event": {}, "stage": "dev"})
    sfn.add("p-building", History().state("Resolve request", {"request": {
        "commit": COMMIT, "pipeline": {"name": "sample", "stages": STAGES}}}).state("Wait for build", exits=False))
    sfn.add("single-stack", History().state("Resolve request", {"request": {"commit": COMMIT}}))

    found = {run["execution_name"]: run for run in running_pipelines(operator(sfn, ledger))}
    assert set(found) == {"p-window", "p-soak", "p-approval", "p-deploying", "p-building"}  # no child, no single stack
    assert found["p-window"]["stage"] == "production" and found["p-window"]["gate"]["kind"] == "window"
    assert "2026-12-07T09:00:00+01:00" in found["p-window"]["gate"]["reason"]
    assert found["p-soak"]["gate"]["kind"] == "soak"
    assert found["p-approval"]["gate"] == {"kind": "approval", "state": "Wait for approval",
                                           "child": "p-approval-production", "changes": 2}
    assert found["p-deploying"]["stage"] == "dev"
    assert found["p-deploying"]["gate"] == {"kind": "deploying", "state": "Wait for stack", "child": "p-deploying-dev"}
    assert found["p-building"]["stage"] is None and found["p-building"]["gate"]["kind"] == "building"
    assert found["p-window"]["commit"] == COMMIT and found["p-window"]["pusher"] == "ada"
    assert found["p-window"]["stages"] == STAGES


def test_the_pipeline_view_puts_the_live_commit_of_each_stage_beside_its_running_executions():
    sfn, ledger = Sfn(), Ledger()
    older = "0" * 40
    ledger.releases["pipeline:sample"] = [{"stack": "pipeline:sample", "stages": STAGES, "outcome": "Deployed"}]
    ledger.releases["sample-dev"] = [
        {"stack": "sample-dev", "outcome": "DeploymentFailed", "commit": COMMIT, "execution_name": "p2-dev"},
        {"stack": "sample-dev", "outcome": "Deployed", "commit": older, "execution_name": "p1-dev",
         "ended_at": "2026-12-05T11:00:00Z"}]
    ledger.releases["sample-prod"] = [{"stack": "sample-prod", "outcome": "Deployed", "commit": older,
                                       "execution_name": "p1-production", "ended_at": "2026-12-05T11:10:00Z"}]
    ledger.releases["other-stack"] = [{"stack": "other-stack", "outcome": "Deployed", "commit": older}]
    shown = pipelines(operator(sfn, ledger))
    assert [p["name"] for p in shown["pipelines"]] == ["sample"]
    dev, production = shown["pipelines"][0]["stages"]
    assert (dev["stage"], dev["commit"], dev["last_outcome"], dev["last_commit"]) == (
        "dev", older, "DeploymentFailed", COMMIT)
    assert (production["stage"], production["commit"], production["release"]) == ("production", older, "p1-production")
    assert shown["pipelines"][0]["running"] == []

    # A pipeline never recorded yet (its first run is still running) is shown from its running execution.
    sfn.add("first", parent_until_the_map(0).state("Check stage gates", exits=False), {"source": "ghe", "event": {}})
    ledger.releases.pop("pipeline:sample")
    first = pipelines(operator(sfn, ledger))["pipelines"][0]
    assert first["name"] == "sample" and [s["stage"] for s in first["stages"]] == ["dev", "production"]
    assert first["running"][0]["gate"]["kind"] == "checking" and first["running"][0]["stage"] == "dev"
