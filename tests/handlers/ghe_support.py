"""Shared set-up of the tests that watch a local GHE (the ``ghe`` fixture of conftest.py): a pushed
commit, the events of Acquire lock and Record release, and the metrics they print.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stepdeploy_cli.demo.runner import commit, git

from .conftest import load_event

if TYPE_CHECKING:
    from stepdeploy_localcloud.ghe.server import LocalGHE

OWNER, REPO = "platform", "sample-app"


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
