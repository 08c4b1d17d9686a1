"""templates/stage-account.yaml: what a stage account gives the orchestrator, checked without a cloud.

The stage role is trusted only by the orchestrator stack's roles with its ExternalId; the deploy role
there is the orchestrator's own (same statements), under the stage's boundary; every wildcard says why;
cfn-lint and checkov pass on it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stepdeploy.aws.accounts import STAGE_TEMPLATE, Stage
from stepdeploy.template import cfn_yaml

from .test_template_policy import RESOURCES as ORCHESTRATOR
from .test_template_policy import checkov_command

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / STAGE_TEMPLATE
TEXT = PATH.read_text()
TEMPLATE = cfn_yaml.load(TEXT)
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def statements(resource: str) -> list[dict[str, Any]]:
    return [s for p in RESOURCES[resource]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_stage_role_trusts_only_the_orchestrators_roles_and_the_listed_operators_with_its_external_id():
    trust, operators = RESOURCES["StageRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    for statement in (trust, operators):
        assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${OrchestratorAccount}:root"}}
        assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "OrchestratorStack"}}
    assert trust["Condition"]["ArnLike"] == {
        "aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${OrchestratorAccount}:role/${OrchestratorStack}-*"}
    }
    # The CLI's roles, as the platform team lists them (docs/accounts.md); "" (the default) names no role.
    assert operators["Condition"]["ArnLike"] == {"aws:PrincipalArn": {"Fn::Split": [",", {"Ref": "OperatorRoleArns"}]}}
    assert TEMPLATE["Parameters"]["OperatorRoleArns"]["Default"] == ""


def test_operator_role_arns_accepts_role_arns_and_nothing_else():
    pattern = re.compile(TEMPLATE["Parameters"]["OperatorRoleArns"]["AllowedPattern"])
    good = ["", "arn:aws:iam::111111111111:role/ops",
            "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*,"
            "arn:aws-us-gov:iam::111111111111:role/oncall"]
    bad = ["*", "arn:aws:iam::111111111111:user/ada", "arn:aws:iam::111111111111:role/ops, arn:aws:iam::1:role/x",
           "111111111111"]
    assert [g for g in good if not pattern.match(g)] == []
    assert [b for b in bad if pattern.match(b)] == []


def test_the_names_the_runtime_derives_are_the_templates():
    stage = Stage(account="222222222222", region="us-east-1", role_name="RN")
    names = {
        "StageRole": ("RoleName", {"Ref": "RoleName"}, stage.role_arn.rsplit("/", 1)[1]),
        "CloudFormationRole": ("RoleName", {"Fn::Sub": "${RoleName}-cloudformation"},
                               stage.cloudformation_role_arn.rsplit("/", 1)[1]),
        "CodeDeployRole": ("RoleName", {"Fn::Sub": "${RoleName}-codedeploy"},
                           stage.codedeploy_role_arn.rsplit("/", 1)[1]),
        "BoundaryPolicy": ("ManagedPolicyName", {"Fn::Sub": "${RoleName}-boundary"},
                           stage.permissions_boundary_arn.rsplit("/", 1)[1]),
        "DeployApplication": ("ApplicationName", {"Ref": "RoleName"}, stage.codedeploy_application),
    }
    for resource, (prop, written, derived) in names.items():
        assert RESOURCES[resource]["Properties"][prop] == written, resource
        rendered = written["Ref"] if "Ref" in written else written["Fn::Sub"]
        assert rendered.replace("${RoleName}", "RN").replace("RoleName", "RN") == derived, resource


def test_the_deploy_role_there_is_the_orchestrators_under_the_stages_boundary():
    def comparable(statement: dict[str, Any]) -> str:
        text = json.dumps(statement, sort_keys=True)
        text = text.replace('{"Ref": "ApplicationBoundaryPolicy"}', '{"Ref": "BoundaryPolicy"}')
        text = text.replace("${AWS::Region}", "*")  # the stage's roles serve every region of its account
        return text.replace("${ArtifactBucket.Arn}", "arn:${AWS::Partition}:s3:::${ArtifactBucket}")

    orchestrator = [s for p in ORCHESTRATOR["CloudFormationRole"]["Properties"]["Policies"]
                    for s in p["PolicyDocument"]["Statement"] if s.get("Sid") != "NeverTheOrchestrator"]
    stage = [s for s in statements("CloudFormationRole") if s.get("Sid") != "NeverTheStage"]
    assert [comparable(s) for s in stage] == [comparable(s) for s in orchestrator]
    roles = next(s for s in stage if s["Sid"] == "RolesOnlyUnderTheBoundary")
    assert roles["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": {"Ref": "BoundaryPolicy"}}}


def test_the_forwarding_rule_sends_what_the_orchestrators_waits_resume_on_to_its_default_bus():
    rule = RESOURCES["ForwardEvents"]["Properties"]
    [target] = rule["Targets"]
    in_its_region = [
        "arn:${AWS::Partition}:events:${Region}:${OrchestratorAccount}:event-bus/default",
        {"Region": {"Fn::If": ["InOrchestratorRegion", {"Ref": "AWS::Region"}, {"Ref": "OrchestratorRegion"}]}},
    ]
    assert target["Arn"] == {"Fn::Sub": in_its_region}
    [put] = statements("ForwardEventsRole")
    assert put["Resource"] == {"Fn::Sub": in_its_region}
    sources = {p["source"][0] for p in rule["EventPattern"]["$or"]}
    assert sources == {"aws.cloudformation", "aws.codedeploy", "aws.cloudwatch"}


def test_the_account_wide_resources_are_made_once_and_the_code_bucket_outside_the_orchestrators_region():
    iam = {lid for lid, r in RESOURCES.items() if r["Type"].startswith("AWS::IAM::")}
    assert iam == {"StageRole", "CloudFormationRole", "BoundaryPolicy", "CodeDeployRole", "ForwardEventsRole"}
    assert {RESOURCES[lid].get("Condition") for lid in iam} == {"CreateAccountResources"}
    regional = {lid for lid, r in RESOURCES.items() if lid not in iam and "Condition" not in r}
    assert regional == {"DeployApplication"}
    assert RESOURCES["ForwardEvents"]["Condition"] == "ForwardsEvents"  # never a rule to its own bus
    assert TEMPLATE["Conditions"]["ForwardsEvents"] == {"Fn::Not": [{"Fn::And": [
        {"Condition": "InOrchestratorAccount"}, {"Condition": "InOrchestratorRegion"}]}]}
    assert RESOURCES["CodeBucket"]["Condition"] == "OutsideOrchestratorRegion"
    stage = Stage(account="222222222222", region="eu-west-1", role_name="RN")
    name = RESOURCES["CodeBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert name.replace("${AWS::AccountId}", "222222222222").replace("${AWS::Region}", "eu-west-1") == \
        stage.code_bucket
    # IAM is global: the roles' statements name no region, so that they serve each region of the account
    assert "${AWS::Region}" not in json.dumps({lid: RESOURCES[lid] for lid in iam if lid != "ForwardEventsRole"})


def test_in_the_orchestrators_own_account_the_boundary_denies_the_orchestrators_resources():
    statements_ = RESOURCES["BoundaryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [conditional] = [s for s in statements_ if "Fn::If" in s]
    condition, deny, otherwise = conditional["Fn::If"]
    assert (condition, deny["Sid"], deny["Effect"], otherwise) == (
        "InOrchestratorAccount", "NeverTheOrchestrator", "Deny", {"Ref": "AWS::NoValue"})
    denied = json.dumps(deny["Resource"])
    for name in ("${ArtifactBucket}", "table/${OrchestratorStack}-", "stateMachine:${OrchestratorStack}-",
                 "function:${OrchestratorStack}-", "project/${OrchestratorStack}-build", "secret:WebhookSecret-"):
        assert name in denied, name


def test_every_wildcard_says_why():
    silent = [
        f"{number}: {line.strip()}" for number, line in enumerate(TEXT.splitlines(), 1)
        if "*" in line and "#" not in line and not re.search(r"\$\{ManagedStackPrefix\}\*", line)
    ]
    assert silent == []


def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    run = subprocess.run([str(cfn_lint), str(PATH)], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr


def test_checkov_passes_with_only_the_boundary_exempted():
    checkov = checkov_command()
    run = subprocess.run(
        [checkov, "-f", str(PATH), "--framework", "cloudformation", "-o", "json", "--compact"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    assert run.stdout.strip(), run.stderr[-2000:]
    results = json.loads(run.stdout)["results"]
    assert [f"{f['check_id']} {f['resource']}" for f in results["failed_checks"]] == []
    skipped = {(f["check_id"], f["resource"].rsplit(".", 1)[-1]) for f in results["skipped_checks"]}
    assert {resource for _, resource in skipped} == {"BoundaryPolicy"} | {"CodeBucket"}
    assert {check for check, resource in skipped if resource == "CodeBucket"} == {"CKV_AWS_18"}  # access logs
    assert len(results["passed_checks"]) > 20
