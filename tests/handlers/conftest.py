"""Handlers against moto in this process: the orchestrator's table, bucket, bus and secrets."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from stepdeploy.aws.ledger import create_ledger_table
from stepdeploy_localcloud import patching

if TYPE_CHECKING:
    from stepdeploy_localcloud.ghe.server import LocalGHE

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def load_handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"handler_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


class Context:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30000


@pytest.fixture()
def orchestrator(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": "stepdeploy-table",
        "ARTIFACT_BUCKET": "stepdeploy-artifacts",
        "UPLOAD_PREFIX": "uploads/",
        "EVENT_BUS_NAME": "stepdeploy-events",
        "ALLOWED_REPOSITORIES": "platform/sample-app:sample-*,Codertocat/Hello-World:hello-*",
        "GHE_HOST": "ghe.example.com",
        # A closed loopback port: a GHE call fails at once, and nothing leaves the machine.
        "GHE_API_URL": "http://127.0.0.1:9/api/v3",
        "CODEBUILD_PROJECT": "stepdeploy-build",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POLL_BUDGET_SECONDS": "0",
        "POWERTOOLS_DEV": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from stepdeploy.aws import clients, ledger, secrets
    from stepdeploy.settings import settings

    settings.cache_clear()
    clients.clear_clients()
    ledger.ledger.cache_clear()
    secrets.clear_cache()
    # Handler tests run on moto as it ships, even after a local cloud test in this worker.
    with patching.suspended(), mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_ledger_table(dynamodb, env["TABLE_NAME"])
        boto3.client("s3").create_bucket(Bucket=env["ARTIFACT_BUCKET"])
        boto3.client("events").create_event_bus(Name=env["EVENT_BUS_NAME"])
        sm = boto3.client("secretsmanager")
        webhook = sm.create_secret(Name="webhook", SecretString="It's a Secret to Everybody")["ARN"]
        token = sm.create_secret(Name="ghe-token", SecretString="t0ken")["ARN"]
        monkeypatch.setenv("WEBHOOK_SECRET_ARN", webhook)
        monkeypatch.setenv("GHE_TOKEN_SECRET_ARN", token)
        settings.cache_clear()
        yield env
    settings.cache_clear()
    clients.clear_clients()
    ledger.ledger.cache_clear()


@pytest.fixture()
def ghe(orchestrator: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalGHE]:
    """A local GHE served over HTTP, its API where the orchestrator's settings point."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    from stepdeploy_localcloud.ghe.server import LocalGHE

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    local = LocalGHE(tmp_path / "ghe", "127.0.0.1", token="t0ken")  # the token the orchestrator's secret holds
    app = DispatcherMiddleware(Response("not found", status=404), {"/api/v3": local.api_app})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("GHE_API_URL", f"http://127.0.0.1:{server.server_port}/api/v3")
    from stepdeploy.settings import settings

    settings.cache_clear()
    try:
        yield local
    finally:
        server.shutdown()
        settings.cache_clear()
