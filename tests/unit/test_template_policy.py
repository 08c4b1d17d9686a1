"""The role CloudFormation deploys application stacks with: least privilege, checked without a cloud.

An allow-listed repository writes its own template, so whatever that role may do, any such repository
may do. It creates roles only under the application boundary, passes them only to the services that
use them, cannot loosen the boundary, and touches only resources whose names start with
ManagedStackPrefix. checkov's IAM checks run on the template as CloudFormation receives it (after
the SAM transform); checkov pins a boto3 of its own, so it lives in .venv-tools (`make setup`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stepdeploy.template import cfn_yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = cfn_yaml.load(TEMPLATE_TEXT)
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
DEPLOY_ROLE = "CloudFormationRole"
BOUNDARY = "ApplicationBoundaryPolicy"
IAM_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
ROLE_CHANGES = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"}
BOUNDARY_CHANGES = {"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion"}
PARAMETERS = {"GheHost": "ghe.example.com", "AllowedRepositories": "platform/sample-app:sample-*",
              "ManagedStackPrefix": "sample-"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def deploy_statements() -> list[dict[str, Any]]:
    policies = RESOURCES[DEPLOY_ROLE]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def allowed(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow"]


def denied_actions_on(statements: list[dict[str, Any]], resource: Any) -> set[str]:
    return {a for s in statements if s["Effect"] == "Deny" and resource in as_list(s["Resource"])
            for a in as_list(s["Action"])}


def sub_text(value: Any) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else json.dumps(value)


# --- the parameter ---------------------------------------------------------------------------------
def test_managed_stack_prefix_is_required_and_never_empty():
    declared = TEMPLATE["Parameters"]["ManagedStackPrefix"]
    assert "Default" not in declared
    pattern = declared["AllowedPattern"]
    assert not re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "sample-") and re.fullmatch(pattern, "orders")
    assert not re.fullmatch(pattern, "-x") and not re.fullmatch(pattern, "a b")


def test_every_deploy_configuration_passes_a_prefix():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = {env: table["deploy"]["parameters"]["parameter_overrides"]
                 for env, table in config.items() if isinstance(table, dict) and "deploy" in table}
    assert overrides, "samconfig.toml has no deploy parameters"
    for env, text in overrides.items():
        found = re.search(r'ManagedStackPrefix="([^"]*)"', text)
        assert found and re.fullmatch(TEMPLATE["Parameters"]["ManagedStackPrefix"]["AllowedPattern"], found[1]), env


# --- the deploy role -------------------------------------------------------------------------------
def test_roles_are_created_and_changed_only_under_the_application_boundary():
    statements = allowed(deploy_statements())
    for statement in statements:
        changes = ROLE_CHANGES & set(as_list(statement["Action"]))
        if not changes:
            continue
        condition = statement.get("Condition", {}).get("StringEquals", {})
        assert condition.get("iam:PermissionsBoundary") == {"Ref": BOUNDARY}, statement
        for resource in as_list(statement["Resource"]):
            assert sub_text(resource).endswith(":role/${ManagedStackPrefix}*"), resource
    granted = {a for s in statements for a in as_list(s["Action"])}
    assert granted >= ROLE_CHANGES
    assert not any(a in ("*", "iam:*") or a.startswith("iam:") and "*" in a for a in granted)


def test_the_boundary_cannot_be_removed_or_rewritten():
    statements = deploy_statements()
    assert "iam:DeleteRolePermissionsBoundary" in {
        a for s in statements if s["Effect"] == "Deny" for a in as_list(s["Action"])}
    assert denied_actions_on(statements, {"Ref": BOUNDARY}) >= BOUNDARY_CHANGES
    granted = {a for s in allowed(statements) for a in as_list(s["Action"])}
    assert not granted & (BOUNDARY_CHANGES | {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicy"})


def test_roles_are_passed_only_to_the_services_that_use_them():
    passing = [s for s in allowed(deploy_statements()) if "iam:PassRole" in as_list(s["Action"])]
    assert passing
    for statement in passing:
        assert as_list(statement["Action"]) == ["iam:PassRole"]
        assert sub_text(statement["Resource"]).endswith(":role/${ManagedStackPrefix}*")
        services = as_list(statement["Condition"]["StringEquals"]["iam:PassedToService"])
        assert services and all(s.endswith(".amazonaws.com") for s in services)
        assert "cloudformation.amazonaws.com" not in services


def test_no_service_wide_grant_and_every_remaining_wildcard_says_why():
    for statement in allowed(deploy_statements()):
        for action in as_list(statement["Action"]):
            assert not action.endswith(":*") and action != "*", action
    block = TEMPLATE_TEXT[TEMPLATE_TEXT.index(f"  {DEPLOY_ROLE}:\n") + len(f"  {DEPLOY_ROLE}:\n"):]
    block = block[: re.search(r"^(\S|  \w)", block, re.M).start()]  # up to the next resource
    resources = [line for line in block.splitlines() if re.match(r"\s*Resource:", line)]
    scoped = re.compile(r"\$\{(ManagedStackPrefix|AWS::StackName)\}-?\*")
    wildcards = [line for line in resources if "*" in scoped.sub("", line.split("#")[0])]
    assert wildcards, "expected the few actions that take no resource ARN"
    assert [line.strip() for line in wildcards if "#" not in line] == [], "a wildcard without its reason"


def test_resources_are_scoped_to_the_managed_prefix():
    unscoped = []
    for statement in allowed(deploy_statements()):
        for resource in as_list(statement["Resource"]):
            text = sub_text(resource)
            if "${ManagedStackPrefix}" in text or text in ('"*"',) or "ArtifactBucket.Arn}/artifacts/" in text:
                continue
            unscoped.append((statement.get("Sid"), text))
    # What is left names no application resource: others' published layers (read), the logs groups
    # list, AWS-owned transforms, API Gateway's (nameless) API paths, AWS public parameters.
    assert {sid for sid, _ in unscoped} <= {"LayersOfOthers", "DescribeLogGroups", "Transforms", "Apis",
                                            "SsmParameterTypes"}, unscoped


def test_application_roles_boundary_forbids_iam_and_the_orchestrator():
    statements = RESOURCES[BOUNDARY]["Properties"]["PolicyDocument"]["Statement"]
    denied = {a for s in statements if s["Effect"] == "Deny" for a in as_list(s["Action"])}
    assert {"iam:*", "organizations:*"} <= denied
    granted = {a for s in allowed(statements) for a in as_list(s["Action"])}
    assert not any(a.startswith(("iam:", "organizations:", "sts:")) or a == "*" for a in granted)
    orchestrator = [r for s in statements if s["Effect"] == "Deny" and as_list(s["Action"]) == ["*"]
                    for r in as_list(s["Resource"])]
    for resource in ({"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
                     {"Ref": "GheTokenSecret"}, {"Ref": "WebhookSecret"}, {"Fn::GetAtt": ["EventBus", "Arn"]}):
        assert resource in orchestrator, resource
    assert any("function:${AWS::StackName}-*" in sub_text(r) for r in orchestrator)


def test_functions_know_the_prefix_and_the_boundary():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["PERMISSIONS_BOUNDARY_ARN"] == {"Ref": BOUNDARY}
    assert variables["MANAGED_STACK_PREFIX"] == {"Ref": "ManagedStackPrefix"}


# --- checkov on the transformed template ---------------------------------------------------------------
def checkov_command() -> str:
    candidates = [os.environ.get("CHECKOV", ""), str(ROOT / ".venv-tools" / "bin" / "checkov"),
                  shutil.which("checkov") or ""]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found is None:
        reason = "checkov is not installed: `make setup` builds .venv-tools from requirements/tools.txt"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def transformed_template() -> dict[str, Any]:
    """template.yaml as CloudFormation receives it from `sam deploy`: code in S3, then the SAM transform."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = cfn_yaml.load(TEMPLATE_TEXT)
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://stepdeploy-packages/{logical_id}/{key}"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    # Every policy the template names is a policy template or a Ref: no AWS managed policy to look up.
    translated = translator.translate(template, parameter_values=dict(PARAMETERS), get_managed_policy_map=dict)
    return dict(json.loads(json.dumps(translated)))


def test_checkov_iam_checks_pass_on_every_policy(tmp_path):
    checkov = checkov_command()
    path = tmp_path / "template.json"
    path.write_text(json.dumps(transformed_template()))
    run = subprocess.run(
        [checkov, "-f", str(path), "--framework", "cloudformation", "-o", "json", "--compact",
         "--check", ",".join(IAM_CHECKS)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    assert run.stdout.strip(), run.stderr[-2000:]
    report = json.loads(run.stdout)
    results = report["results"]
    failed = sorted(f"{f['check_id']} {f['resource']}" for f in results["failed_checks"])
    assert failed == []
    on_deploy_role = {f["check_id"] for f in results["passed_checks"] if f["resource"].endswith(f".{DEPLOY_ROLE}")}
    assert on_deploy_role == set(IAM_CHECKS), "every IAM check ran and passed on the deploy role"
    skipped = {(f["check_id"], f["resource"].rsplit(".", 1)[-1]) for f in results["skipped_checks"]}
    assert {resource for _, resource in skipped} <= {BOUNDARY}, "only the boundary (a ceiling) is exempted"


def test_the_webhook_reaches_only_the_delivery_records_of_the_ledger():
    from stepdeploy.ingress import webhook

    policies = TEMPLATE["Resources"]["WebhookFunction"]["Properties"]["Policies"]
    assert not [p for p in policies if isinstance(p, dict) and any("DynamoDB" in k for k in p)]  # no SAM CRUD policy
    table = [st for p in policies if isinstance(p, dict) and "Statement" in p for st in as_list(p["Statement"])
             if any(str(a).startswith("dynamodb:") for a in as_list(st["Action"]))]
    assert len(table) == 1
    (statement,) = table
    assert set(statement["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                        "dynamodb:DeleteItem"}  # no Query or Scan: they would read other items
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["delivery#*"]}}
    # the key the webhook writes is under that prefix
    assert webhook._delivery_key("72d3162e-cc78-11e3-81ab-4c9367dc0958")["pk"].startswith("delivery#")


def test_builds_write_only_under_builds_and_run_unprivileged_by_default():
    build = TEMPLATE["Resources"]["BuildProject"]["Properties"]
    assert build["Environment"]["PrivilegedMode"] is False
    assert build["Artifacts"]["NamespaceType"] == "BUILD_ID"
    statements = TEMPLATE["Resources"]["BuildRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    s3 = [st for st in statements if any(str(a).startswith("s3:") for a in as_list(st["Action"]))]
    assert [as_list(st["Action"]) for st in s3] == [["s3:PutObject"]]  # no read, no list of other builds' output
    assert sub_text(s3[0]["Resource"]).endswith("/builds/*")
