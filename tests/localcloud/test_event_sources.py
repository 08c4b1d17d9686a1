"""Traffic through event sources reaches what they name: API Gateway integrations (REST, HTTP API),
an SQS event source mapping on an alias, schedules fired by the test."""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from werkzeug.test import Client

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.apigateway import invoke as execute_api
from stepdeploy_localcloud.awslambda import event_sources, function_urls
from stepdeploy_localcloud.awslambda import patch as lambda_invoke
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.events import patch as events_patch
from stepdeploy_localcloud.events.schedules import fire_rule, fire_schedule

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]
CODE = """
import json, os

def handler(event, context):
    version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    if "Records" in event:
        with open(os.environ["SEEN"], "a") as seen:
            for record in event["Records"]:
                seen.write(version + "\\n")
        return {}
    if event.get("from"):
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(version + "\\n")
    if "requestContext" in event:
        path = event.get("rawPath") or event["path"]
        body = {"version": version, "path": path, "params": event.get("pathParameters")}
        return {"statusCode": 200, "body": json.dumps(body)}
    return {"version": version}
"""


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def role(moto_server: str) -> Iterator[str]:
    lambda_invoke.apply()
    event_sources.apply()
    events_patch.apply()
    iam = boto3.client("iam", endpoint_url=moto_server, region_name=endpoint.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="event-sources-test", AssumeRolePolicyDocument="{}")
    yield iam.get_role(RoleName="event-sources-test")["Role"]["Arn"]
    lambda_runtime.shutdown()


@pytest.fixture()
def aliased(aws: Aws, role: str, tmp_path: Any) -> dict[str, Any]:
    """A function with versions 1 and 2 (different code) and alias live on 1, with 2 weighted 0.5."""
    lam = aws("lambda")
    name = f"src-{uuid.uuid4().hex[:8]}"
    seen = tmp_path / "seen.txt"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": zipped(CODE)}, Environment={"Variables": {"SEEN": str(seen)}})
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=zipped(CODE + "\n# v2\n"))
    lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return {"name": name, "alias_arn": alias["AliasArn"], "seen": seen, "lambda": lam}


def weight(lam: Any, name: str, share: float) -> None:
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": share}})


def seen_versions(path: Any) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:{endpoint.REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def test_http_api_requests_reach_the_alias_the_integration_names(aws: Aws, aliased: dict[str, Any]) -> None:
    v2 = aws("apigatewayv2")
    api = v2.create_api(Name="http", ProtocolType="HTTP")
    integration = v2.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY",
                                        IntegrationUri=uri(aliased["alias_arn"]), PayloadFormatVersion="2.0")
    target = f"integrations/{integration['IntegrationId']}"
    v2.create_route(ApiId=api["ApiId"], RouteKey="GET /items/{id}", Target=target)
    v2.create_stage(ApiId=api["ApiId"], StageName="$default")
    client = Client(execute_api.wsgi_app)
    answer = client.get(f"/_aws/execute-api/{api['ApiId']}/items/42")
    assert answer.status_code == 200 and answer.json == {"version": "1", "path": "/items/42", "params": {"id": "42"}}

    weight(aliased["lambda"], aliased["name"], 1.0)  # every request to version 2, through the same integration
    assert client.get(f"/_aws/execute-api/{api['ApiId']}/items/7").json["version"] == "2"
    assert client.get(f"/_aws/execute-api/{api['ApiId']}/nothing").status_code == 404


def test_rest_api_requests_reach_the_integration_by_stage_and_path(aws: Aws, aliased: dict[str, Any]) -> None:
    gw = aws("apigateway")
    api = gw.create_rest_api(name="rest")
    root = gw.get_resources(restApiId=api["id"])["items"][0]["id"]
    resource = gw.create_resource(restApiId=api["id"], parentId=root, pathPart="hello")
    gw.put_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=uri(aliased["alias_arn"]))
    deployment = gw.create_deployment(restApiId=api["id"], stageName="Prod")
    assert deployment["id"]
    client = Client(execute_api.wsgi_app)
    weight(aliased["lambda"], aliased["name"], 0.5)
    answers = Counter(client.get(f"/_aws/execute-api/{api['id']}/Prod/hello").json["version"] for _ in range(60))
    assert set(answers) == {"1", "2"}, answers  # both versions serve: the weights are drawn per request
    assert client.get(f"/_aws/execute-api/{api['id']}/Beta/hello").status_code == 404


def test_an_sqs_mapping_on_an_alias_follows_the_alias(aws: Aws, aliased: dict[str, Any]) -> None:
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = aliased["lambda"].create_event_source_mapping(
        EventSourceArn=arn, FunctionName=aliased["alias_arn"], BatchSize=1
    )
    assert mapping["FunctionArn"] == aliased["alias_arn"]
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    weight(aliased["lambda"], aliased["name"], 1.0)  # moto kept version 1 here, whatever the alias did next
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    assert seen_versions(aliased["seen"]) == Counter({"1": 1, "2": 1})


def test_a_schedule_fires_when_told_and_invokes_its_target(aws: Aws, aliased: dict[str, Any]) -> None:
    scheduler = aws("scheduler")
    scheduler.create_schedule(
        Name="every-hour", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": aliased["alias_arn"], "RoleArn": "arn:aws:iam::123456789012:role/s", "Input": '{"from": "s"}'},
    )
    weight(aliased["lambda"], aliased["name"], 1.0)
    result = fire_schedule("every-hour")
    assert result.executed_version == "2" and json.loads(result.payload) == {"version": "2"}


def test_a_schedule_rule_fires_its_targets(aws: Aws, aliased: dict[str, Any]) -> None:
    events = aws("events")
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "fn", "Arn": aliased["alias_arn"], "Input": '{"from": "r"}'}])
    assert fire_rule("nightly") == 1
    for _ in range(200):  # Lambda targets are invoked asynchronously, as EventBridge does
        if seen_versions(aliased["seen"]):
            break
        time.sleep(0.05)
    assert seen_versions(aliased["seen"]) == Counter({"1": 1})
    events.put_rule(Name="on-event", EventPattern='{"source": ["x"]}')
    with pytest.raises(ValueError, match="no ScheduleExpression"):
        fire_rule("on-event")


def test_a_function_url_invokes_its_qualifier(aws: Aws, aliased: dict[str, Any]) -> None:
    from stepdeploy_localcloud.server import LocalServer

    function_urls.apply()
    aliased["lambda"].create_function_url_config(FunctionName=aliased["name"], Qualifier="live", AuthType="NONE")
    client = Client(LocalServer())
    weight(aliased["lambda"], aliased["name"], 1.0)
    answer = client.get(f"/_aws/lambda-url/{aliased['name']}/hi")
    assert answer.status_code == 200 and answer.json["version"] == "2"
    assert client.get("/_aws/lambda-url/no-such-function/").status_code == 404
