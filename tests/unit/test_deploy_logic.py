"""Pure logic of the deploy steps: stack states, change sets, versions, AppSpec, deployment groups."""

from __future__ import annotations

import json

import pytest

from stepdeploy.app_config.target_config import CustomStrategy, Target
from stepdeploy.aws.clients import idempotency_token
from stepdeploy.aws.codedeploy import group_differs, group_settings, traffic_routing
from stepdeploy.aws.lambda_versions import differences, fingerprint
from stepdeploy.errors import ConfigurationError, StackBusy, StackNeedsAttention
from stepdeploy.models import ArtifactInfo, DeploymentRequest, ExecutionContext, FunctionRelease, S3Object
from stepdeploy.tasks.check_change_set import is_no_change, summarize_changes
from stepdeploy.tasks.check_stack import first_failure
from stepdeploy.tasks.create_change_set import change_set_name, change_set_type, parameter_overrides
from stepdeploy.tasks.publish_versions import managed_functions, matching_version
from stepdeploy.tasks.start_traffic_shift import build_appspec, group_name

pytestmark = pytest.mark.unit

EXECUTION = ExecutionContext(Id="arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:demo-1")


def request(**deployment) -> DeploymentRequest:
    return DeploymentRequest(
        source="ghe",
        repository="platform/sample-app",
        commit="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        target=Target(branch="main", stack="sample-prod", deployment=deployment),
    )


# --- change sets -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, "CREATE"),
        ("REVIEW_IN_PROGRESS", "CREATE"),
        ("CREATE_COMPLETE", "UPDATE"),
        ("UPDATE_COMPLETE", "UPDATE"),
        ("UPDATE_ROLLBACK_COMPLETE", "UPDATE"),
        ("IMPORT_COMPLETE", "UPDATE"),
    ],
)
def test_change_set_type_for_stable_states(status, expected):
    stack = None if status is None else {"StackName": "s", "StackStatus": status}
    assert change_set_type(stack) == expected


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "DELETE_IN_PROGRESS"])
def test_busy_stacks_are_retried(status):
    with pytest.raises(StackBusy, match=status):
        change_set_type({"StackName": "s", "StackStatus": status})


def test_a_failed_rollback_names_continue_update_rollback():
    with pytest.raises(StackNeedsAttention, match="ContinueUpdateRollback"):
        change_set_type({"StackName": "s", "StackStatus": "UPDATE_ROLLBACK_FAILED"})


def test_change_set_names_are_valid_and_per_execution():
    artifact = ArtifactInfo(
        bundle=S3Object(bucket="b", key="k"), digest="f" * 64, template=S3Object(bucket="b", key="t"), parameters={}
    )
    name = change_set_name(request(), artifact, EXECUTION)
    assert name.startswith("stepdeploy-6113728-") and len(name) <= 128
    assert all(c.isalnum() or c == "-" for c in name)
    other = ExecutionContext(Id=EXECUTION.id + "-2")
    assert change_set_name(request(), artifact, other) != name
    upload = DeploymentRequest(source="s3", target=Target(branch="*", stack="s"))
    assert change_set_name(upload, artifact, EXECUTION).startswith("stepdeploy-fffffff-")


def test_tokens_are_stable_per_execution_and_purpose():
    token = idempotency_token(EXECUTION, "create-change-set")
    assert token == idempotency_token(EXECUTION, "create-change-set")
    assert token != idempotency_token(EXECUTION, "execute-change-set")
    assert token[0].isalpha() and len(token) <= 128 and all(c.isalnum() or c == "-" for c in token)


def test_only_declared_parameters_are_passed_and_undeclared_required_ones_keep_their_value():
    declared = {
        "FnCodeKey": {"Type": "String"},
        "Greeting": {"Type": "String", "Default": "hi"},
        "Secret": {"Type": "String"},
    }
    given = {"FnCodeKey": "k", "Unused": "x"}
    assert parameter_overrides(declared, given, previous={"Secret", "Greeting"}) == [
        {"ParameterKey": "FnCodeKey", "ParameterValue": "k"},
        {"ParameterKey": "Secret", "UsePreviousValue": True},
    ]
    assert parameter_overrides(declared, given, previous=set()) == [
        {"ParameterKey": "FnCodeKey", "ParameterValue": "k"}
    ]


def test_no_change_reasons():
    assert is_no_change(
        "The submitted information didn't contain changes. Submit different information to create a change set."
    )
    assert is_no_change("No updates are to be performed.")
    assert not is_no_change("Parameters: [Foo] must have values")
    assert not is_no_change(None)


def test_changes_are_summarized_and_capped():
    changes = [
        {
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": f"R{i}",
                "ResourceType": "T",
                "Replacement": "False",
            }
        }
        for i in range(105)
    ]
    summary = summarize_changes(changes)
    assert summary[0] == {"action": "Modify", "logical_id": "R0", "resource_type": "T", "replacement": "False"}
    assert len(summary) == 101 and summary[-1]["more"] == 5


def test_the_first_failed_resource_is_the_cause():
    events = [
        {"LogicalResourceId": "app", "ResourceStatus": "UPDATE_IN_PROGRESS"},
        {
            "LogicalResourceId": "Fn",
            "ResourceType": "AWS::Lambda::Function",
            "ResourceStatus": "UPDATE_FAILED",
            "ResourceStatusReason": "Role is invalid",
        },
        {
            "LogicalResourceId": "Api",
            "ResourceType": "AWS::ApiGateway::RestApi",
            "ResourceStatus": "UPDATE_FAILED",
            "ResourceStatusReason": "Resource update cancelled",
        },
        {"LogicalResourceId": "app", "ResourceStatus": "UPDATE_ROLLBACK_IN_PROGRESS"},
    ]
    assert first_failure(events, "app") == "Fn (AWS::Lambda::Function) UPDATE_FAILED: Role is invalid"
    assert first_failure(events[:1], "app") is None


# --- versions ----------------------------------------------------------------------------------
BASE = {
    "CodeSha256": "abc=",
    "Runtime": "python3.12",
    "Handler": "app.handler",
    "MemorySize": 256,
    "Timeout": 30,
    "Role": "arn:aws:iam::123456789012:role/r",
    "Environment": {"Variables": {"A": "1"}},
    "Layers": [{"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:deps:1", "CodeSize": 10}],
    "Architectures": ["arm64"],
    "EphemeralStorage": {"Size": 512},
    "LastModified": "2026-01-01T00:00:00Z",
    "RevisionId": "r1",
    "Version": "$LATEST",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"CodeSha256": "def="}, "CodeSha256"),
        ({"Environment": {"Variables": {"A": "2"}}}, "Environment"),
        ({"MemorySize": 512}, "MemorySize"),
        ({"Timeout": 60}, "Timeout"),
        ({"Handler": "app.other"}, "Handler"),
        ({"Runtime": "python3.13"}, "Runtime"),
        ({"Layers": [{"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:deps:2"}]}, "Layers"),
        ({"Role": "arn:aws:iam::123456789012:role/other"}, "Role"),
        ({"Architectures": ["x86_64"]}, "Architectures"),
        ({"EphemeralStorage": {"Size": 1024}}, "EphemeralStorage"),
        ({"VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["g-1"]}}, "Vpc"),
    ],
)
def test_code_or_configuration_changes_are_detected(change, field):
    assert differences(BASE, {**BASE, **change}) == [field]


def test_volatile_fields_are_not_changes():
    same = {**BASE, "LastModified": "2027-01-01T00:00:00Z", "RevisionId": "r9", "Version": "4", "State": "Active"}
    assert differences(BASE, same) == []
    # Defaults spelled out or left out mean the same function.
    assert fingerprint({**BASE, "TracingConfig": {"Mode": "PassThrough"}}) == fingerprint(BASE)
    assert fingerprint({**BASE, "VpcConfig": {"SubnetIds": ["b", "a"]}}) == fingerprint(
        {**BASE, "VpcConfig": {"SubnetIds": ["a", "b"]}}
    )


def test_an_identical_published_version_is_found():
    versions = [{**BASE, "Version": "1"}, {**BASE, "Version": "2", "MemorySize": 512}, {**BASE, "Version": "3"}]
    assert matching_version(versions, BASE) == "3"
    assert matching_version(versions[:2], {**BASE, "Timeout": 1}) is None


def test_managed_functions_default_to_all_but_the_hooks():
    stack = {"Greeter": "app-Greeter-1", "Worker": "app-Worker-1", "PreTraffic": "app-PreTraffic-1"}
    req = request(hooks={"before_allow_traffic": "PreTraffic"})
    assert managed_functions(req, stack) == {"Greeter": "app-Greeter-1", "Worker": "app-Worker-1"}
    assert managed_functions(request(functions=["Worker"]), stack) == {"Worker": "app-Worker-1"}


def test_unknown_functions_or_hooks_name_the_config_key():
    stack = {"Greeter": "app-Greeter-1"}
    with pytest.raises(ConfigurationError, match=r"deployment.functions: Nope is not a Lambda function"):
        managed_functions(request(functions=["Nope"]), stack)
    with pytest.raises(ConfigurationError, match=r"deployment.hooks: Missing .*expected one of Greeter"):
        managed_functions(request(hooks={"after_allow_traffic": "Missing"}), stack)


def test_needs_shift_only_for_changed_functions_with_a_previous_version():
    def release(**kw):
        return FunctionRelease(logical_id="F", function_name="f", alias="live", **kw)

    assert release(version="3", previous_version="2").needs_shift
    assert not release(version="2", previous_version="2", changed=False).needs_shift
    assert not release(version="1", previous_version=None, alias_created=True).needs_shift


# --- CodeDeploy --------------------------------------------------------------------------------
def test_appspec_moves_the_alias_between_two_versions_with_hooks():
    release = FunctionRelease(
        logical_id="Greeter", function_name="app-Greeter-1", alias="live", version="3", previous_version="2"
    )
    spec = json.loads(build_appspec(release, {"BeforeAllowTraffic": "app-Pre-1", "AfterAllowTraffic": "app-Post-1"}))
    assert spec["version"] == 0.0
    assert spec["Resources"] == [
        {
            "Greeter": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Name": "app-Greeter-1", "Alias": "live", "CurrentVersion": "2", "TargetVersion": "3"},
            }
        }
    ]
    assert spec["Hooks"] == [{"BeforeAllowTraffic": "app-Pre-1"}, {"AfterAllowTraffic": "app-Post-1"}]
    assert "Hooks" not in json.loads(build_appspec(release, {}))


def test_appspec_needs_a_current_version():
    first = FunctionRelease(logical_id="G", function_name="g", alias="live", version="1", alias_created=True)
    with pytest.raises(ValueError, match="no current version"):
        build_appspec(first, {})


def test_group_names_fit_codedeploy():
    assert group_name("sample-prod", "Greeter") == "sample-prod-Greeter"
    long = group_name("s" * 90, "Function" * 3)
    assert len(long) == 100 and long != group_name("s" * 90, "Function" * 3 + "X")


def test_custom_strategies_become_traffic_routing():
    assert traffic_routing(CustomStrategy(type="canary", percent=20, interval_minutes=5)) == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 5},
    }
    assert traffic_routing(CustomStrategy(type="linear", percent=25, interval_minutes=2))["type"] == "TimeBasedLinear"


def test_deployment_group_drift_is_detected():
    wanted = group_settings("CodeDeployDefault.LambdaAllAtOnce", "arn:role", ["errors"])
    assert group_differs(wanted, wanted) == []
    assert group_differs(
        {**wanted, "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}, wanted
    ) == ["deploymentConfigName"]
    no_alarms = {**wanted, "alarmConfiguration": {}}
    assert group_differs(no_alarms, wanted) == ["alarmConfiguration"]
    assert group_differs({**wanted, "autoRollbackConfiguration": {"enabled": False}}, wanted) == [
        "autoRollbackConfiguration"
    ]
    # moto (and a group never given alarms) answers an empty alarmConfiguration: no alarms wanted, no drift.
    quiet = group_settings("CodeDeployDefault.LambdaAllAtOnce", "arn:role", [])
    assert group_differs({**quiet, "alarmConfiguration": {}}, quiet) == []
