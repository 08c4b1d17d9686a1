"""The pipeline's states executed on the local cloud: an S3 upload promoted without a build, the stage
gates' refusal and wait, and the coverage of the Map's states (build/sfn-coverage.json)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy.app_config.stage_window import DAYS
from stepdeploy_cli.demo.runner import Demo, sample_app_on_local_cloud

from ..conftest import record_execution

pytestmark = pytest.mark.statemachine


def pipeline_config(window: str) -> str:
    return f"""version: 1
targets:
  - branch: main
    name: sample
    pipeline:
      - {{name: dev, stack: sample-dev}}
      - name: production
        stack: sample-prod
        gates:
          window: {window}
"""


def not_today(outside: str) -> str:
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    return f'{{timezone: UTC, allow: ["{tomorrow} 00:00-24:00"], outside: {outside}}}'


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    with sample_app_on_local_cloud("stepdeploy-stage-paths-") as started:
        yield started


def history(demo: Demo, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in demo.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    record_execution(events)
    return events


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def upload(demo: Demo, name: str, config: str, commit: str) -> str:
    """The upload's own (parent) execution (Demo.upload skips every earlier one and the stages' children)."""
    return demo.upload(name, {"stepdeploy.yml": config}, commit)


def finish(demo: Demo, arn: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = demo.sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.2)
    raise AssertionError(f"{arn} still running")


def test_an_upload_is_promoted_without_a_build_and_a_closed_window_refuses(demo: Demo) -> None:
    parent = upload(demo, "stages-1", pipeline_config(not_today("fail")), "1" * 40)
    ended = finish(demo, parent)
    assert ended["status"] == "FAILED" and ended["error"] == "StageGateFailed"
    assert "stage production: outside its deployment window" in ended["cause"]
    path = entered(history(demo, parent))
    assert "Start build" not in path
    assert path[:3] == ["Resolve request", "Configured?", "Prebuilt artifact?"]
    assert path.count("Check stage gates") == 2 and path.count("Deploy stage") == 1
    assert path[-2:] == ["Record failure", "Deployment failed"]
    dev = finish(demo, f"{parent}-dev")
    assert dev["status"] == "SUCCEEDED"
    dev_path = entered(history(demo, dev["executionArn"]))
    assert "Package artifact" in dev_path and "Start build" not in dev_path and dev_path[-1] == "Deployed"


def test_outside_the_window_the_promotion_waits_in_a_wait_state(demo: Demo) -> None:
    parent = upload(demo, "stages-2", pipeline_config(not_today("wait")), "2" * 40)
    deadline = time.monotonic() + 180
    while "Wait at stage gate" not in entered(demo.sfn.get_execution_history(
            executionArn=parent, maxResults=1000)["events"]):
        assert time.monotonic() < deadline, "never waited at the gate"
        described = demo.sfn.describe_execution(executionArn=parent)
        assert described["status"] == "RUNNING", (entered(history(demo, parent)), described.get("output"))
        time.sleep(0.2)
    demo.sfn.stop_execution(executionArn=parent, error="TestDone", cause="waited at the window as expected")
    path = entered(history(demo, parent))
    assert path.count("Deploy stage") == 1  # dev only: production waits for its window
    assert path[-2:] == ["Stage gates open?", "Wait at stage gate"]
