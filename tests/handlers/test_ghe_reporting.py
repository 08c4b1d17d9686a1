"""Acquire lock and record release tell a local GHE (served over HTTP) about the deployment, and count.

Commit statuses and a Deployments record per execution, with its in_progress and final statuses; an
outage costs one failed call per step, is counted as GheUnavailable and never fails the step.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from stepdeploy_cli.demo import commit, git
from stepdeploy_localcloud.ghe import LocalGHE

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
OWNER, REPO = "platform", "sample-app"


@pytest.fixture()
def ghe(orchestrator: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalGHE]:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    local = LocalGHE(tmp_path / "ghe", "127.0.0.1", token="t0ken")  # the token the orchestrator's secret holds
    app = DispatcherMiddleware(Response("not found", status=404), {"/api/v3": local.api_app})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("GHE_API_URL", f"http://127.0.0.1:{server.server_port}/api/v3")
    from stepdeploy.settings import settings

    settings.cache_clear()
    try:
        yield local
    finally:
        server.shutdown()
        settings.cache_clear()


def pushed_commit(ghe: LocalGHE, tmp_path: Path) -> str:
    worktree = tmp_path / "app"
    worktree.mkdir()
    git(worktree, "init", "-q", "-b", "main")
    sha = commit(worktree, "First version", {"README.md": "hello\n"})
    ghe.push(worktree, OWNER, REPO, "main")
    return sha


def lock_event(sha: str, execution_id: str) -> dict[str, Any]:
    event = load_event("acquire_lock")
    event["document"]["request"]["commit"] = sha
    event["document"]["event"]["detail"]["after"] = sha
    event["execution"]["Id"] = execution_id
    return event


def end_event(document: dict[str, Any], execution: dict[str, Any], state: str, error: str | None = None
              ) -> dict[str, Any]:
    document = copy.deepcopy(document)
    if error:
        document["error"] = {"Error": error, "Cause": f"{error}: see the build log"}
    return {"document": document, "execution": {**execution, "state": state}}


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def test_a_deployment_is_reported_as_statuses_and_a_deployment_record(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:one")
    locked = load_handler("acquire_lock").handler(event, Context())

    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["pending"]
    (deployment,) = ghe.deployments(OWNER, REPO)
    assert (deployment["sha"], deployment["environment"]) == (sha, "production")
    execution_arn = event["execution"]["Id"]
    assert deployment["payload"] == {"stack": "sample-prod", "execution": execution_arn, "tool": "stepdeploy"}
    (started,) = ghe.deployment_statuses(OWNER, REPO, deployment["id"])
    assert started["state"] == "in_progress" and started["log_url"].endswith(event["execution"]["Id"])
    (emf,) = emf_lines(capsys)
    assert emf["DeploymentStarted"] == [1.0] and emf["stack"] == "sample-prod"

    load_handler("record_release").handler(end_event(locked, event["execution"], "Record release"), Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["success", "pending"]
    assert [d["id"] for d in ghe.deployments(OWNER, REPO)] == [deployment["id"]]  # found again, not a second one
    assert [s["state"] for s in ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["success", "in_progress"]
    (emf,) = emf_lines(capsys)
    assert emf["DeploymentSucceeded"] == [1.0] and emf["DeploymentFailed"] == [0.0]
    assert emf["LeadTime"][0] > 0  # the fixture's head_commit_timestamp is before now


def test_an_outage_costs_one_counted_call_per_step_and_the_record_is_made_at_the_end(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:two")
    ghe.set_outage(True)
    locked = load_handler("acquire_lock").handler(event, Context())
    assert locked["lock"]["owner"] == event["execution"]["Id"]  # the step went on
    lines = emf_lines(capsys)
    assert [line["operation"] for line in lines if "GheUnavailable" in line] == ["commit status"]
    assert ghe.statuses(OWNER, REPO, sha) == [] and ghe.deployments(OWNER, REPO) == []

    ghe.set_outage(False)
    failure = end_event(locked, event["execution"], "Record failure", error="BuildFailed")
    load_handler("record_release").handler(failure, Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["failure"]
    (deployment,) = ghe.deployments(OWNER, REPO)
    assert [s["state"] for s in ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["failure"]
    (emf,) = [line for line in emf_lines(capsys) if "DeploymentFailed" in line]
    assert emf["DeploymentFailed"] == [1.0] and emf["outcome"] == "BuildFailed"


def test_a_superseded_execution_gets_an_error_status_but_no_deployment_record(ghe, tmp_path):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:three")
    document = event["document"]  # superseded before it took the lock
    load_handler("record_release").handler(end_event(document, event["execution"], "Record superseded"), Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["error"]
    assert ghe.deployments(OWNER, REPO) == []


def test_a_refused_token_is_counted_as_rejected(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    ghe.token = "another-token"
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:four")
    load_handler("acquire_lock").handler(event, Context())
    failures = [line for line in emf_lines(capsys) if "GheRejected" in line or "GheUnavailable" in line]
    assert [("GheRejected" in f, "401" in f["reason"]) for f in failures] == [(True, True)]
