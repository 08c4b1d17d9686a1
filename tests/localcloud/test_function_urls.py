"""Function URLs per qualifier and ListFunctionUrlConfigs (``awslambda/function_urls.py``), through boto3."""

from __future__ import annotations

import contextlib
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from werkzeug.test import Client

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.awslambda import function_urls
from stepdeploy_localcloud.awslambda import patch as lambda_invoke
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from tests.localcloud.conftest import configure_moto, free_port

pytestmark = pytest.mark.localcloud

CODE = "import os\n\ndef handler(event, context):\n    return {'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}\n"


@pytest.fixture(scope="module")
def lam() -> Iterator[Any]:
    """A Lambda client on a moto server started after the adapter (moto builds its routes at the first
    request, and the ListFunctionUrlConfigs route is the adapter's)."""
    configure_moto()
    function_urls.apply()
    lambda_invoke.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    previous = endpoint.endpoint_url() if endpoint.is_running() else None
    endpoint.set_endpoint_url(url)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name=endpoint.REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    yield client
    lambda_runtime.shutdown()
    server.stop()
    if previous:
        endpoint.set_endpoint_url(previous)


@pytest.fixture()
def function(lam: Callable[[str], Any]) -> dict[str, Any]:
    """A function with version 1, alias live on it and alias beta on $LATEST."""
    iam = lam("iam")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="urls-test", AssumeRolePolicyDocument="{}")
    role = iam.get_role(RoleName="urls-test")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", CODE)
    client = lam("lambda")
    name = f"urls-{uuid.uuid4().hex[:8]}"
    arn = client.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                                 Code={"ZipFile": buffer.getvalue()})["FunctionArn"]
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.create_alias(FunctionName=name, Name="beta", FunctionVersion="$LATEST")
    return {"name": name, "arn": arn, "lambda": client}


def test_each_qualifier_has_its_own_url(function: dict[str, Any]) -> None:
    client, name, arn = function["lambda"], function["name"], function["arn"]
    live = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    own = client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors={"AllowOrigins": ["*"]})
    assert live["FunctionArn"] == f"{arn}:live" and own["FunctionArn"] == arn
    assert live["FunctionUrl"] != own["FunctionUrl"]
    assert client.get_function_url_config(FunctionName=name, Qualifier="live")["AuthType"] == "NONE"
    assert client.get_function_url_config(FunctionName=f"{arn}:live")["FunctionUrl"] == live["FunctionUrl"]
    assert client.get_function_url_config(FunctionName=name)["Cors"] == {"AllowOrigins": ["*"]}

    updated = client.update_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionArn"] == f"{arn}:live"
    assert client.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"

    client.delete_function_url_config(FunctionName=name, Qualifier="live")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_function_url_config(FunctionName=name, Qualifier="live")
    assert client.get_function_url_config(FunctionName=name)["FunctionUrl"] == own["FunctionUrl"]


def test_bad_qualifiers_and_duplicates_fail_as_on_aws(function: dict[str, Any]) -> None:
    client, name, arn = function["lambda"], function["name"], function["arn"]
    client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    with pytest.raises(ClientError, match=f"ResourceConflictException.*{arn}:live"):
        client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    with pytest.raises(ClientError, match="ValidationException.*alias name, not a version"):
        client.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")
    with pytest.raises(ClientError, match=f"ResourceNotFoundException.*{arn}:nope"):
        client.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_function_url_config(FunctionName=name)  # the function's own URL was never made
    client.delete_alias(FunctionName=name, Name="live")  # its URL goes with it
    assert client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_list_function_url_configs_pages_every_qualifier(function: dict[str, Any]) -> None:
    client, name, arn = function["lambda"], function["name"], function["arn"]
    assert client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    client.create_function_url_config(
        FunctionName=name, Qualifier="beta", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )

    everything = client.list_function_url_configs(FunctionName=name)
    assert "NextMarker" not in everything
    configs = everything["FunctionUrlConfigs"]
    assert [c["FunctionArn"] for c in configs] == [arn, f"{arn}:live", f"{arn}:beta"]
    assert set(configs[0]) == {"FunctionUrl", "FunctionArn", "CreationTime", "LastModifiedTime", "AuthType",
                               "InvokeMode"}
    assert configs[2]["InvokeMode"] == "RESPONSE_STREAM"

    first = client.list_function_url_configs(FunctionName=name, MaxItems=2)
    assert len(first["FunctionUrlConfigs"]) == 2 and first["NextMarker"]
    rest = client.list_function_url_configs(FunctionName=name, MaxItems=2, Marker=first["NextMarker"])
    assert rest["FunctionUrlConfigs"] == configs[2:] and "NextMarker" not in rest
    paginated = client.get_paginator("list_function_url_configs").paginate(FunctionName=arn, MaxItems=1)
    assert [c for page in paginated for c in page["FunctionUrlConfigs"]] == configs

    with pytest.raises(ClientError, match="InvalidParameterValueException.*MaxItems"):
        client.list_function_url_configs(FunctionName=name, MaxItems=51)
    with pytest.raises(ClientError, match="InvalidParameterValueException.*Marker"):
        client.list_function_url_configs(FunctionName=name, Marker="bogus")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.list_function_url_configs(FunctionName="no-such-function")


def test_the_local_url_front_invokes_the_qualifier_its_path_names(function: dict[str, Any]) -> None:
    from stepdeploy_localcloud.server import LocalServer

    client, name = function["lambda"], function["name"]
    client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    front = Client(LocalServer())
    assert front.get(f"/_aws/lambda-url/{name}/").json == {"version": "1"}  # its only URL, on live
    client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert front.get(f"/_aws/lambda-url/{name}/").json == {"version": "$LATEST"}
    assert front.get(f"/_aws/lambda-url/{name}:live/").json == {"version": "1"}
    missing = front.get(f"/_aws/lambda-url/{name}:beta/")
    assert missing.status_code == 404 and "<name>:<alias>" in missing.json["Message"]
