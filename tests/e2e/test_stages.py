"""A pipeline of stages on the local cloud: one push built once and promoted dev -> automated test ->
staging -> approval -> production; a second push stops at the failed test before staging, production
untouched. Through the real webhook, template, state machine (a child execution per stage) and handlers."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli.demo.runner import SAMPLE_APP, Demo, git, sample_app_on_local_cloud
from stepdeploy_cli.demo.stages import PRODUCTION_ACCOUNT, STAGE_STACKS, broken_greeter, staged_edits
from stepdeploy_cli.main import app as cli_app

pytestmark = pytest.mark.e2e

DEV, STAGING, PRODUCTION = (STAGE_STACKS[s] for s in ("dev", "staging", "production"))
BROKEN_GREETER = broken_greeter(SAMPLE_APP)


def staged_app(root: Path) -> Path:
    app = root / "app"
    shutil.copytree(SAMPLE_APP, app)
    for path, text in staged_edits(app).items():
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_text(text)
    return app


class Pipeline:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.sfn = demo.cloud.client("stepfunctions")
        self.ledger = Ledger(demo.cloud.orchestrator.table_name,  # type: ignore[union-attr]
                             dynamodb_resource=demo.cloud.resource("dynamodb"))

    def wait(self, what: str, check: Any, timeout: float = 240.0, unless_ended: str | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if unless_ended and (ended := self.described(unless_ended)) and ended["status"] != "RUNNING":
                raise AssertionError(f"{unless_ended} ended {ended['status']} before {what}: {ended.get('error')}: "
                                     f"{ended.get('cause')}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def push(self, message: str, edits: dict[str, str]) -> str:
        """The push's own (parent) execution (Demo.push skips every earlier one and the stages' children)."""
        return self.demo.push(message, edits)

    def child(self, parent: str, stage: str) -> str:
        return f"{parent}-{stage}"

    def described(self, arn: str) -> dict[str, Any] | None:
        try:
            return dict(self.sfn.describe_execution(executionArn=arn))
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def ended(self, arn: str) -> dict[str, Any]:
        return dict(self.wait(f"{arn} to end", lambda: (d := self.described(arn)) and d["status"] != "RUNNING" and d))

    def approve(self, arn: str) -> None:
        approval = self.wait(f"{arn} to wait for approval", lambda: self.ledger.approval(arn))
        self.sfn.send_task_success(taskToken=approval["task_token"], output=json.dumps({"approved": True, "by": "qa"}))

    def released(self, stack: str) -> dict[str, Any]:
        return next(r for r in self.ledger.releases_of(stack) if r.get("outcome") in ("Deployed", "NoChanges"))

    def cli(self, *args: str) -> Any:
        env = {"AWS_ENDPOINT_URL": self.demo.cloud.url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_PROFILE": None, "STEPDEPLOY_STACK": self.demo.cloud.orchestrator.stack_name}  # type: ignore[union-attr]
        result = CliRunner().invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, f"stepdeploy {' '.join(args)} -> {result.exit_code}\n{result.output}"
        return result

    def greeting(self, stack: str) -> str:
        account = PRODUCTION_ACCOUNT if stack == PRODUCTION else None
        cfn, lam = (self.demo.cloud.account_client(s, account) if account else self.demo.cloud.client(s)
                    for s in ("cloudformation", "lambda"))
        name = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="GreeterFunction")[
            "StackResourceDetail"]["PhysicalResourceId"]
        answer = lam.invoke(FunctionName=name, Qualifier="live", Payload=b'{"name": "Ada"}')
        return str(json.loads(answer["Payload"].read())["message"])


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    root = Path(tempfile.mkdtemp(prefix="stepdeploy-stages-app-"))
    try:
        with sample_app_on_local_cloud("stepdeploy-stages-", app=staged_app(root)) as demo:
            yield Pipeline(demo)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_one_push_is_built_once_and_promoted_through_gated_stages(pipeline: Pipeline) -> None:
    parent = pipeline.push("First version", {})
    production = pipeline.child(parent, "production")
    pipeline.wait("the production stage", lambda: pipeline.described(production), unless_ended=parent)
    pipeline.approve(production)
    ended = pipeline.ended(parent)
    assert ended["status"] == "SUCCEEDED", ended.get("cause")
    promotion = json.loads(ended["output"])["promotion"]
    assert [p["stage"] for p in promotion] == ["dev", "staging", "production"]
    assert all(p["release"]["outcome"] == "Deployed" for p in promotion)
    for stage in ("dev", "staging", "production"):
        child = pipeline.described(pipeline.child(parent, stage))
        assert child is not None and child["status"] == "SUCCEEDED"
    # Built once: one CodeBuild build, the same bundle and digest in every stage.
    releases = {stack: pipeline.released(stack) for stack in (DEV, STAGING, PRODUCTION)}
    # The packaged template names each account's permissions boundary: the digest is the same within an
    # account (dev, staging) and the build output (bundle, code) the same everywhere.
    assert releases[DEV]["artifact_digest"] == releases[STAGING]["artifact_digest"]
    assert len({json.dumps(r["bundle"], sort_keys=True) for r in releases.values()}) == 1
    assert len({r["build"]["build_id"] for r in releases.values()}) == 1
    assert {r["stage"] for r in releases.values()} == {"dev", "staging", "production"}
    assert pipeline.greeting(DEV) == "Hi, Ada!"  # each stage its own parameters
    assert pipeline.greeting(PRODUCTION) == "Hello, Ada!"


def test_a_failed_test_stops_the_promotion_and_production_is_untouched(pipeline: Pipeline) -> None:
    production_before = pipeline.released(PRODUCTION)
    staging_before = pipeline.released(STAGING)
    parent = pipeline.push("Break the greeter", {"greeter/app.py": BROKEN_GREETER})
    ended = pipeline.ended(parent)
    assert ended["status"] == "FAILED"
    assert ended["error"] == "StageGateFailed"
    assert "test SmokeTestFunction failed against stage dev" in ended["cause"]
    assert pipeline.described(pipeline.child(parent, "dev"))["status"] == "SUCCEEDED"  # type: ignore[index]
    assert pipeline.described(pipeline.child(parent, "staging")) is None
    assert pipeline.described(pipeline.child(parent, "production")) is None
    assert pipeline.greeting(DEV) == "Service unavailable"
    assert pipeline.released(STAGING)["execution_arn"] == staging_before["execution_arn"]
    assert pipeline.released(PRODUCTION)["execution_arn"] == production_before["execution_arn"]
    assert pipeline.greeting(PRODUCTION) == "Hello, Ada!"


def test_the_pipeline_view_shows_which_commit_is_in_which_stage(pipeline: Pipeline) -> None:
    rows = json.loads(pipeline.cli("pipeline", "sample", "--json").stdout)
    by_stage = {row["stage"]: row for row in rows}
    assert list(by_stage) == ["dev", "staging", "production"]
    good, broken = pipeline.released(PRODUCTION)["commit"], git(pipeline.demo.worktree, "rev-parse", "HEAD")
    assert by_stage["dev"]["commit"] == broken
    assert by_stage["staging"]["commit"] == by_stage["production"]["commit"] == good
    assert by_stage["production"]["stack"] == PRODUCTION and by_stage["production"]["last_outcome"] == "Deployed"
    assert by_stage["production"]["account"] == PRODUCTION_ACCOUNT and by_stage["dev"]["account"] is None
    piped = pipeline.cli("pipeline", "sample").stdout.splitlines()  # not a terminal: tab-separated rows
    assert piped[0].split("\t")[:4] == ["sample", "dev", DEV, broken[:7]]


def test_promote_by_hand_rolls_one_stage_back_to_a_recorded_artifact(pipeline: Pipeline) -> None:
    good = pipeline.released(PRODUCTION)
    production_before = good["execution_arn"]
    started = json.loads(pipeline.cli("promote", "sample", "--to", "dev", "--commit", good["commit"][:7],
                                      "--json").stdout)
    assert started["stage"] == "dev" and started["commit"] == good["commit"]
    ended = pipeline.ended(started["execution_arn"])
    assert ended["status"] == "SUCCEEDED", ended.get("cause")
    dev = pipeline.released(DEV)
    assert dev["commit"] == good["commit"] and dev["promoted_by"] and dev["stage"] == "dev"
    assert dev["build"]["build_id"] == good["build"]["build_id"]  # the artifact recorded, not a rebuild
    assert pipeline.greeting(DEV) == "Hi, Ada!"
    assert pipeline.released(PRODUCTION)["execution_arn"] == production_before


def test_a_newer_commit_at_the_approval_gate_supersedes_the_older_one(pipeline: Pipeline) -> None:
    older = pipeline.push("Greeter v3", {"greeter/app.py": (SAMPLE_APP / "greeter" / "app.py").read_text()
                                              .replace("f\"{os.environ", "\"v3 \" + f\"{os.environ")})
    older_production = pipeline.child(older, "production")
    pipeline.wait("the older commit at the approval gate", lambda: pipeline.ledger.approval(older_production),
                  unless_ended=older)
    newer = pipeline.push("Greeter v4", {"greeter/app.py": (SAMPLE_APP / "greeter" / "app.py").read_text()
                                              .replace("f\"{os.environ", "\"v4 \" + f\"{os.environ")})
    ended_older = pipeline.ended(older)
    assert ended_older["status"] == "SUCCEEDED"  # a successful end: recorded Superseded
    assert pipeline.ended(older_production)["status"] == "SUCCEEDED"
    assert json.loads(pipeline.ended(older_production)["output"])["release"]["outcome"] == "Superseded"
    assert pipeline.ledger.releases_of("pipeline:sample")[0]["outcome"] == "Superseded"
    pipeline.approve(pipeline.child(newer, "production"))
    assert pipeline.ended(newer)["status"] == "SUCCEEDED"
    assert pipeline.greeting(PRODUCTION) == "v4 Hello, Ada!"


def test_a_rollback_of_the_production_stage_moves_its_aliases_back_in_the_second_account(pipeline: Pipeline) -> None:
    newest = pipeline.released(PRODUCTION)
    assert newest["account"] == PRODUCTION_ACCOUNT  # the release says where its stack lives
    greeter = next(f for f in newest["versions"] if f["logical_id"] == "GreeterFunction")
    lam = pipeline.demo.cloud.account_client("lambda", PRODUCTION_ACCOUNT)
    assert lam.get_alias(FunctionName=greeter["function_name"], Name="live")["FunctionVersion"] == greeter["version"]
    rolled = json.loads(pipeline.cli("rollback", PRODUCTION, "--yes", "--json").stdout)
    assert rolled["account"] == PRODUCTION_ACCOUNT and rolled["recorded"]
    first = next(r for r in pipeline.ledger.releases_of(PRODUCTION) if r.get("outcome") == "Deployed"
                 and r["execution_arn"] != newest["execution_arn"])
    assert rolled["release"] == first["execution_name"]  # the Deployed release before (a Superseded one is not)
    moved = {m["logical_id"]: m for m in rolled["moves"]}
    back = next(f for f in first["versions"] if f["logical_id"] == "GreeterFunction")["version"]
    assert moved["GreeterFunction"]["to_version"] == back != greeter["version"]
    assert lam.get_alias(FunctionName=greeter["function_name"], Name="live")["FunctionVersion"] == back
    assert pipeline.greeting(PRODUCTION) == "Hello, Ada!"
    recorded = pipeline.ledger.releases_of(PRODUCTION)[0]
    assert recorded["outcome"] == "RolledBack" and recorded["account"] == PRODUCTION_ACCOUNT
    # Versions there too: the plan names the production functions' versions of account 222222222222.
    plan = json.loads(pipeline.cli("versions", "prune", PRODUCTION, "--dry-run", "--json").stdout)
    versions = {f["function_name"]: [v["version"] for v in f["versions"]] for f in plan["functions"]}
    assert back in versions[greeter["function_name"]] and greeter["version"] in versions[greeter["function_name"]]
