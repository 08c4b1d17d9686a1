"""The lambda_invoke adapter: Invoke runs the real handler, as AWS Lambda would."""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import io
import json
import os
import statistics
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.awslambda import binaries, runtimes
from stepdeploy_localcloud.awslambda import patch as lambda_invoke
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]

HANDLERS = {
    "app.py": """
import os, time

class BuildFailed(Exception):
    pass

class Flaky(Exception):
    pass

def env(event, context):
    print("env handler got", event)
    names = ["GREETING", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
             "AWS_ACCESS_KEY_ID", "_HANDLER", "LAMBDA_TASK_ROOT", "PYTHONUNBUFFERED"]
    return {
        "event": event,
        "env": {name: os.environ.get(name) for name in names},
        "cwd": os.getcwd(),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }

def build(event, context):
    if event.get("fail"):
        raise BuildFailed("compile error in " + event["fail"])
    return {"built": True}

def flaky(event, context):
    path = os.environ["COUNTER_FILE"]
    count = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as handle:
        handle.write(str(count + 1))
    if count < int(event.get("failures", 1)):
        raise Flaky(f"attempt {count + 1} failed")
    return {"attempts": count + 1, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}

def sleepy(event, context):
    print("going to sleep")
    time.sleep(float(event.get("seconds", 30)))
    return {"slept": event.get("seconds")}

def version(event, context):
    return os.environ["AWS_LAMBDA_FUNCTION_VERSION"]

def store(event, context):
    import boto3
    boto3.client("s3").put_object(Bucket=event["bucket"], Key=event["key"], Body=b"from lambda")
    return "stored"

def layered(event, context):
    import shared_helper
    return shared_helper.shout(event["word"])

def powertools(event, context):
    from aws_lambda_powertools import Logger
    logger = Logger(service="probe")

    @logger.inject_lambda_context
    def inner(event, context):
        logger.info("inside")
        return {"keys": sorted(logger.get_current_keys())}

    return inner(event, context)
""",
    "pkg/__init__.py": "",
    "pkg/nested.py": "def handler(event, context):\n    return {'nested': event}\n",
}


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


APP_ZIP = make_zip(HANDLERS)


@pytest.fixture(scope="module")
def cloud(moto_server: str) -> Iterator[str]:
    """The adapter applied, an execution role, and moto's SFN interpreter pointed at this server."""
    lambda_invoke.apply()
    saved_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = moto_server.rsplit(":", 1)[1]
    iam = boto3.client(
        "iam",
        endpoint_url=moto_server,
        region_name=endpoint.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role_name = "lambda-invoke-test-role"
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")
    yield iam.get_role(RoleName=role_name)["Role"]["Arn"]
    lambda_runtime.shutdown()
    lambda_runtime.clear_faults()
    if saved_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = saved_port


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(
    aws: Aws, role: str, handler: str, *, name: str | None = None, zip_bytes: bytes = APP_ZIP, **extra: Any
) -> str:
    name = name or unique(handler.split(".")[-1])
    aws("lambda").create_function(
        FunctionName=name,
        Role=role,
        Handler=handler,
        Code={"ZipFile": zip_bytes},
        **{"Runtime": "python3.11", **extra},
    )
    return name


def call(aws: Aws, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    payload = json.dumps(event if event is not None else {}).encode()
    response = aws("lambda").invoke(FunctionName=name, Payload=payload, **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def no_retry_lambda(moto_server: str) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=moto_server,
        region_name=endpoint.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_invoke_runs_the_real_handler_with_its_environment_and_context(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.env", MemorySize=256, Timeout=7, Environment={"Variables": {"GREETING": "hello"}})
    client = aws("lambda")
    timings = []
    for _ in range(11):
        started = time.perf_counter()
        response = client.invoke(FunctionName=name, Payload=b'{"n": 1}')
        body = json.loads(response["Payload"].read())
        timings.append(time.perf_counter() - started)
    print(f"\nworker cold start {timings[0] * 1000:.1f} ms, warm median {statistics.median(timings[1:]) * 1000:.1f} ms")

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"n": 1}
    assert body["env"] == {
        "GREETING": "hello",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint.endpoint_url(),
        "AWS_ACCESS_KEY_ID": "testing",
        "_HANDLER": "app.env",
        "LAMBDA_TASK_ROOT": body["cwd"],
        "PYTHONUNBUFFERED": "1",
    }
    context = body["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 5000 < context["remaining"] <= 7000
    assert len({context["aws_request_id"]}) == 1 and len(context["aws_request_id"]) == 36
    assert lambda_runtime.worker_count(name) == 1  # sequential invokes reuse one warm worker


def test_handler_in_a_package_and_log_tail(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "pkg/nested.handler")
    response, body = call(aws, name, {"x": 2}, LogType="Tail")
    assert body == {"nested": {"x": 2}}
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail


def test_exception_becomes_unhandled_function_error(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.build")
    response, body = call(aws, name, {"fail": "main.c"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "BuildFailed"
    assert body["errorMessage"] == "compile error in main.c"
    assert any("raise BuildFailed" in frame for frame in body["stackTrace"])
    # the worker survives a handled exception
    assert call(aws, name, {})[1] == {"built": True}


def test_import_error_and_missing_handler_are_named_as_aws_names_them(aws: Aws, cloud: str) -> None:
    response, body = call(aws, create(aws, cloud, "nowhere.handler"))
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'nowhere'" in body["errorMessage"]
    _, body = call(aws, create(aws, cloud, "app.missing"))
    assert body["errorType"] == "Runtime.HandlerNotFound"


def test_unknown_function_version_or_alias_is_resource_not_found(aws: Aws, cloud: str) -> None:
    client = aws("lambda")
    name = create(aws, cloud, "app.version")
    for function, qualifier in (("no-such-function", None), (name, "42"), (name, "no-such-alias")):
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=function, Payload=b"{}", **kwargs)
        error = caught.value.response["Error"]
        assert error["Code"] == "ResourceNotFoundException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        suffix = f":{qualifier}" if qualifier else ""
        assert error["Message"] == (
            f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{function}{suffix}"
        )


def test_qualifiers_versions_aliases_arns_and_code_updates(aws: Aws, cloud: str) -> None:
    client = aws("lambda")
    name = create(aws, cloud, "app.version")
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    cases = [
        ({"FunctionName": name}, "$LATEST"),
        ({"FunctionName": name, "Qualifier": "$LATEST"}, "$LATEST"),
        ({"FunctionName": name, "Qualifier": "1"}, "1"),
        ({"FunctionName": name, "Qualifier": "live"}, "1"),
        ({"FunctionName": f"{name}:live"}, "1"),
        ({"FunctionName": arn}, "$LATEST"),
        ({"FunctionName": f"{arn}:1"}, "1"),
        ({"FunctionName": f"{arn}:live"}, "1"),
        ({"FunctionName": f"123456789012:function:{name}:live"}, "1"),
    ]
    for kwargs, version in cases:
        response = client.invoke(Payload=b"{}", **kwargs)
        assert response["ExecutedVersion"] == version, kwargs
        assert json.loads(response["Payload"].read()) == version, kwargs

    new_code = make_zip({"app.py": "def version(event, context):\n    return 'new code'\n"})
    client.update_function_code(FunctionName=name, ZipFile=new_code)
    assert call(aws, name)[1] == "new code"
    assert call(aws, name, Qualifier="live")[1] == "1"


def test_code_from_s3_and_a_layer_on_the_python_path(aws: Aws, cloud: str) -> None:
    s3 = aws("s3")
    bucket = unique("lambda-code")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="app.zip", Body=APP_ZIP)
    layer_zip = make_zip({"python/shared_helper.py": "def shout(word):\n    return word.upper() + '!'\n"})
    layer = aws("lambda").publish_layer_version(LayerName=unique("helpers"), Content={"ZipFile": layer_zip})
    name = unique("layered")
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=cloud,
        Handler="app.layered",
        Code={"S3Bucket": bucket, "S3Key": "app.zip"},
        Layers=[layer["LayerVersionArn"]],
    )
    assert call(aws, name, {"word": "hi"})[1] == "HI!"


def test_function_created_by_cloudformation_runs(aws: Aws, cloud: str) -> None:
    stack = unique("fn-stack")
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": stack,
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": cloud,
                    "Code": {"ZipFile": "def handler(event, context):\n    return {'cfn': event}\n"},
                },
            }
        }
    }
    aws("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    assert call(aws, stack, {"a": 1})[1] == {"cfn": {"a": 1}}


def test_timeout_kills_the_worker_and_reports_sandbox_timedout(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.sleepy", Timeout=1)
    started = time.monotonic()
    response, body = call(aws, name, {"seconds": 30})
    assert 1.0 <= time.monotonic() - started < 3.0
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert lambda_runtime.worker_count(name) == 0
    assert call(aws, name, {"seconds": 0})[1] == {"slept": 0}  # a fresh worker


def test_output_goes_to_cloudwatch_logs(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.build")
    call(aws, name, {"fail": "boom.c"})
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    messages = [event["message"] for event in events]
    assert any(message.startswith("START RequestId:") for message in messages)
    assert "[ERROR] BuildFailed: compile error in boom.c" in messages
    assert any("Traceback" in message for message in messages)


def test_alias_routing_weights_pick_versions(aws: Aws, cloud: str) -> None:
    client = aws("lambda")
    name = create(aws, cloud, "app.version")
    client.publish_version(FunctionName=name)
    client.update_function_configuration(FunctionName=name, Description="v2")
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    for _ in range(10):  # through the API: ExecutedVersion tells which version answered
        response = client.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
        assert json.loads(response["Payload"].read()) == response["ExecutedVersion"]
    executed = []
    for _ in range(200):
        result = lambda_runtime.invoke(name, b"{}", "live")
        assert json.loads(result.payload) == result.executed_version
        executed.append(result.executed_version)
    assert set(executed) == {"1", "2"}
    assert 60 <= executed.count("2") <= 140


def test_invocations_put_aws_lambda_metrics(aws: Aws, cloud: str) -> None:
    client = aws("lambda")
    name = create(aws, cloud, "app.build")
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    call(aws, name, {}, Qualifier="live")
    call(aws, name, {"fail": "x.c"}, Qualifier="live")
    call(aws, name, {})

    cloudwatch = aws("cloudwatch")
    now = datetime.now(UTC)
    window = {"StartTime": now - timedelta(minutes=5), "EndTime": now + timedelta(minutes=5), "Period": 600}

    def exact(metric: str, dimensions: list[dict[str, str]]) -> float:
        # GetMetricData matches dimension sets exactly, as AWS does
        result = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions},
                        "Period": 600,
                        "Stat": "Sum",
                    },
                }
            ],
            StartTime=window["StartTime"],
            EndTime=window["EndTime"],
        )
        return sum(result["MetricDataResults"][0]["Values"])

    by_name = [{"Name": "FunctionName", "Value": name}]
    by_alias = [*by_name, {"Name": "Resource", "Value": f"{name}:live"}]
    by_version = [*by_alias, {"Name": "ExecutedVersion", "Value": "1"}]
    assert exact("Invocations", by_name) == 3
    assert exact("Errors", by_name) == 1
    assert exact("Invocations", by_alias) == 2
    assert exact("Errors", by_alias) == 1
    assert exact("Invocations", by_version) == 2
    assert exact("Errors", by_version) == 1
    assert exact("Duration", by_version) > 0
    listed = cloudwatch.list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=[{"Name": "FunctionName", "Value": name}]
    )["Metrics"]
    assert {tuple(sorted(d["Name"] for d in metric["Dimensions"])) for metric in listed} == {
        ("ExecutedVersion", "FunctionName", "Resource"),
        ("FunctionName",),
        ("FunctionName", "Resource"),
    }


def test_event_invocation_returns_202_and_runs_in_the_background(aws: Aws, cloud: str) -> None:
    bucket = unique("async-out")
    aws("s3").create_bucket(Bucket=bucket)
    name = create(aws, cloud, "app.store")
    response = aws("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"bucket": bucket, "key": "k"}).encode()
    )
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            body = aws("s3").get_object(Bucket=bucket, Key="k")["Body"].read()
            break
        except ClientError:
            time.sleep(0.05)
    else:
        pytest.fail("the async invocation never wrote its object")
    assert body == b"from lambda"


def test_moto_internal_callers_reach_the_handler_too(aws: Aws, cloud: str) -> None:
    # SNS -> Lambda goes through moto's LambdaFunction.invoke, not the Invoke API.
    bucket = unique("sns-out")
    aws("s3").create_bucket(Bucket=bucket)
    zip_bytes = make_zip(
        {
            "app.py": HANDLERS["app.py"]
            + "\ndef from_sns(event, context):\n"
            + "    import json\n"
            + "    message = json.loads(event['Records'][0]['Sns']['Message'])\n"
            + "    return store(message, context)\n"
        }
    )
    name = create(aws, cloud, "app.from_sns", zip_bytes=zip_bytes)
    topic = aws("sns").create_topic(Name=unique("topic"))["TopicArn"]
    function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    aws("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)
    aws("sns").publish(TopicArn=topic, Message=json.dumps({"bucket": bucket, "key": "sns"}))
    assert aws("s3").get_object(Bucket=bucket, Key="sns")["Body"].read() == b"from lambda"


def test_concurrent_invocations_get_more_workers_up_to_the_bound(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.sleepy")
    results: list[Any] = []

    def one() -> None:
        results.append(call(aws, name, {"seconds": 0.6})[1])

    threads = [threading.Thread(target=one) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert results == [{"slept": 0.6}] * 6
    assert lambda_runtime.worker_count(name) == lambda_runtime.MAX_WORKERS_PER_VERSION
    assert 1.2 <= elapsed < 3.0  # four at once, then two more


def test_injected_faults(aws: Aws, cloud: str, moto_server: str) -> None:
    client = no_retry_lambda(moto_server)
    name = create(aws, cloud, "app.build", Timeout=1)
    try:
        lambda_runtime.inject_fault(name, "throttle")
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=name, Payload=b"{}")
        assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

        lambda_runtime.inject_fault(name, "service_error")
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=name, Payload=b"{}")
        assert caught.value.response["Error"]["Code"] == "ServiceException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

        lambda_runtime.inject_fault(name, "unhandled", times=2)
        for _ in range(2):
            response, body = call(aws, name)
            assert response["FunctionError"] == "Unhandled" and body["errorType"] == "InjectedFault"

        lambda_runtime.inject_fault(name, "timeout")
        response, body = call(aws, name)
        assert body["errorType"] == "Sandbox.Timedout"

        assert call(aws, name)[1] == {"built": True}
        lambda_runtime.inject_fault(name, "unhandled", times=5)
        lambda_runtime.clear_faults()
        assert call(aws, name)[1] == {"built": True}
        with pytest.raises(ValueError, match="fault kind must be one of"):
            lambda_runtime.inject_fault(name, "gremlins")  # type: ignore[arg-type]
    finally:
        lambda_runtime.clear_faults()


def _distribution_layer(*names: str) -> bytes:
    """A layer zip (python/...) holding installed distributions, as `pip install -t python/` lays them out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            distribution = importlib.metadata.distribution(name)
            for file in distribution.files or []:
                source = Path(str(distribution.locate_file(file)))
                if file.parts[0] != ".." and "__pycache__" not in file.parts and source.is_file():
                    archive.write(source, f"python/{file.as_posix()}")
    return buffer.getvalue()


def test_powertools_inject_lambda_context_works_with_the_context(aws: Aws, cloud: str) -> None:
    # Powertools is not part of the Lambda runtime: without a layer carrying it, the import fails, as on AWS.
    response, body = call(aws, create(aws, cloud, "app.powertools"))
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ModuleNotFoundError"
    assert body["errorMessage"] == "No module named 'aws_lambda_powertools'"
    layer = aws("lambda").publish_layer_version(
        LayerName=unique("powertools"),
        Content={"ZipFile": _distribution_layer("aws-lambda-powertools", "typing-extensions")},
    )
    response, body = call(aws, create(aws, cloud, "app.powertools", Layers=[layer["LayerVersionArn"]]))
    assert "FunctionError" not in response, body
    assert {"function_name", "function_arn", "function_request_id"} <= set(body["keys"])


ISOLATION_PROBE = make_zip(
    {
        "probe.py": """
import sys

def handler(event, context):
    import boto3, botocore
    found = {}
    for name in event["imports"]:
        try:
            __import__(name)
            found[name] = "imported"
        except ImportError as exc:
            found[name] = f"{type(exc).__name__}: {exc}"
    return {"found": found, "path": sys.path, "boto3": boto3.__file__, "botocore": botocore.__version__,
            "version": "%d.%d" % sys.version_info[:2], "executable": sys.executable}
""",
        "forgot.py": "import yaml\n\ndef handler(event, context):\n    return yaml.safe_dump(event)\n",
    }
)


def test_a_function_sees_only_its_code_its_layers_and_the_runtime_boto3(aws: Aws, cloud: str) -> None:
    # The local cloud's own packages (moto, yaml, pydantic, requests...) are all installed where it runs.
    name = create(aws, cloud, "probe.handler", zip_bytes=ISOLATION_PROBE)
    imports = ["yaml", "pydantic", "requests", "moto", "stepdeploy_localcloud", "json"]
    response, body = call(aws, name, {"imports": imports})
    assert "FunctionError" not in response, body
    assert body["found"]["json"] == "imported"
    for package in ("yaml", "pydantic", "requests", "moto", "stepdeploy_localcloud"):
        assert body["found"][package] == f"ModuleNotFoundError: No module named '{package}'", body["found"]
    assert body["botocore"] == importlib.metadata.version("botocore")  # the pinned copy the runtime provides
    assert "site-packages" not in body["boto3"] and body["path"][-1] == str(Path(body["boto3"]).parent.parent)
    assert not [p for p in body["path"] if "site-packages" in p]
    assert body["version"] == "3.11"


def test_an_import_the_requirements_forget_fails_as_on_aws(aws: Aws, cloud: str) -> None:
    response, body = call(aws, create(aws, cloud, "forgot.handler", zip_bytes=ISOLATION_PROBE), {"a": 1})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'forgot': No module named 'yaml'"


def test_a_runtime_the_machine_lacks_fails_naming_it_and_how_to_provide_it(aws: Aws, cloud: str) -> None:
    runtimes.configure("python3.11", "/nonexistent/python3.11")
    try:
        response, body = call(aws, create(aws, cloud, "app.version"))
    finally:
        runtimes.clear_configuration()
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidRuntime"
    configured = "runtime python3.11: the configured interpreter /nonexistent/python3.11 is nothing that runs"
    assert configured in body["errorMessage"]
    assert "--runtime python3.11=/path/to/interpreter" in body["errorMessage"]
    assert "STEPDEPLOY_RUNTIME_PYTHON3_11" in body["errorMessage"]
    node_major = _node_major()
    other = "nodejs18.x" if node_major != "18" else "nodejs22.x"
    response, body = call(aws, create(aws, cloud, "index.handler", zip_bytes=NODE_ZIP, Runtime=other))
    assert body["errorType"] == "Runtime.InvalidRuntime"
    needs = f"runtime {other}: needs Node.js {other[6:8]}, node on PATH is {node_major}."
    assert body["errorMessage"].startswith(needs)
    assert f"--runtime {other}=" in body["errorMessage"]


def _node_major() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout[1:].split(".")[0]


def _elf(machine: int) -> bytes:
    """The first bytes of a 64-bit little-endian ELF shared object for ``machine`` (62 x86_64, 183 aarch64)."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + (3).to_bytes(2, "little")
    return header + machine.to_bytes(2, "little") + b"\x00" * 44


def test_a_package_built_for_another_machine_fails_saying_so(aws: Aws, cloud: str) -> None:
    host = 183 if binaries.HOST_MACHINE == "x86_64" else 62
    other = binaries.ELF_MACHINES[host]
    code = make_zip({"app.py": "import native\n\ndef handler(event, context):\n    return 1\n"})
    arm = io.BytesIO(code)
    with zipfile.ZipFile(arm, "a") as archive:
        archive.writestr("native/__init__.py", "from native._core import x\n")
        archive.writestr(f"native/_core.cpython-311-{other}-linux-gnu.so", _elf(host))
    response, body = call(aws, create(aws, cloud, "app.handler", zip_bytes=arm.getvalue()))
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert f"native/_core.cpython-311-{other}-linux-gnu.so is built for {other}" in body["errorMessage"]
    assert f"this machine runs {binaries.HOST_MACHINE}" in body["errorMessage"]
    layer_zip = make_zip({})
    layer = io.BytesIO(layer_zip)
    with zipfile.ZipFile(layer, "a") as archive:
        archive.writestr("python/pydantic_core/__init__.py", "")
        native = f"python/pydantic_core/_pydantic_core.cpython-312-{binaries.HOST_MACHINE}-linux-gnu.so"
        archive.writestr(native, _elf(62 if binaries.HOST_MACHINE == "x86_64" else 183))
    arn = aws("lambda").publish_layer_version(LayerName=unique("py312"), Content={"ZipFile": layer.getvalue()})
    response, body = call(aws, create(aws, cloud, "app.version", Layers=[arn["LayerVersionArn"]]))
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "_pydantic_core.cpython-312" in body["errorMessage"]
    assert "is built for Python 3.12, and the function runs on Python 3.11" in body["errorMessage"]


POWERTOOLS_PUBLIC = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"


def test_a_layer_arn_the_local_cloud_lacks_fails_naming_it(aws: Aws, cloud: str, tmp_path: Path) -> None:
    with pytest.raises(ClientError) as caught:
        create(aws, cloud, "app.layered", Layers=[POWERTOOLS_PUBLIC])
    message = caught.value.response["Error"]["Message"]
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert POWERTOOLS_PUBLIC in message and f"stepdeploy local up --layer {POWERTOOLS_PUBLIC}=PATH" in message
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "shared_helper.py").write_text("def shout(word):\n    return word.upper() + '?'\n")
    lambda_runtime.provide_layer(POWERTOOLS_PUBLIC, tmp_path)
    try:
        name = create(aws, cloud, "app.layered", Layers=[POWERTOOLS_PUBLIC])
        assert call(aws, name, {"word": "opt"})[1] == "OPT?"
    finally:
        lambda_runtime.clear_provided_layers()
    response, body = call(aws, name, {"word": "opt"})  # no longer provided: named at invocation too
    assert body["errorType"] == "ResourceNotFoundException" and POWERTOOLS_PUBLIC in body["errorMessage"]
    with pytest.raises(ValueError, match="expected a layer version ARN"):
        lambda_runtime.provide_layer("AWSLambdaPowertoolsPythonV3", tmp_path)


NODE_ZIP = make_zip(
    {
        "index.js": """
const helper = require("greeting");
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  return { greeting: helper.greet(event.name), fn: context.functionName, node: process.version,
           remaining: context.getRemainingTimeInMillis() > 0, region: process.env.AWS_REGION };
};
""",
        "callback.js": """
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { doubled: event.n * 2, requestId: context.awsRequestId }), 10);
};
""",
        "failing.mjs": """
class BuildFailed extends Error { constructor(m) { super(m); this.name = "BuildFailed"; } }
export const handler = async (event) => { throw new BuildFailed("compile error in " + event.file); };
""",
        "lib/nested.js": "module.exports.handlers = { main: (event, context, cb) => cb('plain string') };\n",
        "needs_sdk.js": "const { S3Client } = require('@aws-sdk/client-s3');\nexports.handler = async () => 1;\n",
    }
)
NODE_LAYER = make_zip({"nodejs/node_modules/greeting/index.js": "exports.greet = (n) => `hello ${n}`;\n"})


def test_a_nodejs_function_runs_on_node(aws: Aws, cloud: str) -> None:
    node_major = _node_major()
    runtime = f"nodejs{node_major}.x"
    layer = aws("lambda").publish_layer_version(LayerName=unique("greeting"), Content={"ZipFile": NODE_LAYER})
    layers = [layer["LayerVersionArn"]]
    name = create(aws, cloud, "index.handler", zip_bytes=NODE_ZIP, Runtime=runtime, Layers=layers)
    response, body = call(aws, name, {"name": "node"}, LogType="Tail")
    assert "FunctionError" not in response, body
    assert body == {"greeting": "hello node", "fn": name, "node": f"v{body['node'][1:]}", "remaining": True,
                    "region": "us-east-1"}
    assert body["node"].startswith(f"v{node_major}.")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert '\tINFO\tnode got {"name":"node"}' in tail

    _, body = call(aws, create(aws, cloud, "callback.handler", zip_bytes=NODE_ZIP, Runtime=runtime), {"n": 21})
    assert body["doubled"] == 42 and len(body["requestId"]) == 36

    failing = create(aws, cloud, "failing.handler", zip_bytes=NODE_ZIP, Runtime=runtime)
    response, body = call(aws, failing, {"file": "a.ts"})
    assert response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("BuildFailed", "compile error in a.ts")
    assert body["trace"][0] == "BuildFailed: compile error in a.ts"

    _, body = call(aws, create(aws, cloud, "lib/nested.handlers.main", zip_bytes=NODE_ZIP, Runtime=runtime))
    assert body == {"errorType": "string", "errorMessage": "plain string", "trace": []}

    _, body = call(aws, create(aws, cloud, "callback.missing", zip_bytes=NODE_ZIP, Runtime=runtime))
    assert body["errorType"] == "Runtime.HandlerNotFound"
    _, body = call(aws, create(aws, cloud, "index.handler", zip_bytes=NODE_ZIP, Runtime=runtime))  # no layer
    assert body["errorType"] == "Runtime.ImportModuleError" and "Cannot find module 'greeting'" in body["errorMessage"]
    _, body = call(aws, create(aws, cloud, "needs_sdk.handler", zip_bytes=NODE_ZIP, Runtime=runtime))
    assert body["errorType"] == "Runtime.ImportModuleError" and "@aws-sdk/client-s3" in body["errorMessage"]


def test_inprocess_mode_has_the_same_semantics(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.env", Environment={"Variables": {"GREETING": "in-process"}})
    failing = create(aws, cloud, "app.build")
    sleepy = create(aws, cloud, "app.sleepy", Timeout=1)
    lambda_runtime.set_mode("inprocess")
    try:
        _, body = call(aws, name, {"n": 2})
        assert body["env"]["GREETING"] == "in-process"
        assert body["env"]["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert body["context"]["function_name"] == name
        assert os.environ.get("GREETING") is None  # restored after the call
        response, body = call(aws, failing, {"fail": "a.c"})
        assert response["FunctionError"] == "Unhandled" and body["errorType"] == "BuildFailed"
        response, body = call(aws, sleepy, {"seconds": 2})
        assert body["errorType"] == "Sandbox.Timedout"
        assert lambda_runtime.worker_count(name) == 0
    finally:
        lambda_runtime.set_mode("worker")
    with pytest.raises(ValueError, match="mode must be one of"):
        lambda_runtime.set_mode("docker")


def test_mock_aws_mode_invokes_the_handler_too(cloud: str) -> None:
    # Neither reset on start nor data removal on stop: the session's server shares these backends.
    mock = mock_aws(config={"lambda": {"use_docker": False}})
    mock.start(reset=False)
    try:
        client = boto3.client("lambda", region_name="us-east-1")
        name = unique("mocked")
        client.create_function(
            FunctionName=name, Runtime="python3.11", Role=cloud, Handler="app.build", Code={"ZipFile": APP_ZIP}
        )
        response = client.invoke(FunctionName=name, Payload=b'{"fail": "m.c"}')
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read())["errorType"] == "BuildFailed"
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=name, Qualifier="nope", Payload=b"{}")
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        mock.stop(remove_data=False)
    result = lambda_runtime.invoke(name, b"{}")
    assert (result.status_code, json.loads(result.payload), result.function_error) == (200, {"built": True}, None)


def run_state_machine(aws: Aws, definition: dict[str, Any], event: dict[str, Any]) -> tuple[dict, list]:
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("lambda-errors"), definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(event))["executionArn"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described, sfn.get_execution_history(executionArn=execution)["events"]
        time.sleep(0.05)
    pytest.fail("the execution did not finish")


def test_step_functions_catch_and_retry_match_handler_exception_names(aws: Aws, cloud: str, tmp_path: Any) -> None:
    flaky = create(aws, cloud, "app.flaky", Environment={"Variables": {"COUNTER_FILE": str(tmp_path / "n")}})
    build = create(aws, cloud, "app.build")
    build_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{build}"
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": flaky, "Payload": {"failures": 1}},
                "ResultSelector": {"attempts.$": "$.Payload.attempts"},
                "ResultPath": "$.flaky",
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
                "Next": "Build",
            },
            "Build": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": build, "Payload": {"fail.$": "$.fail"}},
                "Catch": [{"ErrorEquals": ["BuildFailed"], "ResultPath": "$.error", "Next": "PlainArn"}],
                "Next": "Unreachable",
            },
            "PlainArn": {
                "Type": "Task",
                "Resource": build_arn,
                "Parameters": {"fail.$": "$.fail"},
                "Catch": [{"ErrorEquals": ["BuildFailed"], "ResultPath": "$.plain_error", "Next": "Done"}],
                "Next": "Unreachable",
            },
            "Unreachable": {"Type": "Fail", "Error": "Unreachable"},
            "Done": {"Type": "Succeed"},
        },
    }
    described, history = run_state_machine(aws, definition, {"fail": "kernel.c"})
    assert described["status"] == "SUCCEEDED", history[-1]
    output = json.loads(described["output"])
    assert output["flaky"] == {"attempts": 2}
    for key in ("error", "plain_error"):
        assert output[key]["Error"] == "BuildFailed"
        cause = json.loads(output[key]["Cause"])
        assert cause["errorType"] == "BuildFailed"
        assert cause["errorMessage"] == "compile error in kernel.c"
    failures = [e for e in history if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    errors = [e.get("taskFailedEventDetails", e.get("lambdaFunctionFailedEventDetails"))["error"] for e in failures]
    assert errors == ["Flaky", "BuildFailed", "BuildFailed"]


def test_step_functions_name_throttles_and_service_errors_as_aws(aws: Aws, cloud: str) -> None:
    name = create(aws, cloud, "app.build")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    catch_all = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}]
    for resource, parameters in (("arn:aws:states:::lambda:invoke", {"FunctionName": name}), (arn, {})):
        for kind, error in (
            ("throttle", "Lambda.TooManyRequestsException"),
            ("service_error", "Lambda.ServiceException"),
        ):
            definition = {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": resource,
                        "Parameters": parameters,
                        "Catch": catch_all,
                        "End": True,
                    },
                    "Done": {"Type": "Succeed"},
                },
            }
            if not parameters:
                del definition["States"]["Call"]["Parameters"]
            lambda_runtime.inject_fault(name, kind)  # type: ignore[arg-type]
            try:
                described, _ = run_state_machine(aws, definition, {})
            finally:
                lambda_runtime.clear_faults()
            assert json.loads(described["output"])["error"]["Error"] == error, (resource, kind)


GATED = make_zip({"gated.py": """import os
import time


def handler(event, context):
    gate = event.get("gate")
    if gate:
        open(event["started"], "w").close()
        while not os.path.exists(gate):
            time.sleep(0.02)
    return {"ok": True}
"""})


def test_a_task_timeout_does_not_count_the_wait_for_a_busy_local_worker(aws: Aws, cloud: str, tmp_path: Any) -> None:
    # AWS runs a task's Lambda at once; here a version has a few workers. A task whose request waits
    # for one longer than its TimeoutSeconds must still run, not fail with States.Timeout.
    from stepdeploy_localcloud.stepfunctions import patch as stepfunctions

    stepfunctions.apply()
    name = create(aws, cloud, "gated.handler", zip_bytes=GATED)
    gate = tmp_path / "gate"
    busy = lambda_runtime.MAX_WORKERS_PER_VERSION
    started = [tmp_path / f"started-{n}" for n in range(busy)]
    blockers = [
        threading.Thread(target=lambda_runtime.invoke, daemon=True,
                         args=(name, json.dumps({"gate": str(gate), "started": str(path)}).encode()))
        for path in started
    ]
    for blocker in blockers:
        blocker.start()
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in started):  # every worker of the version is busy
        assert time.monotonic() < deadline, "the blocking invocations never started"
        time.sleep(0.02)
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": name, "Payload": {}}, "TimeoutSeconds": 1, "End": True}},
    }
    releaser = threading.Timer(3.0, gate.touch)  # the task's request waits three times its timeout
    releaser.start()
    try:
        described, history = run_state_machine(aws, definition, {})
    finally:
        gate.touch()
        releaser.cancel()
        for blocker in blockers:
            blocker.join(30)
    assert described["status"] == "SUCCEEDED", history[-1]
    assert json.loads(described["output"])["Payload"] == {"ok": True}
