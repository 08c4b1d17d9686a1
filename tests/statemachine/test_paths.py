"""Every path of the real state machine, executed with the real handlers on the local cloud.

Faults are injected into one task function at a time (the Lambda runtime raises the named error as
the handler would), so each Catch and Choice branch is taken by a real execution. Histories feed the
coverage report written to build/sfn-coverage.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli.demo.runner import (
    BRANCH,
    GREETER_V2,
    OWNER,
    REPO,
    SAMPLE_APP,
    STACK,
    Demo,
    commit,
    git,
    sample_app_on_local_cloud,
)
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.cloud import LocalCloud

from ..conftest import record_execution

pytestmark = pytest.mark.statemachine

CONFIG = (SAMPLE_APP / "stepdeploy.yml").read_text()
APPROVAL_CONFIG = CONFIG.replace(
    "    environment: production\n",
    "    environment: production\n    approval: {required: true, timeout_minutes: 30}\n",
)
SHORT_APPROVAL_CONFIG = APPROVAL_CONFIG.replace("timeout_minutes: 30", "timeout_minutes: 1")


class Machine:
    """The local cloud with the sample app deployed once, and helpers to run one execution."""

    def __init__(self, cloud: LocalCloud, demo: Demo) -> None:
        self.cloud = cloud
        self.demo = demo
        self.sfn = cloud.client("stepfunctions")
        self.uploads = 0

    def state_of(self, logical_id: str) -> str:
        return next(state for state, function, _ in FAILING_TASKS if function == logical_id)

    def function(self, logical_id: str) -> str:
        return self.cloud.orchestrator.resources[logical_id]  # type: ignore[union-attr]

    def upload(self, greeting: str, config: str = CONFIG) -> str:
        """A prebuilt artifact with new greeter code: no build, and a traffic shift to do."""
        self.uploads += 1
        code = GREETER_V2.replace("Welcome back.", f"{greeting} #{self.uploads}")
        return self.demo.upload(f"paths-{self.uploads}", {"greeter/app.py": code, "stepdeploy.yml": config},
                                f"{self.uploads:040x}")

    def finish(self, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"{execution_arn} still running")
        return dict(described)

    def path(self, execution_arn: str) -> list[str]:
        events: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        record_execution(events)
        return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]

    def waiting_for_approval(self, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
        ledger = Ledger(self.cloud.orchestrator.table_name, dynamodb_resource=self.cloud.resource("dynamodb"))  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            approval = ledger.approval(execution_arn)
            if approval:
                return approval
            time.sleep(0.1)
        raise TimeoutError(f"{execution_arn} never waited for approval")

    def waiting_for_lock(self, execution_arn: str, timeout: float = 60.0) -> None:
        """Until the execution has been refused the stack's lock at least once (it entered "Wait for lock")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            if any(e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Wait for lock"
                   for e in events):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{execution_arn} never waited for the lock")

    def lock_holder(self) -> dict[str, Any] | None:
        ledger = Ledger(self.cloud.orchestrator.table_name, dynamodb_resource=self.cloud.resource("dynamodb"))  # type: ignore[union-attr]
        return ledger.lock_holder(STACK)


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    with sample_app_on_local_cloud("stepdeploy-paths-") as demo:
        try:
            m = Machine(demo.cloud, demo)
            first = m.finish(demo.push("First version", {}))
            assert first["status"] == "SUCCEEDED", first.get("cause")
            m.path(first["executionArn"])
            yield m
        finally:
            lambda_runtime.clear_faults()


def test_a_branch_no_target_names_is_skipped(machine: Machine) -> None:
    arn = machine.demo.push("Docs", {"README.md": "docs\n"}, branch="docs")
    described = machine.finish(arn)
    assert described["status"] == "SUCCEEDED"
    assert machine.path(arn)[-1] == "Skipped"
    assert "matches no target" in json.loads(described["output"])["request"]["reason"]


# (state whose function fails, its function, how to reach it)
FAILING_TASKS = [
    ("Resolve request", "ResolveRequestFunction", "push"),
    ("Acquire lock", "AcquireLockFunction", "push"),
    ("Start build", "StartBuildFunction", "push"),
    ("Check build", "CheckBuildFunction", "push"),
    ("Package artifact", "PackageArtifactFunction", "upload"),
    ("Create change set", "CreateChangeSetFunction", "upload"),
    ("Check change set", "CheckChangeSetFunction", "upload"),
    ("Execute change set", "ExecuteChangeSetFunction", "upload"),
    ("Check stack", "CheckStackFunction", "upload"),
    ("Publish versions", "PublishVersionsFunction", "upload"),
    ("Start traffic shift", "StartTrafficShiftFunction", "upload"),
    ("Check traffic shift", "CheckTrafficShiftFunction", "upload"),
    ("Bake", "CheckAlarmsFunction", "upload"),
]


@pytest.mark.parametrize(("state", "function", "trigger"), FAILING_TASKS, ids=[t[0] for t in FAILING_TASKS])
def test_a_terminal_error_in_any_task_goes_through_record_failure(
    machine: Machine, state: str, function: str, trigger: str
) -> None:
    lambda_runtime.inject_fault(machine.function(function), "unhandled", error_type="ChangeSetFailed")
    try:
        if trigger == "push":
            arn = machine.demo.push(f"Fail in {state}", {"README.md": f"{state}\n"})
        else:
            arn = machine.upload(f"fail in {state}")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
    path = machine.path(arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "ChangeSetFailed"
    assert described["cause"] == f"fault injected into {machine.function(function)}"  # readable, not JSON
    assert path[-3:] == [state, "Record failure", "Deployment failed"]
    assert machine.lock_holder() is None


def test_approval_approved_deploys(machine: Machine) -> None:
    arn = machine.upload("approved", APPROVAL_CONFIG)
    approval = machine.waiting_for_approval(arn)
    assert approval["stack"] == STACK and approval["changes"]
    machine.sfn.send_task_success(taskToken=approval["task_token"], output=json.dumps({"approved": True, "by": "ada"}))
    described = machine.finish(arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    path = machine.path(arn)
    waited = path.index("Wait for approval")
    assert path[waited : waited + 2] == ["Wait for approval", "Execute change set"]


def test_approval_rejected_fails_without_touching_the_stack(machine: Machine) -> None:
    before = machine.demo.alias_versions()
    arn = machine.upload("rejected", APPROVAL_CONFIG)
    approval = machine.waiting_for_approval(arn)
    machine.sfn.send_task_failure(taskToken=approval["task_token"], error="ApprovalRejected", cause="Rejected by ada")
    described = machine.finish(arn)
    assert described["status"] == "FAILED" and described["error"] == "ApprovalRejected"
    assert described["cause"] == "Rejected by ada"
    assert "Execute change set" not in machine.path(arn)
    assert machine.demo.alias_versions() == before


def test_approval_nobody_answers_is_rejected(machine: Machine) -> None:
    arn = machine.upload("ignored", SHORT_APPROVAL_CONFIG)
    described = machine.finish(arn)  # timeout_minutes 1: a real second at speed 60
    assert described["status"] == "FAILED" and described["error"] == "ApprovalRejected"
    assert "Nobody approved" in described["cause"]
    assert machine.path(arn)[-4:] == ["Wait for approval", "Approval timed out", "Record failure", "Deployment failed"]


def test_a_newer_push_supersedes_an_execution_waiting_for_the_lock(machine: Machine) -> None:
    holder = machine.upload("holds the lock", APPROVAL_CONFIG)
    approval = machine.waiting_for_approval(holder)
    older = machine.upload("older waiter")
    machine.waiting_for_lock(older)
    newer = machine.upload("newer waiter")
    machine.waiting_for_lock(newer)
    machine.sfn.send_task_failure(taskToken=approval["task_token"], error="Superseded", cause="superseded by a test")
    results = {name: machine.finish(arn) for name, arn in (("holder", holder), ("older", older), ("newer", newer))}
    assert machine.path(holder)[-2:] == ["Record superseded", "Superseded"], (machine.path(holder), results["holder"])
    assert results["older"]["status"] == "SUCCEEDED"
    assert machine.path(older)[-2:] == ["Record superseded", "Superseded"], (machine.path(older), results["older"])
    assert "superseded by commit" in json.loads(results["older"]["output"])["error"]["Cause"]
    assert results["newer"]["status"] == "SUCCEEDED", results["newer"].get("cause")
    assert machine.path(newer)[-1] == "Deployed"


def _upload_same_code_twice(machine: Machine, greeting: str) -> tuple[str, str]:
    code = GREETER_V2.replace("Welcome back.", greeting)
    first = machine.demo.upload(f"{greeting}-1", {"greeter/app.py": code}, "a" * 40)
    described = machine.finish(first)
    assert described["status"] == "SUCCEEDED", (machine.path(first), described.get("error"), described.get("cause"))
    return code, "b" * 40


@pytest.mark.parametrize("record_state", ["Record release", "Record no-op", "Record failure", "Record superseded"])
def test_a_failure_while_recording_still_fails_the_execution(machine: Machine, record_state: str) -> None:
    record = machine.function("RecordReleaseFunction")
    if record_state == "Record no-op":
        code, commit = _upload_same_code_twice(machine, "same-code")
    if record_state == "Record superseded":
        arn = machine.upload("superseded while recording", APPROVAL_CONFIG)
        approval = machine.waiting_for_approval(arn)
    try:
        lambda_runtime.inject_fault(record, "unhandled", error_type="InjectedFault")
        if record_state == "Record superseded":
            machine.sfn.send_task_failure(taskToken=approval["task_token"], error="Superseded",
                                          cause="superseded by a test")
        elif record_state == "Record release":
            arn = machine.upload("recorded")
        elif record_state == "Record no-op":
            arn = machine.demo.upload("same-code-2", {"greeter/app.py": code}, commit)
        else:
            lambda_runtime.inject_fault(machine.function("PackageArtifactFunction"), "unhandled",
                                        error_type="ArtifactRejected")
            arn = machine.upload("rejected artifact")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
    path = machine.path(arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "InjectedFault"
    assert path[-2:] == [record_state, "Deployment failed"]


def test_a_failure_while_pruning_versions_leaves_the_release_deployed(machine: Machine) -> None:
    try:
        lambda_runtime.inject_fault(machine.function("PruneVersionsFunction"), "unhandled", error_type="InjectedFault")
        arn = machine.upload("pruning fails")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert machine.path(arn)[-3:] == ["Record release", "Prune versions", "Deployed"]
    output = json.loads(described["output"])
    assert output["release"]["outcome"] == "Deployed"
    assert output["pruning_error"]["Error"] == "InjectedFault"



def test_a_push_delivered_after_a_newer_one_was_deployed_does_not_take_the_stack_back(machine: Machine) -> None:
    demo, ghe = machine.demo, machine.cloud.ghe
    older = commit(demo.worktree, "Older change", {"greeter/app.py": GREETER_V2.replace("Welcome back.", "older")})
    older_payload = ghe.push_payload(ghe.push(demo.worktree, OWNER, REPO, BRANCH))  # pushed; delivery lost
    newer_arn = demo.push("Newer change", {"greeter/app.py": GREETER_V2.replace("Welcome back.", "newer")})
    newer = machine.finish(newer_arn)
    assert newer["status"] == "SUCCEEDED", newer.get("cause")
    deployed_version = demo.alias_versions()["GreeterFunction"]

    status, body, _ = ghe.deliver(machine.cloud.webhook_url, older_payload, machine.cloud.webhook_secret)
    assert status == 202, body
    late = machine.finish(demo.new_execution())
    assert late["status"] == "SUCCEEDED"
    assert machine.path(late["executionArn"])[-2:] == ["Record superseded", "Superseded"]
    cause = json.loads(late["output"])["error"]["Cause"]
    newer_commit = git(demo.worktree, "rev-parse", "HEAD")
    assert f"superseded by commit {newer_commit[:7]}, pushed after {older[:7]}" in cause, cause
    assert demo.alias_versions()["GreeterFunction"] == deployed_version
