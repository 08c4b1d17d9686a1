"""The dashboard in a real browser (headless Chromium driven by Playwright) during a deployment on the local cloud.

The local cloud serves the dashboard at /dashboard as `stepdeploy local up` does. A first push deploys
the sample app; a second one, which needs approval and shifts traffic by a canary, waits for a person.
The test looks at the page as that person would: the stack and its release, the execution waiting at
"Wait for approval" on the drawing of the state machine, the Approve button (it clicks it: the execution
goes on), the traffic split during the canary, and the end. Each page is screenshotted (written to docs/ only
with STEPDEPLOY_SCREENSHOTS=docs: tests/e2e/screenshots.py).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo.runner import Demo, sample_app_on_local_cloud
from stepdeploy_cli.local.up import serve_dashboard

from .screenshots import screenshot

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONFIG = """version: 1
targets:
  - branch: main
    stack: sample-prod
    environment: production
    parameters:
      Greeting: Hello
{approval}    deployment:
      alias: live
      strategy: LambdaCanary10Percent30Minutes
      alarms: [GreeterErrorsAlarm, CounterErrorsAlarm]
      bake_minutes: 0
"""
APPROVAL = "    approval:\n      required: true\n      timeout_minutes: 1440\n"
GREETER = '''import os


def greet(name: str) -> str:
    return f"{os.environ.get('GREETING', 'Hello')}, {name}! Welcome."


def handler(event, context):
    return {"message": greet(str((event or {}).get("name", "world")))}
'''
FAILING_TEST = '''import unittest


class BrokenTest(unittest.TestCase):
    def test_fails(self):
        self.fail("on purpose")
'''


def browser_or_skip() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (requirements/dev.txt)"
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {missing}")
    if missing:
        pytest.skip(missing)


def wait_for(what: str, check: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def dashboard_after_a_first_release(prefix: str, config: str) -> Iterator[tuple[Demo, str]]:
    """The sample app on a local cloud with the dashboard on its port and the first release (of ``config``) over.

    Speed 120: a canary's 30 minutes take 15 s, time enough for the page (it polls every 2 s) to show it. The AWS
    credentials the dashboard's server needs are put back as they were afterwards.
    """
    with pytest.MonkeyPatch.context() as env, sample_app_on_local_cloud(prefix, speed=120) as demo:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(key, os.environ.get(key, "testing"))  # the monkeypatch restores (or unsets) them
        url = serve_dashboard(demo.cloud)
        (demo.worktree / "stepdeploy.yml").write_text(config)
        first = demo.push("First version", {})
        sfn = demo.cloud.client("stepfunctions")
        wait_for("the first release", lambda: sfn.describe_execution(executionArn=first)["status"] != "RUNNING")
        assert sfn.describe_execution(executionArn=first)["status"] == "SUCCEEDED"
        yield demo, url


@pytest.fixture(scope="module")
def deployment() -> Iterator[tuple[Demo, str]]:
    browser_or_skip()
    with dashboard_after_a_first_release("stepdeploy-dashboard-", CONFIG.format(approval="")) as deployed:
        yield deployed


def test_an_operator_sees_the_deployment_approves_it_and_watches_the_canary(deployment, page):
    from playwright.sync_api import expect

    demo, url = deployment
    sfn = demo.cloud.client("stepfunctions")
    (demo.worktree / "stepdeploy.yml").write_text(CONFIG.format(approval=APPROVAL))
    arn = demo.push("Greeter says hello from the new version", {"greeter/app.py": GREETER})
    name = arn.rsplit(":", 1)[-1]

    # The overview: the stack with the release it serves, and the execution waiting for approval.
    page.goto(url)
    stack = page.locator('#stacks tr[data-stack="sample-prod"]')
    stack.wait_for()
    assert "production" in stack.inner_text() and "Deployed" in stack.inner_text()
    assert "Ada" in stack.inner_text()  # who pushed
    waiting = page.locator(f'#approvals tr[data-approval="{name}"]')
    waiting.wait_for(timeout=90_000)  # the page polls by itself: no reload
    assert page.locator(f'#executions tr[data-execution="{name}"]').inner_text().count("RUNNING") == 1
    screenshot(page, "dashboard-overview.png")

    # The execution: drawn on the state machine, waiting at "Wait for approval".
    page.locator(f'#executions tr[data-execution="{name}"] a').click()
    page.locator('[data-fact="current state"]').wait_for()
    assert page.locator('[data-fact="current state"]').inner_text() == "Wait for approval"
    node = page.locator('#ex-graph g[data-state="Wait for approval"]')
    assert node.get_attribute("data-status") == "waiting"
    assert page.locator('#ex-graph g[data-state="Create change set"]').get_attribute("data-status") == "done"
    assert page.locator('#ex-graph g[data-state="Deployment failed"]').get_attribute("data-status") == "unvisited"

    # Approve: the execution goes on to execute the change set and shift traffic.
    page.locator('#ex-verbs button[data-verb="approve"]').click()
    wait_for("the approval to resume the execution", lambda: _past_approval(sfn, arn))
    split = page.locator('#ex-traffic .traffic-line[data-function="GreeterFunction"] .split-text')
    expect(split).to_contain_text("v2 10%", timeout=90_000)  # the canary's step, read from the alias
    assert "v1 90%" in split.inner_text()
    assert page.locator('#ex-traffic .traffic-line[data-function="CounterFunction"]').count() == 0  # unchanged
    assert "10% at +0m (now)" in page.locator("#ex-traffic .schedule").inner_text()
    assert page.locator('[data-fact="current state"]').inner_text() in (
        "Start traffic shift", "Wait for traffic shift", "Check traffic shift")
    screenshot(page, "dashboard-execution.png")
    assert cli_schedule(demo, arn) == [
        "schedule  GreeterFunction: CodeDeployDefault.LambdaCanary10Percent30Minutes: step 1/2 now (10%); "
        "next 100% at +30m"]

    # The end, without a reload: SUCCEEDED, and the aliases all on the new version.
    page.locator("#ex-status.succeeded").wait_for(timeout=120_000)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert demo.alias_versions()["GreeterFunction"] == "2"
    assert page.locator('#ex-graph g[data-state="Deployed"]').get_attribute("data-status") == "done"
    assert page.locator("#ex-verbs button").count() == 0

    # A push whose build fails: the page says why, once, with the tail of the build log.
    failing = demo.push("A failing test", {"tests/test_broken.py": FAILING_TEST})
    wait_for("the failing build", lambda: sfn.describe_execution(executionArn=failing)["status"] == "FAILED")
    page.goto(f"{url}#execution={failing.rsplit(':', 1)[-1]}")
    failure = page.locator("#ex-failure")
    expect(failure).to_contain_text("BuildFailed", timeout=30_000)
    assert page.locator("#ex-failure p.error").count() == 1  # the cause, once (the log has its own line)
    assert "on purpose" in page.locator("#ex-failure pre.log").inner_text()
    assert page.locator('#ex-graph g[data-state="Check build"]').get_attribute("data-status") == "caught"
    assert page.locator("#ex-verbs button").count() == 0  # ended in the failure path: nothing to redrive
    screenshot(page, "dashboard-failure.png")


def cli_schedule(demo: Demo, arn: str) -> list[str]:
    """What `stepdeploy watch` prints under its timeline now (the time of the next step left out)."""
    from stepdeploy_cli.context import Operator, Options
    from stepdeploy_cli.executions import ShiftNotes, ShiftTraffic
    from stepdeploy_cli.watch import ExecutionView

    op = Operator(Options(orchestrator=demo.cloud.orchestrator.stack_name, region="us-east-1",
                          endpoint_url=demo.cloud.url))
    view = ExecutionView(op.sfn, arn)
    view.traffic = ShiftTraffic(op, view)
    view.refresh()
    return [re.sub(r" \(\d{4}-\d\d-\d\dT[^)]*\)$", "", line) for line in ShiftNotes(op, view)()]


def _past_approval(sfn: Any, arn: str) -> bool:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return any(e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Execute change set"
               for e in events)
