"""The operator CLI against the local cloud, on executions that real pipeline runs produced.

One local cloud for the module. The fixture tells one story through the real entry points and the
CLI itself: a first push, a change watched live during its canary, a push whose build fails, a run
that fails on a transient fault and is redriven, a run that waits for approval and is rejected, its
replay that is approved, a rollback, and the README's examples. Each test then checks what the
commands printed, in table and --json mode, and what they did to the aliases and the ledger.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli import releases
from stepdeploy_cli.demo.runner import STACK, Demo, git, sample_app_on_local_cloud
from stepdeploy_cli.main import app
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.cloud import PROJECT_ROOT, LocalCloud

pytestmark = pytest.mark.e2e

README = PROJECT_ROOT / "README.md"
EXAMPLES = re.compile(r"<!-- cli-examples -->(.*?)<!-- /cli-examples -->", re.S)
LAMBDA_RETRIES = 6  # the ASL's MaxAttempts for Lambda.ServiceException

CONFIG = """version: 1
targets:
  - branch: main
    stack: sample-prod
    environment: production
    parameters:
      Greeting: Hello
{approval}    deployment:
      alias: live
      strategy: {strategy}
      alarms: [GreeterErrorsAlarm, CounterErrorsAlarm]
      bake_minutes: 0
"""
GREETER = '''import os


def greet(name: str) -> str:
    return f"{{os.environ.get('GREETING', 'Hello')}}, {{name}}! {words}"


def handler(event, context):
    return {{"message": greet(str((event or {{}}).get("name", "world")))}}
'''
FAILING_TEST = '''import unittest


class BrokenTest(unittest.TestCase):
    def test_fails(self):
        self.fail("on purpose")
'''


def config(strategy: str = "LambdaCanary10Percent5Minutes", approval: bool = False) -> str:
    # A long time-out: at the local clock's speed an hour passes in half a minute.
    block = "    approval:\n      required: true\n      timeout_minutes: 1440\n" if approval else ""
    return CONFIG.format(strategy=strategy, approval=block)


@dataclass
class Story:
    cloud: LocalCloud
    demo: Demo
    env: dict[str, str | None]
    runner: CliRunner = field(default_factory=CliRunner)
    arns: dict[str, str] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, **env: str | None) -> Any:
        return self.runner.invoke(app, list(args), env={**self.env, **env})

    def ok(self, *args: str) -> Any:
        result = self.cli(*args)
        assert result.exit_code == 0, f"stepdeploy {' '.join(args)} -> {result.exit_code}\n{result.output}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def name(self, key: str) -> str:
        return self.arns[key].rsplit(":", 1)[-1]

    def push(self, key: str, message: str, edits: dict[str, str], remove: tuple[str, ...] = ()) -> str:
        for path in remove:
            (self.demo.worktree / path).unlink()
        arn = self.demo.push(message, edits)
        self.arns[key] = arn
        self.commits[key] = git(self.demo.worktree, "rev-parse", "HEAD")
        return arn

    def status(self, key: str) -> str:
        return str(self.sfn.describe_execution(executionArn=self.arns[key])["status"])

    @property
    def sfn(self) -> Any:
        return self.cloud.client("stepfunctions")

    def wait_until(self, what: str, check: Any, timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def ended(self, key: str) -> str:
        return str(self.wait_until(f"{key} to end", lambda: self.status(key) != "RUNNING" and self.status(key)))

    def waiting_for_approval(self, key: str) -> list[dict[str, Any]]:
        def pending() -> list[dict[str, Any]]:
            return [a for a in self.json("approvals") if a["execution_arn"] == self.arns[key]]

        return list(self.wait_until(f"{key} to wait for approval", pending))

    def alias(self, logical_id: str) -> str:
        return self.demo.alias_versions()[logical_id]

    def versions(self, logical_id: str) -> list[str]:
        name = self.demo.function_names()[logical_id]
        listed = self.cloud.client("lambda").list_versions_by_function(FunctionName=name)["Versions"]
        return [v["Version"] for v in listed if v["Version"] != "$LATEST"]

    def change_sets_of(self, key: str) -> list[dict[str, Any]]:
        summaries = self.cloud.client("cloudformation").list_change_sets(StackName=STACK)["Summaries"]
        return [s for s in summaries if self.name(key) in str(s.get("Description", ""))]


def tell_the_story(story: Story) -> None:
    calls, facts = story.calls, story.facts
    worktree = story.demo.worktree
    (worktree / "stepdeploy.yml").write_text(config())

    # A first push, then a change whose canary `watch --json` follows live.
    story.push("first", "First version", {})
    assert story.ended("first") == "SUCCEEDED"
    story.push("change", "Greeter says welcome", {"greeter/app.py": GREETER.format(words="Welcome.")})
    calls["watch change"] = story.cli("watch", story.arns["change"], "--json", "--interval", "0.1")
    calls["watch change table"] = story.cli("watch", story.name("change"))
    calls["watch change all"] = story.cli("watch", story.name("change"), "--all")

    # A push whose build fails.
    story.push("build fails", "A failing test", {"tests/test_broken.py": FAILING_TEST})
    assert story.ended("build fails") == "FAILED"

    # A transient fault beyond the ASL's retries: the execution fails at Package artifact; redrive it.
    package_function = story.cloud.orchestrator.resources["PackageArtifactFunction"]
    facts["greeter versions before redrive"] = story.versions("GreeterFunction")
    lambda_runtime.inject_fault(package_function, "service_error", times=LAMBDA_RETRIES + 4)
    try:
        story.push("faulted", "Greeter says hi", {"greeter/app.py": GREETER.format(words="Hi.")},
                   remove=("tests/test_broken.py",))
        assert story.ended("faulted") == "FAILED"
    finally:
        lambda_runtime.clear_faults()
    calls["show faulted json"] = story.json("executions", "show", story.name("faulted"))
    calls["show faulted"] = story.cli("executions", "show", story.name("faulted"))
    calls["redrive faulted"] = story.cli("redrive", story.name("faulted"), "--json")
    calls["watch faulted"] = story.cli("watch", story.name("faulted"), "--json", "--interval", "0.2")
    facts["greeter versions after redrive"] = story.versions("GreeterFunction")
    facts["faulted change sets"] = story.change_sets_of("faulted")
    facts["alias after redrive"] = story.alias("GreeterFunction")
    calls["redrive succeeded"] = story.cli("redrive", story.name("faulted"))
    calls["redrive build failure"] = story.cli("redrive", story.name("build fails"))

    # Approval: rejected, then the replay of the same push is approved.
    approval_config = config(strategy="LambdaAllAtOnce", approval=True)
    story.push("rejected", "Greeter says hey, with approval",
               {"greeter/app.py": GREETER.format(words="Hey."), "stepdeploy.yml": approval_config})
    facts["pending before reject"] = story.waiting_for_approval("rejected")
    calls["approvals table"] = story.ok("approvals")
    calls["show waiting"] = story.json("executions", "show", story.name("rejected"))
    calls["rollback while locked"] = story.cli("rollback", STACK, "--dry-run")
    calls["rollback while locked forced"] = story.cli("rollback", STACK, "--dry-run", "--force", "--json")
    calls["reject"] = story.json("reject", story.name("rejected"), "--by", "grace", "--comment", "not on a Friday")
    assert story.ended("rejected") == "FAILED"
    calls["approve rejected"] = story.cli("approve", story.name("rejected"))
    calls["replay rejected"] = story.json("replay", story.name("rejected"))
    story.arns["replay"] = calls["replay rejected"]["execution_arn"]
    story.demo.seen.add(story.arns["replay"])
    facts["pending replay"] = story.waiting_for_approval("replay")
    calls["approve replay"] = story.json("approve", story.name("replay"), "--by", "grace", "--comment", "reviewed")
    calls["watch replay"] = story.cli("watch", story.name("replay"))
    facts["alias after replay"] = story.alias("GreeterFunction")

    # Rollback: to the Deployed release before the current one, at once, recorded in the ledger.
    calls["rollback dry run"] = story.json("rollback", STACK, "--dry-run")
    calls["rollback without --yes"] = story.cli("rollback", STACK)
    ledger = Ledger(story.cloud.orchestrator.table_name, dynamodb_resource=story.cloud.resource("dynamodb"))
    record_rollback = releases.record_rollback

    def record_while_locked(op: Any, stack: str, *args: Any, **kwargs: Any) -> str:
        facts["lock while rolling back"] = ledger.lock_holder(stack)  # the aliases have just moved
        return record_rollback(op, stack, *args, **kwargs)

    releases.record_rollback = record_while_locked  # type: ignore[assignment]
    try:
        calls["rollback"] = story.json("rollback", STACK, "--yes", "--by", "grace", "--comment", "greeting too casual")
    finally:
        releases.record_rollback = record_rollback  # type: ignore[assignment]
    facts["lock after rollback"] = ledger.lock_holder(STACK)
    facts["alias after rollback"] = story.alias("GreeterFunction")
    facts["routing after rollback"] = story.cloud.client("lambda").get_alias(
        FunctionName=story.demo.function_names()["GreeterFunction"], Name="live"
    ).get("RoutingConfig")
    calls["deployments after rollback"] = story.json("deployments")
    calls["rollback again dry run"] = story.json("rollback", STACK, "--dry-run")
    calls["rollback to first"] = story.json("rollback", STACK, "--release", story.name("first"), "--dry-run")
    calls["rollback to version 1"] = story.cli("rollback", STACK, "--to", "1", "--dry-run")
    calls["rollback to missing version"] = story.cli("rollback", STACK, "--to", "99", "--yes")
    calls["rollback to failed release"] = story.cli("rollback", STACK, "--release", story.name("build fails"), "--yes")

    # Retention: each Deployed release ran Prune versions; `versions prune` shows and applies the same plan.
    facts["first output"] = json.loads(story.sfn.describe_execution(executionArn=story.arns["first"])["output"])
    calls["versions prune dry run"] = story.json("versions", "prune", STACK, "--dry-run")

    # The README's examples, last: they replay the failed build at the first commit.
    variables = {
        "EXECUTION": story.name("first"),
        "FAILED": story.name("build fails"),
        "COMMIT": story.commits["first"][:7],  # a short SHA: resolved through the local GHE
    }
    examples = []
    for line in readme_examples():
        args = shlex.split(re.sub(r"\$([A-Z_]+)", lambda m: variables[m.group(1)], line), comments=True)
        examples.append((line, story.cli(*args[1:])))
    calls["readme"] = examples
    replays = [e for e in story.sfn.list_executions(stateMachineArn=story.cloud.orchestrator.state_machine_arn)[
        "executions"] if e["executionArn"] not in story.arns.values()]
    facts["readme replays"] = [story.sfn.describe_execution(executionArn=e["executionArn"]) for e in replays]
    facts["alias after readme"] = story.alias("GreeterFunction")

    # Retention applied last: the README's replay of the first commit finds version 1 again before it.
    facts["rollback target before prune"] = story.json("rollback", STACK, "--dry-run")
    calls["versions prune retain 1 dry run"] = story.json("versions", "prune", STACK, "--dry-run", "--retain", "1")
    calls["versions prune without --yes"] = story.cli("versions", "prune", STACK, "--retain", "1")
    calls["versions prune"] = story.json("versions", "prune", STACK, "--retain", "1", "--yes")
    facts["greeter versions after prune"] = story.versions("GreeterFunction")


def readme_examples() -> list[str]:
    found = EXAMPLES.search(README.read_text())
    assert found, "README.md has no <!-- cli-examples --> block"
    return [line.strip() for line in found.group(1).splitlines() if line.strip().startswith("stepdeploy ")]


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    # twice the demo's speed: waits, canary and retries take half as long
    with sample_app_on_local_cloud("stepdeploy-cli-", speed=120) as demo:
        cloud = demo.cloud
        try:
            env: dict[str, str | None] = {
                "AWS_ENDPOINT_URL": cloud.url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_PROFILE": None,
                "STEPDEPLOY_STACK": cloud.orchestrator.stack_name,
                "COLUMNS": "220",
            }
            told = Story(cloud, demo, env)
            tell_the_story(told)
            yield told
        finally:
            lambda_runtime.clear_faults()


def lines_of(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output


# --- deployments -----------------------------------------------------------------------------------
def test_deployments_shows_the_latest_release_per_stack(story):
    table = story.ok("deployments").stdout
    assert "sample-prod" in table and "production" in table and "Ada-Lovelace" in table
    rows = story.json("deployments")
    assert [r["stack"] for r in rows] == ["sample-prod"]
    latest = rows[0]
    assert latest["environment"] == "production"
    assert latest["outcome"] in ("Deployed", "RolledBack")
    assert {v["logical_id"] for v in latest["versions"]} == {"GreeterFunction", "CounterFunction", "NotifierFunction"}
    assert latest["commit"] and latest["started_at"] and latest["pusher"]


def test_deployments_of_one_stack_is_its_history(story):
    history = story.json("deployments", STACK, "--limit", "50")
    outcomes = [r["outcome"] for r in history]
    assert outcomes.count("RolledBack") == 1 and "BuildFailed" in outcomes and "ApprovalRejected" in outcomes
    table = story.ok("deployments", STACK).stdout
    assert "RolledBack" in table and "BuildFailed" in table and story.name("first") in table
    missing = story.cli("deployments", "no-such-stack")
    assert missing.exit_code == 1 and "no releases recorded for stack 'no-such-stack'" in missing.stderr


# --- executions list / show ------------------------------------------------------------------------
def test_executions_list_in_both_modes_with_filters(story):
    rows = story.json("executions", "list", "--limit", "50")
    names = [r["name"] for r in rows]
    for key in ("first", "change", "build fails", "faulted", "rejected", "replay"):
        assert story.name(key) in names
    assert names.index(story.name("replay")) < names.index(story.name("first"))  # newest first
    failed = story.json("executions", "list", "--status", "failed")
    assert {r["name"] for r in failed} >= {story.name("build fails"), story.name("rejected")}
    assert all(r["status"] == "FAILED" for r in failed)
    build = next(r for r in failed if r["name"] == story.name("build fails"))
    assert build["error"] == "BuildFailed" and build["stack"] == STACK and build["repository"] == "platform/sample-app"
    assert build["commit"] == story.commits["build fails"]
    assert {r["name"] for r in story.json("executions", "list", "--stack", "other-stack")} == set()
    assert len(story.json("executions", "list", "--repository", "sample-app", "--limit", "2")) == 2
    since = story.sfn.describe_execution(executionArn=story.arns["build fails"])["startDate"].isoformat()
    recent = {r["name"] for r in story.json("executions", "list", "--since", since, "--limit", "50")}
    assert story.name("build fails") in recent and story.name("first") not in recent
    table = story.ok("executions", "list", "--stack", STACK).stdout
    assert story.name("build fails") in table and "BuildFailed" in table and "FAILED" in table
    # Not a terminal: one tab-separated row per execution, so `| grep FAILED | cut -f1` gives the names.
    failed_names = {line.split("\t")[0] for line in table.splitlines() if "\tFAILED\t" in line}
    assert failed_names >= {story.name("build fails"), story.name("rejected")}
    assert all(len(line.split("\t")) == 9 for line in table.splitlines())


def test_executions_show_gives_timeline_error_cause_and_console_link(story):
    shown = story.json("executions", "show", story.name("build fails"))
    assert shown["status"] == "FAILED" and shown["error"] == "BuildFailed" and "Logs:" in shown["cause"]
    assert shown["console_url"] == f"{story.cloud.url}/dashboard/#execution={story.name('build fails')}"
    assert shown["build_log"]["total"] > len(shown["build_log"]["lines"]) == 20
    assert any("on purpose" in line or "FAILED" in line for line in shown["build_log"]["lines"])
    states = {s["name"]: s for s in shown["states"]}
    assert states["Check build"]["status"] == "caught" and states["Check build"]["error"] == "BuildFailed"
    assert states["Start build"]["status"] == "done" and states["Start build"]["seconds"] >= 0
    assert shown["states"][-1]["name"] == "Deployment failed"
    assert shown["next"] == [f"stepdeploy replay {story.name('build fails')}  (after fixing the cause)"]
    table = story.ok("executions", "show", story.arns["build fails"]).stdout
    for text in ("Check build", "Start build", "BuildFailed", "Console", "/dashboard/#execution=",
                 "Build log", "platform/sample-app", story.commits["build fails"][:7], "--log for all"):
        assert text in table
    assert table.count(shown["cause"].split(" Logs:")[0]) == 1  # the cause once
    whole = story.ok("executions", "show", story.name("build fails"), "--log").stdout
    assert f"all of {shown['build_log']['total']} lines" in whole and "--log for all" not in whole


def test_show_accepts_the_unique_start_of_a_name(story):
    shown = story.json("executions", "show", story.name("change")[:-3])
    assert shown["execution_arn"] == story.arns["change"]
    assert shown["outcome"] == "Deployed" and shown["stack"] == STACK
    # An exact name wins over the longer names it starts (its replays).
    assert story.json("executions", "show", story.name("first"))["execution_arn"] == story.arns["first"]
    ambiguous = story.cli("executions", "show", "sample-app-main-")
    assert ambiguous.exit_code == 1 and "give more of the name" in ambiguous.stderr


def test_show_of_a_waiting_execution_says_how_to_answer(story):
    shown = story.calls["show waiting"]
    assert shown["status"] == "RUNNING" and shown["approval_pending"]["stack"] == STACK
    assert "task_token" not in shown["approval_pending"]
    assert shown["states"][-1]["name"] == "Wait for approval" and shown["states"][-1]["status"] == "waiting"
    assert shown["next"][0] == f"stepdeploy approve {story.name('rejected')}"


# --- watch -----------------------------------------------------------------------------------------
def test_watch_follows_a_canary_and_shows_the_traffic_split(story):
    result = story.calls["watch change"]
    assert result.exit_code == 0, result.output
    events = lines_of(result.stdout)
    traffic = [e for e in events if e["event"] == "traffic"]
    assert traffic, "no traffic split seen during the canary"
    assert {"1": 0.9, "2": 0.1} in [e["split"]["GreeterFunction"] for e in traffic]  # the canary's 10%
    assert "CounterFunction" not in traffic[0]["split"]  # unchanged: nothing to shift
    entered = [e["name"] for e in events if e["event"] == "state"]
    assert "Start traffic shift" in entered and "Deployed" in entered
    assert events[-1]["event"] == "end" and events[-1]["status"] == "SUCCEEDED"
    assert events[-1]["outcome"] == "Deployed"


def test_watch_in_table_mode_and_exit_codes(story):
    done = story.calls["watch change table"]
    assert done.exit_code == 0 and "Deployed" in done.stdout and "SUCCEEDED" in done.stdout
    # Running locally, the link is the local dashboard's page of the execution, not the AWS console.
    assert f"{story.cloud.url}/dashboard/#execution={story.name('change')}" in done.stdout
    assert "console.aws.amazon.com" not in done.stdout
    # Internal Choice states are hidden unless --all.
    assert "Check build:" in done.stdout and "Build finished?" not in done.stdout
    assert "Build finished?:" in story.calls["watch change all"].stdout
    failed = story.cli("watch", story.name("build fails"))
    assert failed.exit_code == 1
    assert "BuildFailed" in failed.stdout and "Check build" in failed.stdout
    no_traceback(failed)


# --- redrive ---------------------------------------------------------------------------------------
def test_the_transient_fault_failed_the_execution_at_package_artifact(story):
    shown = story.calls["show faulted json"]
    assert shown["status"] == "FAILED" and shown["error"] == "Lambda.ServiceException"
    last = shown["states"][-1]
    assert last["name"] == "Package artifact" and last["status"] == "failed"
    assert last["attempts"] == LAMBDA_RETRIES + 1 and len(last["retried_errors"]) == LAMBDA_RETRIES
    assert shown["next"][0] == f"stepdeploy redrive {story.name('faulted')}"
    table = story.calls["show faulted"].stdout
    assert "Package artifact" in table and "FAILED: Lambda.ServiceException" in table and "retried 6x" in table


def test_redrive_resumes_at_the_failed_state_and_ends_as_a_clean_run(story):
    redriven = story.calls["redrive faulted"]
    assert redriven.exit_code == 0, redriven.output
    answer = json.loads(redriven.stdout)
    assert answer["resumes_at"] == "Package artifact" and answer["redrive_count"] == 1
    watched = story.calls["watch faulted"]
    assert watched.exit_code == 0, watched.output
    end = lines_of(watched.stdout)[-1]
    assert end["status"] == "SUCCEEDED" and end["outcome"] == "Deployed" and end["redrive_count"] == 1
    shown = story.json("executions", "show", story.name("faulted"))
    names = [s["name"] for s in shown["states"]]
    assert names.count("Start build") == 1  # successful states are not run again
    assert [s["name"] for s in shown["states"] if s["redrive"] == 1][0] == "Package artifact"
    table = story.ok("executions", "show", story.name("faulted")).stdout
    assert "redrive 1" in table and "redriven 1x" in table and "FAILED: Lambda.ServiceException" in table
    # No duplicate side effect: one new version, one change set, the alias on it.
    before, after = story.facts["greeter versions before redrive"], story.facts["greeter versions after redrive"]
    assert len(after) == len(before) + 1
    assert story.facts["alias after redrive"] == max(after, key=int)
    assert len(story.facts["faulted change sets"]) == 1


def test_redrive_refuses_what_it_cannot_resume_and_says_why(story):
    succeeded = story.calls["redrive succeeded"]
    assert succeeded.exit_code == 1
    assert f"{story.name('faulted')} is not redrivable: it is SUCCEEDED" in succeeded.stderr
    failure_path = story.calls["redrive build failure"]
    assert failure_path.exit_code == 1
    assert "not worth redriving" in failure_path.stderr and "BuildFailed" in failure_path.stderr
    assert f"stepdeploy replay {story.name('build fails')}" in failure_path.stderr
    for result in (succeeded, failure_path):
        no_traceback(result)


# --- approvals, replay ------------------------------------------------------------------------------
def test_approvals_lists_the_waiting_execution(story):
    pending = story.facts["pending before reject"]
    assert len(pending) == 1 and pending[0]["stack"] == STACK
    assert pending[0]["commit"] == story.commits["rejected"] and "task_token" not in pending[0]
    assert story.name("rejected") in story.calls["approvals table"].stdout
    assert story.json("approvals") == []


def test_reject_fails_the_execution_with_the_reason(story):
    rejected = story.calls["reject"]
    assert rejected["approved"] is False and rejected["by_text"] == "grace"
    assert rejected["identity"].startswith("arn:aws:") and rejected["by"] == f"{rejected['identity']} (grace)"
    described = story.sfn.describe_execution(executionArn=story.arns["rejected"])
    assert described["status"] == "FAILED" and described["error"] == "ApprovalRejected"
    assert f"Rejected by {rejected['identity']} (grace): not on a Friday" in described["cause"]
    late = story.calls["approve rejected"]
    assert late.exit_code == 1 and "cannot approve" in late.stderr
    assert "it is FAILED, nothing waits for approval; no verb applies to it now" in late.stderr


def test_replay_starts_the_same_input_under_a_readable_name_and_approve_resumes_it(story):
    replayed = story.calls["replay rejected"]
    assert replayed["replay_of"] == story.arns["rejected"]
    sha7 = story.commits["rejected"][:7]
    assert re.fullmatch(rf"sample-app-main-{sha7}-[0-9a-f]{{6}}-replay-1", replayed["name"])
    original = json.loads(story.sfn.describe_execution(executionArn=story.arns["rejected"])["input"])
    replay_input = json.loads(story.sfn.describe_execution(executionArn=story.arns["replay"])["input"])
    assert replay_input["event"]["detail"] == original["event"]["detail"]
    assert replay_input["replay_of"] == story.arns["rejected"]
    assert story.calls["approve replay"]["approved"] is True
    watched = story.calls["watch replay"]
    assert watched.exit_code == 0, watched.output
    assert story.status("replay") == "SUCCEEDED"
    assert int(story.facts["alias after replay"]) > int(story.facts["alias after redrive"])
    shown = story.json("executions", "show", story.name("replay"))
    assert shown["outcome"] == "Deployed" and shown["replay_of"] == story.arns["rejected"]


def test_replay_at_another_commit_deploys_that_commit(story):
    replays = [d for d in story.facts["readme replays"] if json.loads(d["input"]).get("replay_of")]
    at_commit = [d for d in replays if json.loads(d["input"])["event"]["detail"]["after"] == story.commits["first"]]
    assert len(at_commit) == 1 and at_commit[0]["status"] == "SUCCEEDED"
    assert at_commit[0]["name"].startswith(f"sample-app-main-{story.commits['first'][:7]}-")
    assert story.facts["alias after readme"] == "1"  # the first commit's code is version 1 again
    bad = story.cli("replay", story.name("first"), "--commit", "abc123")
    assert bad.exit_code == 1 and "expected a commit SHA, 40 hex digits or its first 7 or more" in bad.stderr
    unknown = story.cli("replay", story.name("first"), "--commit", "0000000")
    assert unknown.exit_code == 1 and "no single commit of platform/sample-app starts with it" in unknown.stderr


# --- rollback --------------------------------------------------------------------------------------
def test_rollback_is_refused_while_a_deployment_holds_the_lock(story):
    locked = story.calls["rollback while locked"]
    assert locked.exit_code == 1
    assert f"stack {STACK} is being deployed by {story.name('rejected')}" in locked.stderr
    assert "--force" in locked.stderr
    forced = story.calls["rollback while locked forced"]
    assert forced.exit_code == 0 and json.loads(forced.stdout)["dry_run"] is True


def test_rollback_moves_the_aliases_back_to_the_previous_good_release(story):
    plan, done = story.calls["rollback dry run"], story.calls["rollback"]
    assert plan["release"] == story.name("faulted") and plan["recorded"] is None
    greeter = {m["logical_id"]: m for m in done["moves"]}["GreeterFunction"]
    assert greeter["from_version"] == story.facts["alias after replay"]
    assert greeter["to_version"] == story.facts["alias after redrive"] and greeter["changes"]
    assert story.facts["alias after rollback"] == story.facts["alias after redrive"]
    assert story.facts["routing after rollback"] in (None, {"AdditionalVersionWeights": {}})
    latest = story.calls["deployments after rollback"][0]
    assert latest["outcome"] == "RolledBack" and latest["pusher"] == "grace"
    assert latest["rolled_back_to"] == story.name("faulted") and latest["execution_name"] == done["recorded"]
    assert latest["execution_arn"].startswith(f"rollback:{STACK}:")
    # Rolling back again goes one further release back, not forward again.
    assert story.calls["rollback again dry run"]["release"] == story.name("change")


def test_rollback_holds_the_stack_lock_while_it_moves_the_aliases_and_asks_first(story):
    held = story.facts["lock while rolling back"]
    assert held is not None and held["owner"].startswith(f"rollback:{STACK}:")
    assert held["owner"] == story.calls["deployments after rollback"][0]["execution_arn"]
    assert story.facts["lock after rollback"] is None
    unconfirmed = story.calls["rollback without --yes"]  # CliRunner's stdin is not a terminal
    assert unconfirmed.exit_code == 1
    assert "stdin is not a terminal to confirm it: pass --yes" in unconfirmed.stderr
    no_traceback(unconfirmed)


def test_rollback_to_a_release_or_a_version(story):
    to_first = story.calls["rollback to first"]
    assert to_first["release"] == story.name("first")
    assert {m["logical_id"]: m["to_version"] for m in to_first["moves"]} == {
        "GreeterFunction": "1", "CounterFunction": "1", "NotifierFunction": "1"}
    to_one = story.calls["rollback to version 1"]
    assert to_one.exit_code == 0 and "would move" in to_one.stdout and "unchanged" in to_one.stdout
    missing = story.calls["rollback to missing version"]
    assert missing.exit_code == 1 and "has no version 99" in missing.stderr
    failed = story.calls["rollback to failed release"]
    assert failed.exit_code == 1 and "ended BuildFailed; only a Deployed release is known good" in failed.stderr


# --- errors ----------------------------------------------------------------------------------------
def test_errors_name_what_was_wrong_without_a_traceback(story):
    missing = story.cli("executions", "show", "no-such-execution")
    assert missing.exit_code == 1 and "error: no such execution: no-such-execution" in missing.stderr
    bad_arn = story.cli("watch", "arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    assert bad_arn.exit_code == 1 and "is not an execution ARN" in bad_arn.stderr
    no_orchestrator = story.cli("deployments", STEPDEPLOY_STACK="nope")
    assert no_orchestrator.exit_code == 2 and "no orchestrator stack 'nope'" in no_orchestrator.stderr
    no_credentials = story.cli(
        "executions", "list", AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None,
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true", AWS_CONTAINER_CREDENTIALS_FULL_URI=None,
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=None, AWS_WEB_IDENTITY_TOKEN_FILE=None,
    )
    assert no_credentials.exit_code == 2 and "no AWS credentials found" in no_credentials.stderr
    unreachable = story.cli("deployments", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert unreachable.exit_code == 2 and "cannot reach http://127.0.0.1:9" in unreachable.stderr
    bad_since = story.cli("executions", "list", "--since", "yesterday-ish")
    assert bad_since.exit_code == 1 and "--since: expected a duration" in bad_since.stderr
    for result in (missing, bad_arn, no_orchestrator, no_credentials, unreachable, bad_since):
        no_traceback(result)
        assert result.stdout == ""


# --- the README ------------------------------------------------------------------------------------
def test_readme_examples_run_against_the_local_cloud(story):
    examples = story.calls["readme"]
    assert len(examples) >= 8
    for line, result in examples:
        assert result.exit_code == 0, f"{line}\n{result.output}"
        assert result.stdout.strip(), line
        if "--json" in line:
            json.loads(result.stdout)
    section = README.read_text().split("## Operating it", 1)[1].split("\n## ", 1)[0]
    for command in ("deployments", "executions list", "executions show", "watch", "redrive", "replay",
                    "rollback", "approvals", "approve", "reject"):
        assert f"`{command}" in section or f"stepdeploy {command}" in section, command


# --- versions prune --------------------------------------------------------------------------------
def test_versions_prune_keeps_alias_and_rollback_targets_and_deletes_the_rest(story):
    assert story.facts["first output"]["pruned"]["retain"] == 5  # Prune versions ran after the release
    greeter_name = story.demo.function_names()["GreeterFunction"]

    def greeter(report: dict) -> dict[str, dict]:
        (found,) = [f for f in report["functions"] if f["function_name"] == greeter_name]
        return {v["version"]: v for v in found["versions"]}

    dry = story.calls["versions prune dry run"]
    assert dry["retain"] == 5 and dry["dry_run"] is True  # the orchestrator's RetainReleases
    print(f"\nwith RetainReleases 5 the sample app keeps {dry['kept_bytes']} bytes of code")
    live = story.facts["alias after readme"]
    plan = greeter(story.calls["versions prune retain 1 dry run"])
    assert plan[live]["keep"] and plan[live]["reason"].startswith("alias live points to it")
    back_to = story.facts["rollback target before prune"]["moves"]
    greeter_back = next(m["to_version"] for m in back_to if m["function_name"] == greeter_name)
    assert plan[greeter_back]["keep"]
    assert all(v["code_size"] > 0 for v in plan.values())
    deleted = sorted((v for v, verdict in plan.items() if not verdict["keep"]), key=int)
    assert deleted, plan  # the story released the greeter more than twice

    refused = story.calls["versions prune without --yes"]
    assert refused.exit_code == 1 and "pass --yes" in refused.output
    done = story.calls["versions prune"]
    assert greeter(done) == plan
    kept = sorted((v for v, verdict in plan.items() if verdict["keep"]), key=int)
    assert story.facts["greeter versions after prune"] == kept
    print(f"\ncode kept {done['kept_bytes']} bytes, deleted {done['deleted_bytes']} bytes "
          f"({len(kept)} greeter versions kept of {len(plan)})")
