"""`stepdeploy local up` in its own process, driven as a user would from another terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from stepdeploy_cli.demo.runner import SAMPLE_APP, commit, git

pytestmark = pytest.mark.e2e
STEPDEPLOY = [sys.executable, "-m", "stepdeploy_cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_local_up_push_and_statuses(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([*STEPDEPLOY, "local", "up", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(banner)
        assert f"AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in text, text
        assert "Secret" in text and f"http://127.0.0.1:{port}/webhook" in text
        assert f"Dashboard    http://127.0.0.1:{port}/dashboard/" in text

        worktree = tmp_path / "sample-app"
        shutil.copytree(SAMPLE_APP, worktree)
        git(worktree, "init", "-q", "-b", "main")
        sha = commit(worktree, "First version", {})
        pushed = subprocess.run([*STEPDEPLOY, "local", "push", str(worktree), "--repository", "platform/sample-app",
                                 "--port", str(port), "--json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        delivery = json.loads(pushed.stdout.strip().splitlines()[-1])
        assert delivery["status"] == 202 and delivery["commit"] == sha

        sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"])
        deadline = time.monotonic() + 120
        status = "RUNNING"
        while time.monotonic() < deadline:
            executions = sfn.list_executions(stateMachineArn=machine)["executions"]
            if executions and executions[0]["status"] != "RUNNING":
                status = executions[0]["status"]
                break
            time.sleep(0.5)
        assert status == "SUCCEEDED"

        shown = subprocess.run([*STEPDEPLOY, "local", "statuses", "platform/sample-app", sha, "--port", str(port),
                                "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        states = [s["state"] for s in json.loads(shown.stdout)]
        assert states[:2] == ["success", "pending"]
        # `local up` serves the dashboard on its own port; the statuses link to it.
        overview = requests.get(f"http://127.0.0.1:{port}/dashboard/api/overview", timeout=60).json()
        assert [(s["stack"], s["outcome"]) for s in overview["stacks"]] == [("sample-prod", "Deployed")]
        assert json.loads(shown.stdout)[0]["target_url"].startswith(f"http://127.0.0.1:{port}/dashboard/#execution=")

        refused = subprocess.run([*STEPDEPLOY, "local", "push", str(tmp_path), "--port", str(port)], cwd=tmp_path,
                                 env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "not a git working tree" in " ".join(refused.stderr.split())
        assert "Traceback" not in refused.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


README = Path(__file__).resolve().parents[2] / "README.md"
WALKTHROUGH = re.compile(r"<!-- local-walkthrough -->\n(.*?)<!-- /local-walkthrough -->", re.S)


def walkthrough() -> tuple[list[str], list[str]]:
    """The README's two terminals, as the commands a user types (comment lines left out)."""
    block = WALKTHROUGH.search(README.read_text())
    assert block, "README.md has no <!-- local-walkthrough --> block"
    terminals: list[list[str]] = []
    for line in block.group(1).splitlines():
        text = line.removeprefix("    ")
        if text.startswith("# terminal"):
            terminals.append([])
        elif text.strip() and not text.startswith("#"):
            terminals[-1].append(text)
    assert len(terminals) == 2, block.group(1)
    return terminals[0], terminals[1]


def test_the_readme_local_cloud_walkthrough_runs_as_written() -> None:
    """From a fresh terminal, in the checkout: only the port differs (another test may hold 4566)."""
    root = README.parent
    port = str(free_port())
    first, second = walkthrough()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    assert len(first) == 1 and (root / ".venv" / "bin" / "stepdeploy").exists(), "run `make setup` first"
    # As in a terminal, Ctrl-C interrupts it: a pytest-xdist worker ignores SIGINT, and a child would inherit that.
    server = subprocess.Popen(["bash", "-c", first[0].replace("4566", port)], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        banner = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = server.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner.append(line)
            if "Ctrl-C" in line:
                break
        assert "Allowed      platform/sample-app:sample-*" in "".join(banner), "".join(banner)
        script = "set -euo pipefail\n" + "\n".join(line.replace("4566", port) for line in second)
        user = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert user.returncode == 0, f"{user.stdout[-3000:]}\n{user.stderr[-3000:]}"
        assert re.search(r"execution sample-app-main-[0-9a-f]{7}-[0-9a-f]{6}; watch it with", user.stdout)
        assert "success" in user.stdout and "sample-prod" in user.stdout
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=120)
            stopped = f"stopped by Ctrl-C, exit code {server.returncode}"
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            stopped = "still running 120 s after Ctrl-C: killed"
    said = stopped + "\n" + (server.stdout.read()[-3000:] if server.stdout else "")  # type: ignore[union-attr]
    # What the local cloud wrote besides its state (function code, build workspaces) is gone.
    assert not (root / ".stepdeploy-local" / "lambda").exists(), said
    assert not (root / ".stepdeploy-local" / "codebuild").exists(), said
