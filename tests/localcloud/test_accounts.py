"""Two accounts on one local cloud: AssumeRole honours the role's trust policy (sts/), an event bus
target in another account (and region) honours that bus's policy (events/), a TemplateURL in another
account's bucket honours the bucket policy (cloudformation/, s3/), and function code is read only from a
bucket of the function's region (cloudformation/resources/awslambda.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud import backends, endpoint
from stepdeploy_localcloud.cloudformation import patch as cloudformation_patch
from stepdeploy_localcloud.events import patch as events_patch
from stepdeploy_localcloud.sts import patch as sts_patch

pytestmark = pytest.mark.localcloud
STAGE = "222222222222"
HOME = endpoint.ACCOUNT_ID


@pytest.fixture()
def in_account(moto_server: str) -> Callable[[str, str], Any]:
    sts_patch.apply()
    events_patch.apply()
    cloudformation_patch.apply()

    def client(service: str, account: str, region: str = endpoint.REGION) -> Any:
        key = backends.backend("iam", account, endpoint.REGION).create_temp_access_key()
        return boto3.client(service, endpoint_url=moto_server, region_name=region,
                            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key)

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stage_role(in_account: Callable[[str, str], Any], **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"},
                                 "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    name = unique("stage")
    in_account("iam", STAGE).create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return f"arn:aws:iam::{STAGE}:role/{name}"


def refusal(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    return str(refused.value.response["Error"]["Message"])


def test_a_role_that_does_not_exist_cannot_be_assumed(aws, in_account):
    nobody = f"arn:aws:iam::{STAGE}:role/nobody"
    message = refusal(lambda: aws("sts").assume_role(RoleArn=nobody, RoleSessionName="session"))
    assert f"sts:AssumeRole on resource: arn:aws:iam::{STAGE}:role/nobody" in message
    assert f"no such role in account {STAGE}" in message


def test_the_trust_policys_external_id_decides_and_the_credentials_act_in_the_roles_account(aws, in_account):
    role = stage_role(in_account, StringEquals={"sts:ExternalId": "stepdeploy"})
    sts = aws("sts")
    missing = refusal(lambda: sts.assume_role(RoleArn=role, RoleSessionName="session"))
    assert "the request has no sts:ExternalId" in missing
    wrong = refusal(lambda: sts.assume_role(RoleArn=role, RoleSessionName="session", ExternalId="other"))
    assert "sts:ExternalId: 'other' is not 'stepdeploy'" in wrong
    creds = sts.assume_role(RoleArn=role, RoleSessionName="session", ExternalId="stepdeploy")["Credentials"]
    assumed = boto3.client("sts", endpoint_url=aws("sts").meta.endpoint_url, region_name=endpoint.REGION,
                           aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
    assert assumed.get_caller_identity()["Account"] == STAGE


def test_another_account_is_not_trusted(aws, in_account):
    role = stage_role(in_account)
    other = in_account("sts", "333333333333")
    message = refusal(lambda: other.assume_role(RoleArn=role, RoleSessionName="session"))
    assert "does not name account 333333333333" in message
    assert aws("sts").assume_role(RoleArn=role, RoleSessionName="session")["Credentials"]["AccessKeyId"]


def test_a_principal_arn_condition_checks_an_assumed_roles_arn(aws, in_account):
    role = stage_role(in_account, ArnLike={"aws:PrincipalArn": f"arn:aws:iam::{HOME}:role/stepdeploy-*"})
    iam, sts = aws("iam"), aws("sts")
    trust_home = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"}, "Action": "sts:AssumeRole"}]})
    for name in ("stepdeploy-task", "someone-else"):
        iam.create_role(RoleName=f"{name}-{role[-8:]}", AssumeRolePolicyDocument=trust_home)

    def as_role(name: str) -> Any:
        arn = f"arn:aws:iam::{HOME}:role/{name}-{role[-8:]}"
        c = sts.assume_role(RoleArn=arn, RoleSessionName="session")["Credentials"]
        return boto3.client("sts", endpoint_url=sts.meta.endpoint_url, region_name=endpoint.REGION,
                            aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"])

    assert as_role("stepdeploy-task").assume_role(RoleArn=role, RoleSessionName="session")["Credentials"]
    message = refusal(lambda: as_role("someone-else").assume_role(RoleArn=role, RoleSessionName="session"))
    assert "condition ArnLike aws:PrincipalArn" in message


def forwarding(in_account: Callable[..., Any], aws: Callable[[str], Any],
               region: str = endpoint.REGION) -> tuple[str, str]:
    """A rule in the stage account (in ``region``) that forwards its source's events to the home account's
    default bus, and a queue in the home account behind a rule there; returns (source, queue url)."""
    source = unique("stage.src")
    events = in_account("events", STAGE, region)
    rule = unique("forward")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    home_bus = f"arn:aws:events:{endpoint.REGION}:{HOME}:event-bus/default"
    forward_role = f"arn:aws:iam::{STAGE}:role/forward"
    events.put_targets(Rule=rule, Targets=[{"Id": "home", "Arn": home_bus, "RoleArn": forward_role}])
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("home"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    home_rule = unique("home")
    aws("events").put_rule(Name=home_rule, EventPattern=json.dumps({"source": [source], "account": [STAGE]}))
    aws("events").put_targets(Rule=home_rule, Targets=[{"Id": "queue", "Arn": arn}])
    return source, url


def received(aws: Callable[[str], Any], url: str, wait: float = 2.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while True:
        messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages or time.monotonic() > deadline:
            return [json.loads(m["Body"]) for m in messages]
        time.sleep(0.05)


def test_events_reach_another_accounts_bus_only_when_its_policy_allows(aws, in_account):
    source, url = forwarding(in_account, aws)
    stage_events = in_account("events", STAGE)
    aws("events").remove_permission(RemoveAllPermissions=True)
    entry = {"Source": source, "DetailType": "Stack Status Change", "Detail": '{"status": "UPDATE_COMPLETE"}',
             "Resources": [f"arn:aws:cloudformation:{endpoint.REGION}:{STAGE}:stack/sample-x/1"]}
    stage_events.put_events(Entries=[entry])
    assert received(aws, url, wait=0.5) == []
    failure = events_patch.recent_delivery_failures()[-1]
    assert "does not allow account 222222222222 to put events" in failure.error

    aws("events").put_permission(Action="events:PutEvents", Principal=STAGE, StatementId=unique("stage"))
    stage_events.put_events(Entries=[entry])
    [event] = received(aws, url)
    assert event["account"] == STAGE and event["source"] == source  # the event as the stage account put it
    assert event["resources"] == entry["Resources"] and event["detail"] == {"status": "UPDATE_COMPLETE"}
    aws("events").remove_permission(RemoveAllPermissions=True)


def test_a_template_in_another_accounts_bucket_needs_its_bucket_policy(aws, in_account):
    bucket = unique("orchestrator-artifacts")
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    s3.put_object(Bucket=bucket, Key="templates/t.json", Body=template.encode())
    url = f"https://{bucket}.s3.amazonaws.com/templates/t.json"
    cfn = in_account("cloudformation", STAGE)
    with pytest.raises(ClientError, match="TemplateURL must reference a valid S3 object to which you have access"):
        cfn.create_stack(StackName=unique("sample"), TemplateURL=url)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [STAGE]}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/templates/*"}]}))
    stack_id = cfn.create_stack(StackName=unique("sample"), TemplateURL=url)["StackId"]
    assert stack_id.split(":")[4] == STAGE


def test_events_of_a_stage_in_another_region_reach_the_home_bus_in_its_region(aws, in_account):
    source, url = forwarding(in_account, aws, "eu-west-1")
    aws("events").put_permission(Action="events:PutEvents", Principal=STAGE, StatementId=unique("stage"))
    entry = {"Source": source, "DetailType": "Stack Status Change", "Detail": '{"status": "UPDATE_COMPLETE"}',
             "Resources": [f"arn:aws:cloudformation:eu-west-1:{STAGE}:stack/sample-x/1"]}
    in_account("events", STAGE, "eu-west-1").put_events(Entries=[entry])
    [event] = received(aws, url)
    assert (event["account"], event["region"], event["source"]) == (STAGE, "eu-west-1", source)
    assert event["resources"] == entry["Resources"]
    aws("events").remove_permission(RemoveAllPermissions=True)


def test_function_code_is_read_only_from_a_bucket_of_the_functions_region(aws, in_account):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'hi'\n")
    buckets = {region: unique(f"code-{region}") for region in ("us-east-1", "eu-west-1")}
    for region, bucket in buckets.items():
        s3 = in_account("s3", STAGE, region)
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **config)
        s3.put_object(Bucket=bucket, Key="artifacts/app.zip", Body=buffer.getvalue())
    role = in_account("iam", STAGE).create_role(RoleName=unique("fn"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    cfn = in_account("cloudformation", STAGE, "eu-west-1")

    def stack_from(bucket: str) -> dict[str, Any]:
        template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.11", "Handler": "app.handler", "Role": role,
            "Code": {"S3Bucket": bucket, "S3Key": "artifacts/app.zip"}}}}}
        name = unique("sample")
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
        for _ in range(200):
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
            if not stack["StackStatus"].endswith("IN_PROGRESS"):
                return {"status": stack["StackStatus"], "events": cfn.describe_stack_events(StackName=name)}
            time.sleep(0.05)
        raise AssertionError(f"stack {name} did not finish")

    assert stack_from(buckets["eu-west-1"])["status"] == "CREATE_COMPLETE"
    other = stack_from(buckets["us-east-1"])
    assert other["status"] in ("ROLLBACK_COMPLETE", "CREATE_FAILED")
    reasons = " ".join(e.get("ResourceStatusReason", "") for e in other["events"]["StackEvents"])
    assert "PermanentRedirect" in reasons and "The bucket is in this region: us-east-1" in reasons


def test_another_accounts_object_is_read_or_copied_only_when_its_bucket_policy_shares_it(aws, in_account):
    from stepdeploy_localcloud.s3 import patch as s3_patch

    s3_patch.apply()
    bucket = unique("orchestrator-artifacts")
    home = aws("s3")
    home.create_bucket(Bucket=bucket)
    home.put_object(Bucket=bucket, Key="artifacts/code.zip", Body=b"code")
    stage = in_account("s3", STAGE, "eu-west-1")
    copies = unique("stage-code")
    stage.create_bucket(Bucket=copies, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    source = {"Bucket": bucket, "Key": "artifacts/code.zip"}

    def denied(call: Callable[[], Any]) -> None:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] in ("AccessDenied", "403")

    denied(lambda: stage.get_object(**source))
    denied(lambda: stage.copy_object(Bucket=copies, Key="artifacts/code.zip", CopySource=source))
    home.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [STAGE]}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/artifacts/*"}]}))
    assert stage.get_object(**source)["Body"].read() == b"code"
    stage.copy_object(Bucket=copies, Key="artifacts/code.zip", CopySource=source)
    assert stage.get_object(Bucket=copies, Key="artifacts/code.zip")["Body"].read() == b"code"
    home.put_object(Bucket=bucket, Key="builds/other.zip", Body=b"not shared")
    denied(lambda: stage.get_object(Bucket=bucket, Key="builds/other.zip"))  # outside the shared prefix
