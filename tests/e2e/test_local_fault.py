"""`stepdeploy local fault` and a restart of `local up`, driven from another terminal as a user would.

`local up` starts over a state folder a previous run left with a commit status still pending: it says
what it does not keep and settles that status. Then `local fault` makes the webhook function fail twice
(the third invocation runs), lists and clears faults, and names the functions for a wrong name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stepdeploy_cli.demo.runner import SAMPLE_APP, commit, git
from stepdeploy_localcloud.cloud import RESTARTED_DESCRIPTION
from stepdeploy_localcloud.ghe.server import LocalGHE

from .test_local_up import free_port

pytestmark = pytest.mark.e2e
STEPDEPLOY = [sys.executable, "-m", "stepdeploy_cli.main"]
REPOSITORY = "platform/sample-app"


class Running:
    def __init__(self, cwd: Path, port: int, banner: str, pending_sha: str) -> None:
        self.cwd, self.port, self.banner, self.pending_sha = cwd, port, banner, pending_sha
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*STEPDEPLOY, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=120)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def webhook_function(self) -> str:
        resources = self.client("cloudformation").describe_stack_resources(StackName="stepdeploy")["StackResources"]
        return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "WebhookFunction")

    def invoke(self, function: str) -> tuple[str | None, dict[str, Any]]:
        answer = self.client("lambda").invoke(FunctionName=function, Payload=b"{}")
        return answer.get("FunctionError"), json.loads(answer["Payload"].read())


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cwd = tmp_path_factory.mktemp("local-fault")
    port = free_port()
    # What a previous `local up` left: the sample app on its GHE, a deployment's status still pending.
    worktree = cwd / "sample-app"
    shutil.copytree(SAMPLE_APP, worktree)
    git(worktree, "init", "-q", "-b", "main")
    sha = commit(worktree, "First version", {})
    ghe = LocalGHE(cwd / ".stepdeploy-local" / "ghe", f"127.0.0.1:{port}")
    ghe.push(worktree, "platform", "sample-app", "main")
    ghe.add_status("platform", "sample-app", sha, "pending", description="Deploying",
                   context="stepdeploy/production", target_url="http://127.0.0.1/states/home")

    server = subprocess.Popen([*STEPDEPLOY, "local", "up", "--port", str(port)], cwd=cwd,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = server.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        yield Running(cwd, port, "".join(lines), sha)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_restart_says_what_is_not_kept_and_settles_pending_statuses(running: Running) -> None:
    banner = " ".join(running.banner.split())
    assert "Nothing is kept across a restart" in banner, running.banner
    assert "Set 1 commit status(es) left pending by the previous run to error" in banner
    shown = running.cli("local", "statuses", REPOSITORY, running.pending_sha, "--port", str(running.port), "--json")
    assert shown.returncode == 0, shown.stderr
    statuses = json.loads(shown.stdout)
    assert [s["state"] for s in statuses] == ["error", "pending"]
    assert statuses[0]["description"] == RESTARTED_DESCRIPTION
    assert statuses[0]["context"] == "stepdeploy/production"


def test_a_function_fails_as_often_as_asked_then_runs(running: Running) -> None:
    port = str(running.port)
    asked = running.cli("local", "fault", "webhook", "--error", "GheUnavailable", "--times", "2", "--port", port)
    assert asked.returncode == 0, asked.stderr
    function = running.webhook_function()
    assert f"the next 2 invocation(s) of {function} fail with GheUnavailable" in " ".join(asked.stdout.split())

    outcomes = [running.invoke(function) for _ in range(3)]
    assert [error for error, _ in outcomes] == ["Unhandled", "Unhandled", None]
    assert [payload.get("errorType") for _, payload in outcomes[:2]] == ["GheUnavailable", "GheUnavailable"]
    assert "statusCode" in outcomes[2][1]  # the handler itself answered


def test_faults_are_listed_and_cleared(running: Running) -> None:
    port = str(running.port)
    function = running.webhook_function()
    assert running.cli("local", "fault", "WebhookFunction", "--kind", "throttle", "--times", "3",
                       "--port", port).returncode == 0
    listed = running.cli("local", "fault", "--port", port, "--json")
    assert [f["kind"] for f in json.loads(listed.stdout)["faults"][function]] == ["throttle"] * 3
    cleared = running.cli("local", "fault", "--clear", "--port", port)
    assert cleared.returncode == 0 and "cleared 3 pending fault(s)" in cleared.stdout
    assert running.invoke(function)[0] is None
    assert "no faults pending" in running.cli("local", "fault", "--port", port).stdout


def test_a_wrong_fault_request_says_what_was_wrong(running: Running) -> None:
    port = str(running.port)
    unknown = running.cli("local", "fault", "no_such_task", "--port", port)
    message = " ".join(unknown.stderr.split())
    assert unknown.returncode == 1 and "no Lambda function 'no_such_task'; expected one of:" in message
    assert running.webhook_function() in message and "Traceback" not in unknown.stderr
    mixed = running.cli("local", "fault", "webhook", "--kind", "timeout", "--error", "X", "--port", port)
    assert mixed.returncode == 1 and "--kind timeout fails in its own way" in " ".join(mixed.stderr.split())
    nobody = running.cli("local", "fault", "--port", str(free_port()))
    assert nobody.returncode == 1 and "no local cloud answers" in " ".join(nobody.stderr.split())
