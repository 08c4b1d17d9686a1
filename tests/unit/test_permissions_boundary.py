"""The permissions boundary on every role an application stack creates, checked with SAM's own transform.

The rewriter (stepdeploy.guards.permissions_boundary) works on the SAM template; what IAM sees is the template
after the SAM transform. So the packaged template is transformed here with aws-sam-translator and every
AWS::IAM::Role of the result must carry the boundary: the sample app, and a template with the event
sources and resources that make SAM generate roles.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stepdeploy.errors import ArtifactRejected
from stepdeploy.guards.permissions_boundary import apply_permissions_boundary, check_permissions_boundary
from stepdeploy.template import cfn_yaml
from stepdeploy.template.bundle import StoredCode, package_template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = "arn:aws:iam::123456789012:policy/stepdeploy-ApplicationBoundaryPolicy-ABC"
OTHER = "arn:aws:iam::123456789012:policy/wide-open"

EVENTS_APP = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: app.handler}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: live}
  HttpApi: {Type: AWS::Serverless::HttpApi}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Policies:
        - SQSPollerPolicy: {QueueName: !GetAtt Queue.QueueName}
        - Statement:
            - {Effect: Allow, Action: ["dynamodb:GetItem"], Resource: "*"}
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /items, Method: get}}
        Http: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /items, Method: get}}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour)}}
        Nightly: {Type: ScheduleV2, Properties: {ScheduleExpression: "cron(0 2 * * ? *)"}}
  OwnRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: queue
          PolicyDocument: {Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt Queue.Arn}]}
  WithOwnRole:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: worker/, Role: !GetAtt OwnRole.Arn}
  ExtraPolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: extra
      Roles: [!Ref WorkerRole, !Ref OwnRole]
      PolicyDocument: {Statement: [{Effect: Allow, Action: sns:Publish, Resource: "*"}]}
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Work
        States:
          Work: {Type: Task, Resource: !GetAtt Worker.Arn, End: true}
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Worker}
      Events:
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour)}}
        Nightly: {Type: ScheduleV2, Properties: {ScheduleExpression: "cron(0 3 * * ? *)"}}
        OnEvent: {Type: EventBridgeRule, Properties: {Pattern: {source: [orders]}}}
        Start: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /flow, Method: post}}
"""


def sam(text: str) -> dict[str, Any]:
    return dict(cfn_yaml.load(text))


def store(logical_id: str, path: str, kind: str) -> StoredCode:
    return StoredCode(key=f"artifacts/{logical_id}.zip", digest="0" * 64)


def packaged(template: dict[str, Any], boundary: str = BOUNDARY) -> dict[str, Any]:
    return package_template(
        template, template_dir="", bucket="artifacts", store=store, existing=lambda path: True,
        permissions_boundary=boundary,
    ).template


def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation has it after the SAM transform."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    parameters = {name: "value" for name in template.get("Parameters") or {}}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    result = translator.translate(copy.deepcopy(template), parameter_values=parameters, get_managed_policy_map=dict)
    return dict(json.loads(json.dumps(result)))


def roles(template: dict[str, Any]) -> dict[str, Any]:
    return {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


# --- what SAM makes of it ------------------------------------------------------------------------
def test_every_role_of_the_transformed_sample_app_carries_the_boundary():
    template = sam((ROOT / "examples" / "sample-app" / "template.yaml").read_text())
    generated = roles(transformed(packaged(template)))
    assert set(generated) == {"GreeterFunctionRole", "CounterFunctionRole", "NotifierFunctionRole"}
    assert {lid: props.get("PermissionsBoundary") for lid, props in generated.items()} == dict.fromkeys(
        generated, BOUNDARY
    )


def test_every_role_sam_generates_for_events_state_machines_and_schedules_carries_the_boundary():
    generated = roles(transformed(packaged(sam(EVENTS_APP))))
    # The function's role, the scheduler's for ScheduleV2, the state machine's and its events' roles, ours.
    assert {"WorkerRole", "WorkerNightlyRole", "FlowRole", "FlowHourlyRole", "FlowNightlyRole",
            "FlowOnEventRole", "FlowStartRole", "OwnRole"} <= set(generated)
    missing = sorted(lid for lid, props in generated.items() if props.get("PermissionsBoundary") != BOUNDARY)
    assert missing == []


def test_without_the_rewrite_sam_generates_roles_without_a_boundary():
    """The control: what IAM would refuse if the boundary were not written in."""
    template = sam(EVENTS_APP)
    bare = package_template(template, template_dir="", bucket="artifacts", store=store, existing=lambda p: True)
    generated = roles(transformed(bare.template))
    assert all("PermissionsBoundary" not in props for props in generated.values())


def test_a_function_with_its_own_role_gets_no_boundary_property_but_its_role_does():
    template = packaged(sam(EVENTS_APP))
    resources = template["Resources"]
    assert "PermissionsBoundary" not in resources["WithOwnRole"]["Properties"]
    assert resources["OwnRole"]["Properties"]["PermissionsBoundary"] == BOUNDARY
    assert template["Globals"]["Function"]["PermissionsBoundary"] == BOUNDARY
    assert resources["Worker"]["Properties"]["Events"]["Nightly"]["Properties"]["PermissionsBoundary"] == BOUNDARY


def test_a_role_sam_generates_only_under_a_condition_gets_the_boundary_too():
    template = sam(EVENTS_APP)
    del template["Globals"]
    props = template["Resources"]["WithOwnRole"]["Properties"]
    props["Role"] = {"Fn::If": ["UseOwnRole", {"Fn::GetAtt": ["OwnRole", "Arn"]}, {"Ref": "AWS::NoValue"}]}
    template["Conditions"] = {"UseOwnRole": {"Fn::Equals": ["a", "b"]}}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"].update(Runtime="python3.12", Handler="app.handler")
    generated = roles(transformed(packaged(template)))
    assert generated["WithOwnRoleRole"]["PermissionsBoundary"] == BOUNDARY


def test_the_boundary_already_written_is_kept_and_the_input_is_not_changed():
    template = sam(EVENTS_APP)
    template["Resources"]["OwnRole"]["Properties"]["PermissionsBoundary"] = BOUNDARY
    before = copy.deepcopy(template)
    packaged(template)
    assert template == before


def test_empty_properties_get_the_boundary_too():
    template = sam(EVENTS_APP)
    template["Resources"]["Bare"] = {"Type": "AWS::IAM::Role", "Properties": None}
    template["Resources"]["Worker"]["Properties"]["Events"]["Nightly"]["Properties"] = None
    apply_permissions_boundary(template, BOUNDARY)
    assert template["Resources"]["Bare"]["Properties"] == {"PermissionsBoundary": BOUNDARY}
    assert template["Resources"]["Worker"]["Properties"]["Events"]["Nightly"]["Properties"] == {
        "PermissionsBoundary": BOUNDARY
    }


def test_a_scheduler_role_given_by_the_template_is_left_alone():
    template = sam(EVENTS_APP)
    nightly = template["Resources"]["Worker"]["Properties"]["Events"]["Nightly"]["Properties"]
    nightly["RoleArn"] = {"Fn::GetAtt": ["OwnRole", "Arn"]}
    apply_permissions_boundary(template, BOUNDARY)
    assert "PermissionsBoundary" not in nightly


# --- refusals ------------------------------------------------------------------------------------
def edited(path: list[str], value: Any) -> dict[str, Any]:
    template = sam(EVENTS_APP)
    target = template
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return template


def with_resource(logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
    template = sam(EVENTS_APP)
    template["Resources"][logical_id] = resource
    return template


ROLE_PROPS = ["Resources", "OwnRole", "Properties"]
ALLOW_IAM = {"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (edited([*ROLE_PROPS, "PermissionsBoundary"], OTHER),
         rf"template: OwnRole.PermissionsBoundary: expected the orchestrator's boundary {BOUNDARY} .*found '{OTHER}'"),
        (edited(["Globals", "Function", "PermissionsBoundary"], {"Ref": "Mine"}),
         r"template: Globals.Function.PermissionsBoundary: expected the orchestrator's boundary"),
        (edited(["Resources", "Worker", "Properties", "PermissionsBoundary"], OTHER),
         r"template: Worker.PermissionsBoundary: expected"),
        (edited(["Resources", "Flow", "Properties", "PermissionsBoundary"], OTHER),
         r"template: Flow.PermissionsBoundary: expected"),
        (edited(["Resources", "Worker", "Properties", "Events", "Nightly", "Properties", "PermissionsBoundary"], OTHER),
         r"template: Worker.Events.Nightly.Properties.PermissionsBoundary: expected"),
        (with_resource("Admin", {"Type": "AWS::IAM::User", "Properties": {}}),
         r"template: Admin: AWS::IAM::User: application stacks may create roles .* not IAM users, groups"),
        (with_resource("Admins", {"Type": "AWS::IAM::Group", "Properties": {}}), r"template: Admins: AWS::IAM::Group"),
        (with_resource("Key", {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": "x"}}),
         r"template: Key: AWS::IAM::AccessKey"),
        (with_resource("Wide", {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {}}}),
         r"template: Wide: AWS::IAM::ManagedPolicy: .*expected one of AWS::IAM::Policy, AWS::IAM::Role"),
        (with_resource("Elsewhere", {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "x", "Roles": ["stepdeploy-CloudFormationRole"], "PolicyDocument": {}}}),
         r"template: Elsewhere.Roles: expected !Ref to a role of this stack \(.*OwnRole.*\); found "
         r"'stepdeploy-CloudFormationRole', a role the stack does not create"),
        (with_resource("OnUsers", {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "x", "Users": ["alice"], "Roles": [{"Ref": "OwnRole"}], "PolicyDocument": {}}}),
         r"template: OnUsers.Users: expected the policy on roles of this stack only"),
        (with_resource("Inline", {"Type": "AWS::IAM::RolePolicy", "Properties": {
            "PolicyName": "x", "RoleName": "someone-else", "PolicyDocument": {}}}),
         r"template: Inline.RoleName: expected !Ref to a role of this stack"),
        (edited([*ROLE_PROPS, "Policies"], [{"PolicyName": "p", "PolicyDocument": ALLOW_IAM}]),
         r"template: OwnRole.Policies\[0\].PolicyDocument.Statement\[0\].Action: iam:PassRole grants IAM actions"),
        (edited(["Resources", "ExtraPolicy", "Properties", "PolicyDocument"],
                {"Statement": [{"Effect": "Allow", "Action": ["sns:Publish", "*"], "Resource": "*"}]}),
         r"template: ExtraPolicy.PolicyDocument.Statement\[0\].Action: \* grants IAM actions"),
        (edited(["Resources", "Worker", "Properties", "Policies"],
                [{"Statement": [{"Effect": "Allow", "Action": "I?M:Create*", "Resource": "*"}]}]),
         r"template: Worker.Policies\[0\].Statement\[0\].Action: I\?M:Create\* grants IAM actions"),
        (edited(["Resources", "Flow", "Properties", "Policies"],
                [{"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}]),
         r"template: Flow.Policies\[0\].Statement\[0\]: NotAction in an Allow statement"),
        (with_resource("Link", {"Type": "AWS::Serverless::Connector", "Properties": {}}),
         r"template: Link: stepdeploy cannot put the permissions boundary on the roles SAM generates for "
         r"AWS::Serverless::Connector .*expected one of AWS::Serverless::Api"),
        (with_resource("Graph", {"Type": "AWS::Serverless::GraphQLApi", "Properties": {}}),
         r"template: Graph: .*AWS::Serverless::GraphQLApi"),
        (edited(["Resources", "Worker", "Connectors"], {"ToQueue": {"Properties": {}}}),
         r"template: Worker.Connectors: SAM turns connectors into IAM managed policies"),
    ],
    ids=["role-other-boundary", "globals-boundary-intrinsic", "function-other-boundary", "state-machine-other",
         "schedule-v2-other", "user", "group", "access-key", "managed-policy", "policy-on-foreign-role",
         "policy-on-users", "role-policy-on-foreign-role", "role-grants-iam", "policy-grants-star",
         "function-grants-iam-glob", "not-action", "connector", "graphql", "embedded-connectors"],
)
def test_templates_outside_the_boundary_are_refused_before_anything_is_stored(template, message):
    stored: list[str] = []

    def remember(logical_id: str, path: str, kind: str) -> StoredCode:
        stored.append(logical_id)
        return store(logical_id, path, kind)

    with pytest.raises(ArtifactRejected, match=message):
        package_template(template, template_dir="", bucket="b", store=remember, existing=lambda p: True,
                         permissions_boundary=BOUNDARY)
    assert stored == []


def test_deny_statements_and_intrinsic_actions_are_not_grants():
    template = edited([*ROLE_PROPS, "Policies"], [{"PolicyName": "p", "PolicyDocument": {"Statement": [
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": {"Fn::Sub": "sqs:${Verb}"}, "Resource": "*"},
    ]}}])
    check_permissions_boundary(template, BOUNDARY)


def test_without_a_boundary_setting_the_template_is_packaged_as_it_was():
    template = sam(EVENTS_APP)
    template["Resources"]["Admin"] = {"Type": "AWS::IAM::User", "Properties": {}}
    result = packaged(template, boundary="")
    assert "PermissionsBoundary" not in result["Resources"]["OwnRole"]["Properties"]
