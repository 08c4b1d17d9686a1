"""The hostile stepdeploy.yml catalogue pushed through the real pipeline on the local cloud.

One local cloud for the module: the sample app is deployed once (stack sample-prod, owned by
platform/sample-app), a stack stepdeploy did not create is made beside it, then every file of
tests/fixtures/hostile_configs/ is committed and pushed as a signed webhook. Each push must fail at
"Resolve request" (or, when only the packaged template can tell, at "Package artifact"), never
reach "Create change set", name the file and the key, and leave every stack, change set, Lambda
version and $LATEST as it was; a refusal at Resolve request starts no build either.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import SAMPLE_APP, git
from stepdeploy_localcloud.cloud import LocalCloud

from ..hostile_catalogue import HostileConfig, load

pytestmark = pytest.mark.e2e
CASES = load()
ALLOWED = "platform/sample-app:sample-*,platform/intruder:sample-*,platform/greedy:*"
STACK, UNMANAGED = "sample-prod", "sample-legacy"
RESULTS: dict[str, str] = {}


@dataclass
class Pipeline:
    cloud: LocalCloud
    worktree: Path
    base: str
    seen: set[str]

    def execute(self, repository: str, edits: dict[str, bytes]) -> dict[str, Any]:
        """Commit the edits on the sample app's base commit, push to ``repository``, wait for the execution."""
        git(self.worktree, "checkout", "-q", "--force", self.base, "--", ".")
        for path, data in edits.items():
            (self.worktree / path).write_bytes(data)
        git(self.worktree, "add", "-A")
        git(self.worktree, "commit", "-q", "--allow-empty", "-m", "hostile configuration")
        owner, repo = repository.split("/")
        status, body, _ = self.cloud.push(self.worktree, owner, repo, "main")
        assert status == 202, body
        return self.wait(self.new_execution())

    def new_execution(self) -> str:
        sfn = self.cloud.client("stepfunctions")
        arn = self.cloud.orchestrator.state_machine_arn  # type: ignore[union-attr]
        for _ in range(600):
            fresh = [e for e in sfn.list_executions(stateMachineArn=arn)["executions"]
                     if e["executionArn"] not in self.seen]
            if fresh:
                self.seen.add(fresh[0]["executionArn"])
                return str(fresh[0]["executionArn"])
            time.sleep(0.05)
        raise TimeoutError("no execution started for the push")

    def wait(self, execution_arn: str) -> dict[str, Any]:
        sfn = self.cloud.client("stepfunctions")
        for _ in range(6000):
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        return {**described, "entered": entered}


def snapshot(cloud: LocalCloud) -> dict[str, Any]:
    """Every stack (status, last update, tags), its change sets, and every version and $LATEST of the app."""
    cfn, lam = cloud.client("cloudformation"), cloud.client("lambda")
    stacks = {
        s["StackName"]: (s["StackStatus"], str(s.get("LastUpdatedTime")), sorted(map(str, s.get("Tags", []))))
        for s in cfn.describe_stacks()["Stacks"]
    }
    change_sets = {name: sorted(c["ChangeSetId"] for c in cfn.list_change_sets(StackName=name)["Summaries"])
                   for name in stacks}
    functions = {}
    for resource in cfn.describe_stack_resources(StackName=STACK)["StackResources"]:
        if resource["ResourceType"] == "AWS::Lambda::Function":
            name = resource["PhysicalResourceId"]
            versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
            functions[name] = sorted((v["Version"], v["CodeSha256"], v.get("RevisionId", "")) for v in versions)
    builds = len(cloud.client("codebuild").list_builds()["ids"])
    return {"stacks": stacks, "change_sets": change_sets, "functions": functions, "builds": builds}


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    root = Path(tempfile.mkdtemp(prefix="stepdeploy-hostile-"))
    cloud = LocalCloud(root / "cloud", speed=120.0, allowed_repositories=ALLOWED)
    try:
        cloud.start()
        worktree = root / "sample-app"
        shutil.copytree(SAMPLE_APP, worktree)
        git(worktree, "init", "-q", "-b", "main")
        git(worktree, "add", "-A")
        git(worktree, "commit", "-q", "-m", "The sample app")
        run = Pipeline(cloud, worktree, git(worktree, "rev-parse", "HEAD"), set())
        first = run.execute("platform/sample-app", {})
        assert first["status"] == "SUCCEEDED", first.get("cause")
        cloud.client("cloudformation").create_stack(
            StackName=UNMANAGED,
            TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
        )
        yield run
    finally:
        cloud.stop()
        shutil.rmtree(root, ignore_errors=True)
        if RESULTS:
            counts: dict[str, int] = {}
            for state in RESULTS.values():
                counts[state] = counts.get(state, 0) + 1
            print(f"\nhostile catalogue: {len(RESULTS)} pushes refused; by state: {counts}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_config_is_refused_before_anything_changes(pipeline: Pipeline, case: HostileConfig):
    before = snapshot(pipeline.cloud)
    edits = {"stepdeploy.yml": case.text, **{path: text.encode() for path, text in case.files.items()}}
    result = pipeline.execute(case.repository, edits)
    after = snapshot(pipeline.cloud)

    assert result["status"] == "FAILED", (result["status"], result["entered"])
    assert "Create change set" not in result["entered"]
    failed_at = result["entered"][result["entered"].index("Record failure") - 1]
    RESULTS[case.name] = failed_at
    assert failed_at == case.state, result.get("cause")
    assert result.get("error") == case.error, result.get("cause")
    cause = str(result.get("cause"))
    assert "stepdeploy.yml" in cause and case.key in cause, cause
    if case.state == "Resolve request":
        assert after["builds"] == before["builds"], "a build started for a configuration refused at Resolve request"
    assert {k: v for k, v in after.items() if k != "builds"} == {k: v for k, v in before.items() if k != "builds"}
