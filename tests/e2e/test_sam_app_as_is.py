"""A template written for `sam deploy` (AutoPublishAlias, AutoPublishAliasAllProperties, a
DeploymentPreference with an alarm, a PreTraffic hook that only returns or raises and a PostTraffic hook
that reports to CodeDeploy itself) deploys through stepdeploy as it is: no 409, no CloudFormation
CodeDeploy run; the shift follows the preference, both hooks run, a configuration-only change publishes
a new version, and a PreTraffic hook that raises fails the shift and leaves the traffic where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepdeploy_cli.demo import traffic
from stepdeploy_cli.demo.runner import Demo, sample_app_on_local_cloud
from stepdeploy_cli.watch import ExecutionView, wait_for_execution

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "autopublish"
STACK = "sample-autopublish"


def wait(demo: Demo, execution_arn: str) -> dict[str, Any]:
    return wait_for_execution(ExecutionView(demo.sfn, execution_arn), console=demo.console, live=False, timeout=300)


def outputs(demo: Demo) -> dict[str, str]:
    stack = demo.cloud.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def hello(demo: Demo) -> dict[str, Any]:
    return dict(traffic.get_json(traffic.api_url(demo.cloud.url, outputs(demo)["RestApiId"], "/hello", "Prod")))


def hello_deployments(demo: Demo) -> list[dict[str, Any]]:
    codedeploy = demo.cloud.client("codedeploy")
    found = []
    for application in codedeploy.list_applications()["applications"]:
        for group in codedeploy.list_deployment_groups(applicationName=application)["deploymentGroups"]:
            if not group.endswith("HelloFunction"):
                continue
            listed = codedeploy.list_deployments(applicationName=application, deploymentGroupName=group)
            found.extend(
                codedeploy.get_deployment(deploymentId=d)["deploymentInfo"] for d in listed["deployments"]
            )
    return found


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with sample_app_on_local_cloud("stepdeploy-autopublish-", app=APP) as demo:
        found: dict[str, Any] = {"first": wait(demo, demo.push("First version", {}))}
        if found["first"]["status"] == "SUCCEEDED":
            found["first_answer"] = hello(demo)
            code = (APP / "hello" / "app.py").read_text().replace('"r1"', '"r2"')
            found["code"] = wait(demo, demo.push("Release 2", {"hello/app.py": code}))
            found["code_answer"] = hello(demo)
            found["deployments"] = hello_deployments(demo)
            table = demo.cloud.resource("dynamodb").Table(outputs(demo)["TableName"])
            found["hook_records"] = sorted(str(i["pk"]).split("#")[0] for i in table.scan()["Items"])
            template = (APP / "template.yaml").read_text().replace("MOOD: calm", "MOOD: happy")
            found["config"] = wait(
                demo, demo.push("Happier", {"hello/app.py": code, "template.yaml": template})
            )
            found["config_answer"] = hello(demo)
            hooks = (APP / "hooks" / "hook.py").read_text()
            hooks = hooks.replace("FAIL_PRE_TRAFFIC = False", "FAIL_PRE_TRAFFIC = True")
            code3 = code.replace('"r2"', '"r3"')
            found["failing_hook"] = wait(
                demo,
                demo.push("Hook fails", {"hello/app.py": code3, "template.yaml": template, "hooks/hook.py": hooks}),
            )
            found["failing_hook_answer"] = hello(demo)
            found["failing_hook_deployments"] = hello_deployments(demo)
        yield found


def test_the_sam_template_deploys_as_it_is(run):
    assert run["first"]["status"] == "SUCCEEDED", run["first"].get("cause")
    assert run["first_answer"]["version"] == "1"


def test_the_shift_follows_the_deployment_preference_and_runs_its_hooks(run):
    assert run["code"]["status"] == "SUCCEEDED", run["code"].get("cause")
    assert run["code_answer"] == {"version": "2", "release": "r2", "mood": "calm"}
    [deployment] = run["deployments"]
    assert deployment["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert deployment["status"] == "Succeeded"
    assert run["hook_records"] == ["post", "pre"]


def test_a_configuration_only_change_publishes_a_new_version(run):
    assert run["config"]["status"] == "SUCCEEDED", run["config"].get("cause")
    assert run["config_answer"] == {"version": "3", "release": "r2", "mood": "happy"}


def test_a_hook_that_raises_fails_the_shift_and_traffic_stays_on_the_release_before(run):
    assert run["failing_hook"]["status"] == "FAILED"
    assert run["failing_hook_answer"] == {"version": "3", "release": "r2", "mood": "happy"}
    [failed] = [d for d in run["failing_hook_deployments"] if d["status"] == "Failed"]
    assert failed["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE", failed
    assert "hook-BeforeAllowTraffic" in failed["errorInformation"]["message"]
