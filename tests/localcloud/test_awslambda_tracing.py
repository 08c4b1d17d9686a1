"""Functions traced with powertools run on the local cloud with tracing off, so their logs stay clean.

The local cloud has no X-Ray: a traced handler there made the X-Ray SDK log "Subsegment ... discarded
due to Lambda worker still initializing" on every call (81 % of the local functions' log lines).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.awslambda import patch as lambda_invoke
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]

TRACED = """
from aws_lambda_powertools import Logger, Tracer

logger = Logger(service="probe")
tracer = Tracer(service="probe")


@tracer.capture_method
def work(n):
    logger.info("working", extra={"n": n})
    return n * 2


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event, context):
    import os
    return {"doubled": work(event["n"]), "trace_disabled": os.environ.get("POWERTOOLS_TRACE_DISABLED")}
"""


@pytest.fixture(scope="module")
def role(moto_server: str) -> Iterator[str]:
    lambda_invoke.apply()
    saved_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = moto_server.rsplit(":", 1)[1]
    iam = boto3.client("iam", endpoint_url=moto_server, region_name=endpoint.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="lambda-tracing-test-role", AssumeRolePolicyDocument="{}")
    yield iam.get_role(RoleName="lambda-tracing-test-role")["Role"]["Arn"]
    lambda_runtime.shutdown()
    if saved_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = saved_port


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def powertools_layer(role: str, moto_server: str) -> str:
    """A layer with the orchestrator's packages (`make layer-site`): a function sees only its code and layers."""
    site = subprocess.run(["make", "--no-print-directory", "-s", "-C", str(ROOT), "layer-site-path"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["make", "--no-print-directory", "-s", "-C", str(ROOT), "layer-site"], check=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(Path(site).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, f"python/{path.relative_to(site).as_posix()}")
    client = boto3.client("lambda", endpoint_url=moto_server, region_name=endpoint.REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    published = client.publish_layer_version(LayerName="powertools-for-tracing-test",
                                             Content={"ZipFile": buffer.getvalue()})
    return str(published["LayerVersionArn"])


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


def _messages(
    aws: Aws, name: str, environment: dict[str, str] | None, role: str, layer: str
) -> tuple[dict[str, Any], list[str]]:
    aws("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": _zip(TRACED)},
        Layers=[layer],
        TracingConfig={"Mode": "Active"}, Environment={"Variables": environment or {}},
    )
    answers = []
    for n in (1, 2, 3):
        response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
        assert "FunctionError" not in response
        answers.append(json.loads(response["Payload"].read()))
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    return answers[-1], [event["message"] for event in events]


def test_a_traced_function_logs_no_discarded_subsegments(aws: Aws, role: str, powertools_layer: str) -> None:
    answer, messages = _messages(aws, f"traced-{uuid.uuid4().hex[:8]}", None, role, powertools_layer)
    assert answer == {"doubled": 6, "trace_disabled": "true"}
    assert any('"working"' in message for message in messages), messages  # its own lines are there
    discarded = [message for message in messages if "discarded" in message.lower()]
    assert not discarded, discarded


def test_the_function_may_turn_tracing_on_and_then_the_sdk_speaks(aws: Aws, role: str, powertools_layer: str) -> None:
    """The default is the local cloud's, not a filter on the logs: a function that asks for tracing gets it."""
    answer, messages = _messages(
        aws, f"traced-{uuid.uuid4().hex[:8]}", {"POWERTOOLS_TRACE_DISABLED": "false"}, role, powertools_layer
    )
    assert answer == {"doubled": 6, "trace_disabled": "false"}
    assert any("discarded" in message.lower() for message in messages)
