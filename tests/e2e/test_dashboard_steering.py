"""The dashboard's release verbs and pipeline view in a real browser (headless Chromium driven by Playwright)
on the local cloud.

A step release of the sample app (stepdeploy's engine, steps [50, 100]) is paused then resumed with the
page's buttons, each confirmed in the browser's dialog; the release's real state is read back through
`stepdeploy progress` and the aliases, not only from the page. A CodeDeploy canary offers Abort alone,
which rolls it back. Then the target becomes a pipeline
dev -> production (approval): the pipeline view shows the stages, the commit live in each, and the
execution waiting at production's approval, approved with its button. Each page is screenshotted (written
to docs/ only with STEPDEPLOY_SCREENSHOTS=docs).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdeploy_cli.demo.runner import STACK, Demo
from stepdeploy_cli.main import app as cli_app

from .screenshots import screenshot
from .test_dashboard import GREETER, browser_or_skip, dashboard_after_a_first_release, wait_for

pytestmark = pytest.mark.e2e

TARGET = """version: 1
targets:
  - branch: main
    stack: sample-prod
    environment: production
    deployment:
      alias: live
      strategy: {strategy}
      alarms: [GreeterErrorsAlarm]
      bake_minutes: 0
"""
STEPS = "{steps: [50, 100], pause_minutes: 1440}"
"""A day's pause after each step: 12 minutes at the local clock's speed 120, time enough to steer it by hand."""
SLOW_CANARY = "{type: canary, percent: 10, interval_minutes: 1440}"
"""10 % for a day (12 minutes at the local clock's speed 120), then the rest: time enough to abort it."""
PIPELINE = """version: 1
targets:
  - branch: main
    name: sample
    pipeline:
      - name: dev
        stack: sample-dev
        parameters: {Greeting: Hi}
      - name: production
        stack: sample-prod
        approval: {required: true, timeout_minutes: 1440}
        deployment: {alias: live, strategy: LambdaAllAtOnce, bake_minutes: 0}
"""
FROZEN = """        gates:
          window:
            freeze: [{{from: "{start}", to: "{end}"}}]
"""


@pytest.fixture(scope="module")
def deployment() -> Iterator[tuple[Demo, str]]:
    browser_or_skip()
    config = TARGET.format(strategy="LambdaAllAtOnce")
    with dashboard_after_a_first_release("stepdeploy-dashboard-steer-", config) as deployed:
        yield deployed


def cli(demo: Demo, *args: str) -> Any:
    """`stepdeploy ARGS --json` against the local cloud, as an operator in a terminal runs it."""
    env = {"AWS_ENDPOINT_URL": demo.cloud.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PROFILE": None,
           "STEPDEPLOY_STACK": demo.cloud.orchestrator.stack_name}  # type: ignore[union-attr]
    result = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
    assert result.exit_code == 0, f"stepdeploy {' '.join(args)} -> {result.exit_code}\n{result.output}"
    return json.loads(result.output)


def greeter_split(demo: Demo) -> dict[str, float]:
    name = demo.function_names()["GreeterFunction"]
    alias = demo.cloud.client("lambda").get_alias(FunctionName=name, Name="live")
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {alias["FunctionVersion"]: round(1 - sum(weights.values()), 3), **weights}


def head(demo: Demo) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=demo.worktree, check=True, capture_output=True,
                          text=True).stdout.strip()


def confirm_next(browser: Any, answer: bool) -> list[str]:
    """Answer the next dialog the page opens; the messages it showed."""
    shown: list[str] = []

    def handle(dialog: Any) -> None:
        shown.append(dialog.message)
        dialog.accept() if answer else dialog.dismiss()

    browser.once("dialog", handle)
    return shown


def test_a_step_release_is_paused_and_resumed_with_the_pages_buttons(deployment, page):
    from playwright.sync_api import expect

    demo, url = deployment
    sfn = demo.cloud.client("stepfunctions")
    (demo.worktree / "stepdeploy.yml").write_text(TARGET.format(strategy=STEPS))
    arn = demo.push("Greeter says hello in steps", {"greeter/app.py": GREETER})
    name = arn.rsplit(":", 1)[-1]
    page.goto(f"{url}#execution={name}")
    release = page.locator("#ex-release")
    expect(release.locator('[data-release-status="running"]')).to_contain_text("at 50%", timeout=120_000)
    before = greeter_split(demo)
    assert sorted(before.values()) == [0.5, 0.5]
    expect(release.locator('.traffic-line[data-function="GreeterFunction"] .split-text')).to_contain_text("50%")
    assert release.locator("ol.steps li.current").inner_text() == "50%"
    buttons = release.locator(".release-verbs button")
    assert [b.get_attribute("data-verb") for b in buttons.all()] == ["pause", "promote", "abort"]

    # Cancelled in the dialog: nothing is sent.
    shown = confirm_next(page, answer=False)
    release.locator('button[data-verb="pause"]').click()
    wait_for("the dialog", lambda: shown)
    assert "Pause the release of sample-prod at 50%" in shown[0]
    assert "command" not in cli(demo, "progress", STACK)
    assert page.locator("#outcome").is_hidden()

    # Pause, confirmed: the release stops where it is, the aliases keep their weights.
    confirm_next(page, answer=True)
    release.locator('button[data-verb="pause"]').click()
    expect(page.locator("#outcome.ok")).to_contain_text("pause sent to the release of sample-prod (at 50%)")
    progress = wait_for("the release to pause", lambda: (p := cli(demo, "progress", STACK))["status"] == "paused" and p)
    assert progress["paused_reason"] == "operator" and progress["percent"] == 50
    assert [e.get("verb") for e in progress["journal"] if e["type"] == "command"] == ["pause"]
    expect(release.locator('[data-release-status="paused"]')).to_be_visible(timeout=30_000)
    expect(release.locator(".waiting")).to_contain_text("paused by an operator")
    assert [b.get_attribute("data-verb") for b in buttons.all()] == ["resume", "promote", "abort"]
    assert greeter_split(demo) == before
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    screenshot(page, "dashboard-release.png")

    # Resume: the step's pause starts again.
    resumed = confirm_next(page, answer=True)
    release.locator('button[data-verb="resume"]').click()
    wait_for("the dialog", lambda: resumed)
    assert "Resume the release of sample-prod?" in resumed[0]
    wait_for("the release to run again", lambda: cli(demo, "progress", STACK)["status"] == "running")
    expect(release.locator('[data-release-status="running"]')).to_be_visible(timeout=30_000)
    assert [b.get_attribute("data-verb") for b in buttons.all()] == ["pause", "promote", "abort"]
    commands = [e.get("verb") for e in cli(demo, "progress", STACK)["journal"] if e["type"] == "command"]
    assert commands == ["pause", "resume"]
    expect(release.locator('.journal tr[data-entry="command"]')).to_have_count(2)

    # Promote: every alias to 100 % now, and the execution ends without the rest of the day's pause.
    confirm_next(page, answer=True)
    release.locator('button[data-verb="promote"]').click()
    page.locator("#ex-status.succeeded").wait_for(timeout=120_000)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert greeter_split(demo) == {str(max(int(v) for v in before)): 1.0}
    expect(release.locator(".release-verbs button")).to_have_count(0)


def test_a_codedeploy_shift_offers_abort_only_and_the_button_rolls_it_back(deployment, page):
    from playwright.sync_api import expect

    demo, url = deployment
    sfn = demo.cloud.client("stepfunctions")
    before = greeter_split(demo)
    (demo.worktree / "stepdeploy.yml").write_text(TARGET.format(strategy=SLOW_CANARY))
    arn = demo.push("Greeter says hello by a slow canary", {"greeter/app.py": GREETER.replace("Welcome", "Hello")})
    page.goto(f"{url}#execution={arn.rsplit(':', 1)[-1]}")
    expect(page.locator('#ex-traffic .traffic-line[data-function="GreeterFunction"] .split-text')).to_contain_text(
        "10%", timeout=120_000)
    release = page.locator("#ex-release")
    expect(release).to_contain_text("CodeDeploy shifts the traffic of sample-prod")
    assert [b.get_attribute("data-verb") for b in release.locator("button").all()] == ["abort"]

    asked = confirm_next(page, answer=True)
    release.locator('button[data-verb="abort"]').click()
    expect(page.locator("#outcome.ok")).to_contain_text("abort: stopped 1 CodeDeploy deployment(s) of sample-prod "
                                                        "with rollback")
    assert "stop its CodeDeploy deployments and roll every alias back" in asked[0]
    page.locator("#ex-status.failed").wait_for(timeout=120_000)
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    assert greeter_split(demo) == before  # every alias back on the version it served before
    expect(release).to_be_hidden()


def test_the_pipeline_view_shows_each_stage_and_the_approval_a_promotion_waits_at(deployment, page):
    from playwright.sync_api import expect

    demo, url = deployment
    sfn = demo.cloud.client("stepfunctions")
    (demo.worktree / "stepdeploy.yml").write_text(PIPELINE)
    parent = demo.push("Greeter says hello through stages", {"greeter/app.py": GREETER.replace("Welcome", "Hi")})
    commit = head(demo)
    page.goto(f"{url}#pipelines")
    pipeline = page.locator('[data-pipeline="sample"]')
    gate = pipeline.locator('.gate[data-gate="approval"]')
    gate.wait_for(timeout=240_000)  # dev deployed, production's child waits for a person
    assert sfn.describe_execution(executionArn=parent)["status"] == "RUNNING"
    assert [s.get_attribute("data-stage") for s in pipeline.locator(".stage").all()] == ["dev", "production"]
    expect(pipeline.locator('[data-live="dev"]')).to_have_text(commit[:7])
    assert pipeline.locator('[data-live="production"]').inner_text() != commit[:7]  # not yet
    assert "production" in pipeline.locator(".running-run").inner_text()
    screenshot(page, "dashboard-pipeline.png")
    waiting = {row["stage"]: row["running"] for row in cli(demo, "pipeline", "sample")}  # the CLI sees the same gate
    assert waiting["dev"] == [] and [run["execution_arn"] for run in waiting["production"]] == [parent]
    assert waiting["production"][0]["gate"]["kind"] == "approval" and waiting["production"][0]["commit"] == commit
    assert waiting["production"][0]["gate"]["child"] in gate.inner_text()

    gate.locator('button[data-verb="approve"]').click()
    wait_for("the pipeline to end", lambda: sfn.describe_execution(executionArn=parent)["status"] != "RUNNING",
             timeout=240)
    assert sfn.describe_execution(executionArn=parent)["status"] == "SUCCEEDED"
    expect(pipeline.locator('[data-live="production"]')).to_have_text(commit[:7], timeout=30_000)
    expect(pipeline.locator(".gate")).to_have_count(0)
    stages = {row["stage"]: row for row in cli(demo, "pipeline", "sample")}  # what the CLI says is live
    assert stages["dev"]["commit"] == stages["production"]["commit"] == commit


def test_a_promotion_outside_its_window_is_shown_waiting_at_the_window_gate(deployment, page):
    from playwright.sync_api import expect

    demo, url = deployment
    sfn = demo.cloud.client("stepfunctions")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    frozen = FROZEN.format(start=f"{today - timedelta(days=1):%Y-%m-%d %H:%M}",
                           end=f"{today + timedelta(days=30):%Y-%m-%d %H:%M}")
    (demo.worktree / "stepdeploy.yml").write_text(PIPELINE + frozen)
    parent = demo.push("Production frozen for the holidays", {"greeter/app.py": GREETER.replace("Welcome", "Hey")})
    page.goto(f"{url}#pipelines")
    gate = page.locator('[data-pipeline="sample"] .gate[data-gate="window"]')
    try:
        expect(gate).to_contain_text("outside the deployment window; it opens at", timeout=240_000)
        expect(gate).to_contain_text(f"{today + timedelta(days=30):%Y-%m-%d}")
        assert gate.locator("button").count() == 0  # a window is waited out, not approved
        assert sfn.describe_execution(executionArn=parent)["status"] == "RUNNING"
        commit = head(demo)
        dev, production = cli(demo, "pipeline", "sample")  # the CLI: dev has it, production does not
        assert dev["commit"] == commit and production["commit"] != commit and production["last_commit"] != commit
        assert dev["running"] == [] and [run["execution_arn"] for run in production["running"]] == [parent]
        assert production["running"][0]["gate"]["kind"] == "window"
        assert f"{today + timedelta(days=30):%Y-%m-%d}" in production["running"][0]["gate"]["reason"]
    finally:
        sfn.stop_execution(executionArn=parent, error="TestOver", cause="the window gate was seen")
