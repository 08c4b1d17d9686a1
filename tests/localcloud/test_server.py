"""The local cloud's HTTP front: moto, the webhook function URL and the GHE API on one port."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.ghe.server import LocalGHE, PushRecord, sign
from stepdeploy_localcloud.server import LocalServer, _default_invoke

pytestmark = pytest.mark.localcloud


@pytest.fixture(scope="module")
def running() -> Iterator[LocalServer]:
    with pytest.MonkeyPatch.context() as mp:
        # other test modules share the process-wide endpoint: give it back when done
        mp.setattr(endpoint, "_endpoint_url", endpoint._endpoint_url)
        server = LocalServer(port=0)
        server.start()
        yield server
        server.stop()


@pytest.fixture()
def server(running: LocalServer) -> Iterator[LocalServer]:
    yield running
    running.set_webhook_function(None)
    running.set_ghe(None)
    running.invoke = _default_invoke


class FakeLambda:
    """Stands in for lambda_runtime.invoke: records the events, answers with a canned result."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.result = result
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, function_name: str, event: dict[str, Any]) -> Any:
        self.calls.append((function_name, event))
        if self.error:
            raise self.error
        return self.result


def s3(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_start_sets_the_endpoint_url(server: LocalServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port != 0
    assert endpoint.endpoint_url() == server.url


def test_boto3_reaches_moto_through_the_front(server: LocalServer) -> None:
    client = s3(server.url)
    client.create_bucket(Bucket="front-door-bucket")
    # a bucket named like a front route is still S3's: the request is SigV4-signed
    client.create_bucket(Bucket="webhook")
    client.put_object(Bucket="webhook", Key="k", Body=b"v")
    names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert {"front-door-bucket", "webhook"} <= names
    assert client.get_object(Bucket="webhook", Key="k")["Body"].read() == b"v"
    config = requests.get(f"{server.url}/moto-api/config", timeout=10)
    assert config.ok and "lambda" in config.json()


def test_a_service_the_local_cloud_does_not_emulate_answers_a_json_error(server: LocalServer) -> None:
    connection = {"endpoint_url": server.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                  "aws_secret_access_key": "testing", "config": Config(retries={"total_max_attempts": 1})}
    with pytest.raises(ClientError) as caught:  # `sam list endpoints` asks Cloud Control
        boto3.client("cloudcontrol", **connection).list_resources(TypeName="AWS::Lambda::Function")
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Code"] == "NotImplementedByLocalCloud"
    assert error["Message"].startswith("The local cloud does not emulate cloudcontrolapi ListResources (")
    with pytest.raises(ClientError) as caught:  # an emulated service, an action moto has no route for
        boto3.client("lambda", **connection).get_runtime_management_config(FunctionName="f")
    error = caught.value.response["Error"]
    assert error["Code"] == "NotImplementedByLocalCloud"
    assert "lambda GET /2021-07-20/functions/f/runtime-management-config" in error["Message"]
    s3(server.url).create_bucket(Bucket="still-served")  # what moto emulates is untouched
    with pytest.raises(ClientError) as caught:
        s3(server.url).get_object(Bucket="still-served", Key="missing")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as caught:  # a HEAD's 404 has no body: it is S3's answer, kept
        s3(server.url).head_object(Bucket="still-served", Key="missing")
    assert caught.value.response["Error"]["Code"] == "404"


def test_webhook_without_a_function_is_503(server: LocalServer) -> None:
    response = requests.post(f"{server.url}/webhook", data=b"{}", timeout=10)
    assert response.status_code == 503
    assert "no webhook function" in response.json()["Message"]


def test_webhook_hands_the_raw_request_to_the_lambda(server: LocalServer) -> None:
    fake = FakeLambda(
        {
            "statusCode": 202,
            "headers": {"X-Delivery-Seen": "yes"},
            "body": "accepted",
            "cookies": ["a=1", "b=2"],
        }
    )
    server.invoke = fake
    server.set_webhook_function("stepdeploy-webhook")
    body = b'{"zen":"Favor focus over features.","hook_id":1}'
    response = requests.post(
        f"{server.url}/webhook?x=1&x=2",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-Hub-Signature-256": sign(body, "s"),
            "User-Agent": "GitHub-Hookshot/abc",
        },
        timeout=10,
    )
    assert response.status_code == 202
    assert response.text == "accepted"
    assert response.headers["X-Delivery-Seen"] == "yes"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]

    ((name, event),) = fake.calls
    assert name == "stepdeploy-webhook"
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert all(key == key.lower() for key in event["headers"])
    assert event["headers"]["x-github-event"] == "ping"
    assert event["headers"]["x-hub-signature-256"] == sign(body, "s")
    assert event["rawPath"] == "/"
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    context = event["requestContext"]
    assert context["accountId"] == "anonymous"
    assert context["http"] == {
        "method": "POST",
        "path": "/",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "GitHub-Hookshot/abc",
    }
    assert context["domainName"].endswith(".lambda-url.us-east-1.on.aws")
    assert isinstance(context["timeEpoch"], int) and context["requestId"]


def test_webhook_form_body_arrives_base64_encoded(server: LocalServer) -> None:
    fake = FakeLambda({"statusCode": 200})
    server.invoke = fake
    server.set_webhook_function("hook")
    body = b"payload=%7B%22a%22%3A1%7D"
    response = requests.post(
        f"{server.url}/webhook",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200 and response.content == b""
    event = fake.calls[0][1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_webhook_plain_value_becomes_a_200_json_response(server: LocalServer) -> None:
    server.invoke = FakeLambda({"message": "hello"})
    server.set_webhook_function("hook")
    response = requests.post(f"{server.url}/webhook", json={}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": "hello"}


def test_webhook_base64_response_body_is_decoded(server: LocalServer) -> None:
    server.invoke = FakeLambda(
        {
            "statusCode": 200,
            "isBase64Encoded": True,
            "body": base64.b64encode(b"\x00\x01").decode(),
            "headers": {"Content-Type": "application/octet-stream"},
        }
    )
    server.set_webhook_function("hook")
    response = requests.post(f"{server.url}/webhook", json={}, timeout=10)
    assert response.content == b"\x00\x01"


@pytest.mark.parametrize(
    "fake",
    [
        FakeLambda(error=RuntimeError("handler crashed")),
        FakeLambda(
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": b'{"errorType":"KeyError","errorMessage":"x"}',
            }
        ),
        FakeLambda({"statusCode": "teapot"}),
    ],
    ids=["invoke-raises", "function-error", "bad-status-code"],
)
def test_webhook_lambda_failure_is_502(server: LocalServer, fake: FakeLambda) -> None:
    server.invoke = fake
    server.set_webhook_function("hook")
    response = requests.post(f"{server.url}/webhook", json={}, timeout=10)
    assert response.status_code == 502
    assert response.json() == {"Message": "Internal Server Error"}


def test_webhook_accepts_a_boto3_shaped_invoke_result(server: LocalServer) -> None:
    server.invoke = FakeLambda({"StatusCode": 200, "Payload": b'{"statusCode": 201, "body": "made"}'})
    server.set_webhook_function("hook")
    response = requests.post(f"{server.url}/webhook", json={}, timeout=10)
    assert (response.status_code, response.text) == (201, "made")


def test_webhook_understands_lambda_runtime_invoke_results(server: LocalServer) -> None:
    from stepdeploy_localcloud.awslambda.runtime import InvokeResult

    ok = InvokeResult(200, b'{"statusCode": 204}', None, "$LATEST", "")
    server.invoke = FakeLambda(ok)
    server.set_webhook_function("hook")
    assert requests.post(f"{server.url}/webhook", json={}, timeout=10).status_code == 204
    failed = InvokeResult(200, b'{"errorType": "ValueError", "errorMessage": "bad"}', "Unhandled", "$LATEST", "")
    server.invoke = FakeLambda(failed)
    assert requests.post(f"{server.url}/webhook", json={}, timeout=10).status_code == 502


def test_default_invoker_sends_the_event_as_json_bytes(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

    seen: list[tuple[str, bytes]] = []

    def fake_invoke(function: str, payload: bytes, *args: Any, **kwargs: Any) -> Any:
        seen.append((function, payload))
        return lambda_runtime.InvokeResult(200, b'"ok"', None, "$LATEST", "")

    monkeypatch.setattr(lambda_runtime, "invoke", fake_invoke)
    server.set_webhook_function("stepdeploy-webhook")
    response = requests.post(f"{server.url}/webhook", data=b'{"a":1}', timeout=10)
    assert (response.status_code, response.json()) == (200, "ok")
    ((name, payload),) = seen
    assert name == "stepdeploy-webhook" and json.loads(payload)["body"] == '{"a":1}'


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def ghe_push(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalGHE, PushRecord]:
    """A local GHE on the server's host with acme/app pushed, attached to the server."""
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "Dev One")
        monkeypatch.setenv(f"{var}_EMAIL", "dev@example.test")
    wt = tmp_path / "wt"
    wt.mkdir()
    git(wt, "init", "-q", "-b", "main")
    (wt / "template.yaml").write_text("Resources: {}\n")
    git(wt, "add", ".")
    git(wt, "commit", "-q", "-m", "init")
    ghe = LocalGHE(tmp_path / "ghe", server.url.removeprefix("http://"), token="tok")
    record = ghe.push(wt, "acme", "app", "main")
    server.set_ghe(ghe)
    return ghe, record


def test_api_v3_is_routed_to_the_local_ghe(server: LocalServer, ghe_push: tuple[LocalGHE, PushRecord]) -> None:
    ghe, record = ghe_push
    base = f"{server.url}/api/v3/repos/acme/app"
    response = requests.get(f"{base}/contents/template.yaml", headers={"Authorization": "token tok"}, timeout=10)
    assert response.status_code == 200
    assert base64.b64decode(response.json()["content"]) == b"Resources: {}\n"
    assert requests.get(f"{base}/commits/main", timeout=10).status_code == 401
    created = requests.post(
        f"{base}/statuses/main",
        json={"state": "success", "context": "c"},
        headers={"Authorization": "Bearer tok"},
        timeout=10,
    )
    assert created.status_code == 201
    assert created.json()["url"].startswith(f"{server.url}/api/v3/repos/acme/app/statuses/")
    assert [s["state"] for s in ghe.statuses("acme", "app", record.after)] == ["success"]


def test_api_v3_without_a_ghe_is_503(server: LocalServer) -> None:
    assert requests.get(f"{server.url}/api/v3/repos/acme/app", timeout=10).status_code == 503


def test_ghe_delivery_through_the_front_reaches_the_lambda_intact(
    server: LocalServer, ghe_push: tuple[LocalGHE, PushRecord]
) -> None:
    ghe, record = ghe_push

    def webhook_lambda(function_name: str, event: dict[str, Any]) -> dict[str, Any]:
        raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        ok = event["headers"]["x-hub-signature-256"] == sign(raw, "hook-secret")
        return {
            "statusCode": 202 if ok else 401,
            "body": json.dumps({"ref": json.loads(raw)["ref"], "delivery": event["headers"]["x-github-delivery"]}),
        }

    server.invoke = webhook_lambda
    server.set_webhook_function("webhook")
    payload = ghe.push_payload(record)
    status, text, delivery = ghe.deliver(server.webhook_url, payload, "hook-secret")
    assert status == 202
    assert json.loads(text) == {"ref": "refs/heads/main", "delivery": delivery}
    status, _, _ = ghe.deliver(server.webhook_url, payload, "wrong-secret")
    assert status == 401


def test_a_failure_inside_the_aws_api_answers_as_aws_with_a_request_id(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(environ: Any, start_response: Any) -> Any:
        raise AttributeError("'OperationModel' object has no attribute 'http_trait'")

    monkeypatch.setattr(server, "_moto_app", broken)
    client = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.invoke(FunctionName="any", Payload=b"{}")
    response = raised.value.response
    # what the ASL interpreter's Lambda task reads: it becomes Lambda.ServiceException, which Retry handles
    assert response["Error"]["Code"] == "ServiceException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["ResponseMetadata"]["RequestId"]
    assert "http_trait" in response["Error"]["Message"]


# --- /_stepdeploy/faults -----------------------------------------------------------------------


@pytest.fixture()
def function_arn(server: LocalServer) -> Iterator[str]:
    import contextlib
    import io
    import uuid
    import zipfile

    from stepdeploy_localcloud.awslambda import runtime

    connection = {"endpoint_url": server.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                  "aws_secret_access_key": "testing"}
    iam = boto3.client("iam", **connection)
    with contextlib.suppress(botocore.exceptions.ClientError):
        iam.create_role(RoleName="faults-test-role", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    created = boto3.client("lambda", **connection).create_function(
        FunctionName=f"faulty-{uuid.uuid4().hex[:8]}", Runtime="python3.11", Handler="app.handler",
        Role=iam.get_role(RoleName="faults-test-role")["Role"]["Arn"], Code={"ZipFile": code.getvalue()})
    runtime.clear_faults()
    yield created["FunctionArn"]
    runtime.clear_faults()


def test_faults_are_queued_listed_and_cleared_over_http(server: LocalServer, function_arn: str) -> None:
    from stepdeploy_localcloud.awslambda import runtime

    url = f"{server.url}/_stepdeploy/faults"
    name = function_arn.rsplit(":", 1)[-1]
    fault = {"function": name, "error_type": "ChangeSetFailed", "times": 2}
    queued = requests.post(url, json=fault, timeout=10)
    assert queued.status_code == 201, queued.text
    assert queued.json()["function"] == name and queued.json()["times"] == 2
    by_arn = requests.post(url, json={"function": function_arn, "kind": "service_error"}, timeout=10)
    assert by_arn.status_code == 201 and by_arn.json()["function"] == name
    expected = [("unhandled", "ChangeSetFailed"), ("unhandled", "ChangeSetFailed"), ("service_error", "InjectedFault")]
    assert runtime.pending_faults() == {name: expected}
    listed = requests.get(url, timeout=10).json()["faults"]
    assert [f["kind"] for f in listed[name]] == ["unhandled", "unhandled", "service_error"]

    cleared = requests.delete(url, timeout=10)
    assert cleared.json()["cleared"] == 3
    assert requests.get(url, timeout=10).json() == {"faults": {}} and runtime.pending_faults() == {}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"function": "no-such-function"}, 404, "no Lambda function 'no-such-function'; expected one of:"),
        ({"function": "{name}", "kind": "explode"}, 400,
         "kind must be one of throttle, service_error, timeout, unhandled, got 'explode'"),
        ({"function": "{name}", "times": 0}, 400, "times must be a whole number of at least 1, got 0"),
        ({"function": "{name}", "kind": "throttle", "error_type": "X"}, 400, "error_type applies to kind unhandled"),
        ({"function": "{name}", "count": 2}, 400, "unknown field(s) count"),
        ({"kind": "throttle"}, 400, "function must be a Lambda function name or ARN"),
        (["{name}"], 400, "expected a JSON object"),
    ],
)
def test_a_bad_fault_request_says_what_was_wrong(
    server: LocalServer, function_arn: str, body: Any, status: int, says: str
) -> None:
    from stepdeploy_localcloud.awslambda import runtime

    name = function_arn.rsplit(":", 1)[-1]
    text = json.dumps(body).replace("{name}", name)
    answer = requests.post(f"{server.url}/_stepdeploy/faults", data=text, timeout=10)
    assert answer.status_code == status
    assert says in answer.json()["message"]
    if status == 404:
        assert name in answer.json()["message"]  # the functions it does have
    assert runtime.pending_faults() == {}
    not_json = requests.post(f"{server.url}/_stepdeploy/faults", data=b"{", timeout=10)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["message"]
    assert requests.put(f"{server.url}/_stepdeploy/faults", timeout=10).status_code == 405


def test_a_mounted_app_gets_its_prefix_and_signed_requests_still_reach_moto(server: LocalServer) -> None:
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"mounted"]

    server.mount("/dashboard", app)
    assert requests.get(f"{server.url}/dashboard/api/overview", timeout=10).text == "mounted"
    assert seen == [("/dashboard", "/api/overview")]
    assert requests.get(f"{server.url}/dashboardx", timeout=10).text != "mounted"  # a prefix, not a start
    s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x")
    s3.create_bucket(Bucket="dashboard")  # path-style, signed: moto's
    assert "dashboard" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ValueError, match="/webhook"):
        server.mount("/webhook", app)
