"""The rules that resume waits match this orchestrator's own operations, and its function may only resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepdeploy.aws.clients import idempotency_token
from stepdeploy.ingress.resume_wait import BUILD_FINAL, DEPLOYMENT_FINAL
from stepdeploy.models import ExecutionContext
from stepdeploy.template import cfn_yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
RESOURCES = cfn_yaml.load((ROOT / "template.yaml").read_text())["Resources"]
RESUME = RESOURCES["ResumeWaitFunction"]["Properties"]


def pattern(event: str) -> dict:
    return dict(RESUME["Events"][event]["Properties"]["Pattern"])


def test_each_rule_matches_only_this_orchestrators_operations():
    assert pattern("BuildEnded")["detail"]["project-name"] == [{"Ref": "BuildProject"}]
    assert pattern("BuildEnded")["detail"]["build-status"] == list(BUILD_FINAL)
    # this orchestrator's application and the stage accounts' (templates/stage-account.yaml names it so)
    assert pattern("TrafficShiftEnded")["detail"]["application"] == [{"Ref": "DeployApplication"},
                                                                     {"Ref": "StageRoleName"}]
    assert pattern("TrafficShiftEnded")["detail"]["state"] == list(DEPLOYMENT_FINAL)
    assert pattern("AlarmWhileBaking")["detail"]["alarmName"] == [{"prefix": {"Ref": "ManagedStackPrefix"}}]
    assert pattern("AlarmWhileBaking")["detail"]["state"] == {"value": ["ALARM"]}
    stack = pattern("StackUpdateEnded")
    # stacks under the prefix in this account, and in the stage accounts (in any region) whose forwarded
    # events the default bus's policy admits
    assert stack["resources"] == [{"wildcard": {
        "Fn::Sub": "arn:${AWS::Partition}:cloudformation:*:*:stack/${ManagedStackPrefix}*"}}]
    # The ClientRequestToken Execute change set passes: the rule's prefix must keep matching it.
    token = idempotency_token(ExecutionContext.model_validate({"Id": "arn:x"}), "execute-change-set")
    prefix = stack["detail"]["client-request-token"][0]["prefix"]
    assert token.startswith(prefix)


def test_the_resume_function_may_only_resume_this_state_machine_and_use_the_table():
    statements = [s for policy in RESUME["Policies"] for s in policy["Statement"]]
    actions = sorted(a for s in statements for a in s["Action"])
    assert actions == sorted(["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                              "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"])
    states = next(s for s in statements if "states:SendTaskSuccess" in s["Action"])
    assert "stateMachine:${AWS::StackName}-deploy" in str(states["Resource"])
