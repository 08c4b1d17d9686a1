"""Every event source of a managed function invokes the alias, per source type, after SAM's transform."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stepdeploy.app_config.target_config import Deployment
from stepdeploy.errors import ArtifactRejected
from stepdeploy.template.alias_wiring import SAM_EVENT_TYPES, alias_logical_id, wire_aliases
from stepdeploy.template.preferences import MappedPreference, effective, map_preference
from stepdeploy_localcloud.cloudformation.template import sam_transform

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:s"
EVENTS: dict[str, dict[str, Any]] = {
    "Api": {"Path": "/x", "Method": "get"},
    "HttpApi": {},
    "SQS": {"Queue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"},
    "Kinesis": {"Stream": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s", "StartingPosition": "LATEST"},
    "DynamoDB": {"Stream": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/stream/x", "StartingPosition": "LATEST"},
    "Schedule": {"Schedule": "rate(1 minute)"},
    "ScheduleV2": {"ScheduleExpression": "rate(1 minute)"},
    "EventBridgeRule": {"Pattern": {"source": ["x"]}},
    "CloudWatchEvent": {"Pattern": {"source": ["x"]}},
    "SNS": {"Topic": f"arn:aws:sns:us-east-1:{ACCOUNT}:t"},
    "S3": {"Bucket": {"Ref": "Bucket"}, "Events": "s3:ObjectCreated:*"},
    "Cognito": {"UserPool": {"Ref": "Pool"}, "Trigger": "PreSignUp"},
    "CloudWatchLogs": {"LogGroupName": "g", "FilterPattern": ""},
    "IoTRule": {"Sql": "SELECT * FROM 't'"},
    "AlexaSkill": {},
    "MSK": {"Stream": f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/c/x", "Topics": ["t"], "StartingPosition": "LATEST"},
    "MQ": {
        "Broker": f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:b:x",
        "Queues": ["q"],
        "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": SECRET}],
    },
    "SelfManagedKafka": {
        "KafkaBootstrapServers": ["a:9092"],
        "Topics": ["t"],
        "SourceAccessConfigurations": [{"Type": "SASL_SCRAM_512_AUTH", "URI": SECRET}],
    },
    "DocumentDB": {
        "Cluster": f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:c",
        "DatabaseName": "d",
        "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": SECRET}],
    },
}
# The resource types through which each SAM event type invokes the function.
INVOKERS = {
    "Api": {"AWS::ApiGateway::RestApi", "AWS::Lambda::Permission"},
    "HttpApi": {"AWS::ApiGatewayV2::Api", "AWS::Lambda::Permission"},
    "Schedule": {"AWS::Events::Rule", "AWS::Lambda::Permission"},
    "ScheduleV2": {"AWS::Scheduler::Schedule"},
    "EventBridgeRule": {"AWS::Events::Rule", "AWS::Lambda::Permission"},
    "CloudWatchEvent": {"AWS::Events::Rule", "AWS::Lambda::Permission"},
    "SNS": {"AWS::SNS::Subscription", "AWS::Lambda::Permission"},
    "S3": {"AWS::S3::Bucket", "AWS::Lambda::Permission"},
    "Cognito": {"AWS::Cognito::UserPool", "AWS::Lambda::Permission"},
    "CloudWatchLogs": {"AWS::Logs::SubscriptionFilter", "AWS::Lambda::Permission"},
    "IoTRule": {"AWS::IoT::TopicRule", "AWS::Lambda::Permission"},
    "AlexaSkill": {"AWS::Lambda::Permission"},
}
OWN = {"Fn", "FnRole", "FnVersionstepdeploy", "FnAliaslive"}


def sam_app(event_type: str) -> dict[str, Any]:
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "s3://code/fn.zip",
                    "Handler": "app.handler",
                    "Runtime": "python3.12",
                    "Events": {"Source": {"Type": event_type, "Properties": copy.deepcopy(EVENTS[event_type])}},
                },
            },
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Pool": {"Type": "AWS::Cognito::UserPool"},
        },
    }


def references(resource: dict[str, Any], logical_id: str) -> bool:
    text = json.dumps(resource)
    return any(
        marker in text
        for marker in (
            f'{{"Ref": "{logical_id}"}}', f'["{logical_id}", "Arn"]', f"${{{logical_id}.Arn}}", f"${{{logical_id}}}"
        )
    )


def test_every_event_type_is_covered():
    assert set(EVENTS) == SAM_EVENT_TYPES


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_each_sam_event_type_invokes_the_alias(event_type):
    template = sam_app(event_type)
    wiring = wire_aliases(template, alias="live", managed=lambda logical_id: True)
    assert wiring.functions == ["Fn"]
    transformed = sam_transform(template, {}, "us-east-1")["Resources"]
    invokers = {k: v for k, v in transformed.items() if k not in OWN and references(v, "Fn")}
    assert not invokers, f"{event_type}: still invoke the unqualified function: {sorted(invokers)}"
    on_alias = {v["Type"] for k, v in transformed.items() if k not in OWN and references(v, "FnAliaslive")}
    expected = INVOKERS.get(event_type, {"AWS::Lambda::EventSourceMapping"})
    assert expected <= on_alias, f"{event_type}: {sorted(on_alias)}"


def test_the_version_resource_is_the_same_whatever_the_code():
    def transformed(key: str) -> dict[str, Any]:
        template = sam_app("HttpApi")
        template["Resources"]["Fn"]["Properties"]["CodeUri"] = f"s3://code/{key}.zip"
        template["Resources"]["Fn"]["Properties"]["MemorySize"] = 128 if key == "a" else 256
        wire_aliases(template, alias="live", managed=lambda logical_id: True)
        return sam_transform(template, {}, "us-east-1")["Resources"]

    first, second = transformed("a"), transformed("b")
    # New code or configuration changes the function only: CloudFormation never republishes or moves the alias.
    assert first["FnVersionstepdeploy"] == second["FnVersionstepdeploy"]
    assert first["FnAliaslive"] == second["FnAliaslive"]
    assert first["FnVersionstepdeploy"]["DeletionPolicy"] == "Retain"


def test_unmanaged_functions_are_left_alone():
    template = sam_app("SQS")
    wiring = wire_aliases(template, alias="live", managed=lambda logical_id: False)
    assert wiring.functions == []
    assert "AutoPublishAlias" not in template["Resources"]["Fn"]["Properties"]


def test_deployment_preference_is_taken_out_mapped_and_its_hooks_are_not_shifted():
    template = sam_app("Api")
    template["Resources"]["PreHook"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "s3://code/hook.zip", "Handler": "hook.handler", "Runtime": "python3.12"},
    }
    template["Resources"]["Fn"]["Properties"]["DeploymentPreference"] = {
        "Type": "Linear10PercentEvery1Minute",
        "Alarms": [{"Ref": "ErrorsAlarm"}],
        "Hooks": {"PreTraffic": {"Ref": "PreHook"}, "PostTraffic": "PostHookName"},
    }
    wiring = wire_aliases(template, alias="live", managed=lambda logical_id: True)
    assert wiring.preferences == {
        "Fn": MappedPreference(
            strategy="CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            alarms=["ErrorsAlarm"],
            hooks={"before_allow_traffic": "PreHook", "after_allow_traffic": "PostHookName"},
        )
    }
    assert "DeploymentPreference" not in template["Resources"]["Fn"]["Properties"]
    assert wiring.functions == ["Fn"] and "PreHook" in wiring.hooks
    assert "AutoPublishAlias" not in template["Resources"]["PreHook"]["Properties"]
    # Nothing is left for CloudFormation's own CodeDeploy run.
    transformed = sam_transform(template, {}, "us-east-1")["Resources"]
    assert not [k for k, v in transformed.items() if "UpdatePolicy" in v]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Canary10Percent5Minutes", "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
        ("AllAtOnce", "CodeDeployDefault.LambdaAllAtOnce"),
        ("LambdaLinear10PercentEvery2Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"),
        ("MyCustomConfig", "MyCustomConfig"),
    ],
)
def test_preference_types_map_to_deployment_configs(given, expected):
    assert map_preference("Fn", {"Type": given}).strategy == expected


def test_a_disabled_preference_shifts_at_once_and_a_bad_one_is_refused():
    assert map_preference("Fn", {"Type": "Canary10Percent5Minutes", "Enabled": False}).strategy.endswith("AllAtOnce")
    with pytest.raises(ArtifactRejected, match=r"Fn.DeploymentPreference.Hooks: Sideways"):
        map_preference("Fn", {"Type": "AllAtOnce", "Hooks": {"Sideways": "x"}})


def test_stepdeploy_yml_wins_over_the_preference_where_it_says_something():
    preference = MappedPreference(strategy="CodeDeployDefault.LambdaCanary10Percent5Minutes", alarms=["A"])
    assert effective(Deployment(), preference) == ("CodeDeployDefault.LambdaCanary10Percent5Minutes", ["A"], {})
    explicit = Deployment(strategy="LambdaAllAtOnce", alarms=["B"])
    assert effective(explicit, preference) == ("CodeDeployDefault.LambdaAllAtOnce", ["B"], {})


def test_an_unknown_event_type_is_refused_naming_function_and_event():
    template = sam_app("SQS")
    template["Resources"]["Fn"]["Properties"]["Events"]["Odd"] = {"Type": "Telepathy", "Properties": {}}
    with pytest.raises(ArtifactRejected, match=r"Fn\.Events\.Odd: event type 'Telepathy'"):
        wire_aliases(template, alias="live", managed=lambda logical_id: True)


PLAIN = {
    "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "k"}}},
        "Perm": {"Type": "AWS::Lambda::Permission", "Properties": {"FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]}}},
        "Esm": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {"Targets": [{"Id": "t", "Arn": {"Fn::GetAtt": "Fn.Arn"}}]},
        },
        "Sched": {"Type": "AWS::Scheduler::Schedule", "Properties": {"Target": {"Arn": {"Fn::Sub": "${Fn.Arn}"}}}},
        "Sub": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "lambda", "Endpoint": {"Fn::GetAtt": ["Fn", "Arn"]}},
        },
        "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": {"Ref": "Fn"}, "AuthType": "NONE"}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Fn}"}}},
    }
}


def test_plain_functions_get_a_pinned_version_an_alias_and_their_sources_on_it():
    template = copy.deepcopy(PLAIN)
    wiring = wire_aliases(template, alias="live", managed=lambda logical_id: True)
    resources = template["Resources"]
    alias = alias_logical_id("Fn", "live")
    assert wiring.functions == ["Fn"]
    assert resources[alias]["Properties"]["FunctionVersion"] == {"Fn::GetAtt": ["FnVersionstepdeploy", "Version"]}
    assert resources["FnVersionstepdeploy"]["DeletionPolicy"] == "Retain"
    on_alias = {"Ref": alias}
    assert resources["Perm"]["Properties"]["FunctionName"] == on_alias
    assert resources["Esm"]["Properties"]["FunctionName"] == on_alias
    assert resources["Rule"]["Properties"]["Targets"][0]["Arn"] == on_alias
    assert resources["Sched"]["Properties"]["Target"]["Arn"] == on_alias
    assert resources["Sub"]["Properties"]["Endpoint"] == on_alias
    assert resources["Url"]["Properties"]["Qualifier"] == "live" and alias in resources["Url"]["DependsOn"]
    # Not an event source: a log group keeps the function's name.
    assert resources["Logs"]["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${Fn}"}


def test_the_local_cloud_refuses_codedeploy_inside_a_stack_update_by_name():
    from stepdeploy_localcloud.cloudformation.errors import TemplateError
    from stepdeploy_localcloud.cloudformation.template import refuse_unemulated_update_policy

    alias = {"Type": "AWS::Lambda::Alias", "UpdatePolicy": {"CodeDeployLambdaAliasUpdate": {"ApplicationName": "a"}}}
    with pytest.raises(TemplateError, match="FnAliaslive has UpdatePolicy CodeDeployLambdaAliasUpdate"):
        refuse_unemulated_update_policy("FnAliaslive", alias)
    refuse_unemulated_update_policy("FnAliaslive", {"Type": "AWS::Lambda::Alias"})
