"""The hook runner's handler with CodeDeploy and Lambda stubbed (moto in mock mode neither runs a
Python function nor keeps lifecycle hook executions): it runs the hook named in the deployment's
description and reports what the hook did, unless the hook reported itself."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from stepdeploy.ingress import run_hook
from stepdeploy.settings import settings

from .conftest import Context, load_handler

pytestmark = pytest.mark.handler

APPLICATION = "stepdeploy-lambda"
DEPLOYMENT = "d-ABCDEF123"
EXECUTION = "eyJob29rIjoiMSJ9"
EVENT = {"DeploymentId": DEPLOYMENT, "LifecycleEventHookExecutionId": EXECUTION}
DESCRIPTION = (
    "[stepdeploy:0123456789abcdef:Greeter:2] [hooks BeforeAllowTraffic=sample-app-PreTraffic-1 "
    "AfterAllowTraffic=sample-app-PostTraffic-1] sample-app-Greeter-1:live 1 -> 2 (platform/sample-app@abc1234)"
)


class Clients:
    def __init__(self) -> None:
        self.codedeploy = boto3.client("codedeploy", region_name="us-east-1")
        self.awslambda = boto3.client("lambda", region_name="us-east-1")
        self.cd = Stubber(self.codedeploy)
        self.fn = Stubber(self.awslambda)

    def deployment(self, description: str | None = DESCRIPTION, deployment_id: str = DEPLOYMENT,
                   **extra: Any) -> None:
        info: dict[str, Any] = {"deploymentId": deployment_id, "applicationName": APPLICATION, **extra}
        if description is not None:
            info["description"] = description
        self.cd.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": deployment_id})

    def hook(self, function: str, error: str | None = None, body: bytes = b"null") -> None:
        response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
        if error:
            response["FunctionError"] = error
        self.fn.add_response(
            "invoke",
            response,
            {"FunctionName": function, "InvocationType": "RequestResponse", "Payload": json.dumps(EVENT).encode()},
        )

    def report(self, status: str, already: bool = False) -> None:
        params = {"deploymentId": DEPLOYMENT, "lifecycleEventHookExecutionId": EXECUTION, "status": status}
        if already:
            self.cd.add_client_error(
                "put_lifecycle_event_hook_execution_status",
                "LifecycleEventAlreadyCompletedException",
                "The lifecycle event is already completed.",
                expected_params=params,
            )
        else:
            self.cd.add_response(
                "put_lifecycle_event_hook_execution_status", {"lifecycleEventHookExecutionId": EXECUTION}, params
            )


@pytest.fixture()
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("CODEDEPLOY_APPLICATION", APPLICATION)
    monkeypatch.setenv("LIFECYCLE_EVENT", "BeforeAllowTraffic")
    settings.cache_clear()
    stubbed = Clients()
    monkeypatch.setattr(run_hook, "client", lambda service: {"codedeploy": stubbed.codedeploy}[service])
    monkeypatch.setattr(run_hook, "_invoker", lambda read_timeout: stubbed.awslambda)
    with stubbed.cd, stubbed.fn:
        yield stubbed
        stubbed.cd.assert_no_pending_responses()
        stubbed.fn.assert_no_pending_responses()
    settings.cache_clear()


def handle(event: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(load_handler("run_hook").handler(event or dict(EVENT), Context()))


def test_a_hook_that_returns_is_reported_succeeded(clients: Clients) -> None:
    clients.deployment()
    clients.hook("sample-app-PreTraffic-1")
    clients.report("Succeeded")
    outcome = handle()
    assert (outcome["hook"], outcome["status"], outcome["reported_by_hook"]) == (
        "sample-app-PreTraffic-1", "Succeeded", False
    )


def test_a_hook_that_raises_is_reported_failed_with_its_error(clients: Clients) -> None:
    clients.deployment()
    clients.hook("sample-app-PreTraffic-1", error="Unhandled", body=b'{"errorMessage": "smoke test failed"}')
    clients.report("Failed")
    outcome = handle()
    assert outcome["status"] == "Failed"
    assert "smoke test failed" in outcome["reason"]


def test_a_hook_that_times_out_is_reported_failed(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    class Hanging:
        def invoke(self, **kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="http://lambda")

    monkeypatch.setattr(run_hook, "_invoker", lambda read_timeout: Hanging())
    clients.deployment()
    clients.report("Failed")
    outcome = handle()
    assert outcome["status"] == "Failed" and "did not return" in outcome["reason"]


def test_a_self_reporting_hook_keeps_its_own_status(clients: Clients) -> None:
    clients.deployment()
    clients.hook("sample-app-PreTraffic-1")
    clients.report("Succeeded", already=True)
    outcome = handle()
    assert outcome["reported_by_hook"] is True


def test_the_after_allow_traffic_runner_runs_the_after_hook(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_EVENT", "AfterAllowTraffic")
    settings.cache_clear()
    clients.deployment()
    clients.hook("sample-app-PostTraffic-1")
    clients.report("Succeeded")
    assert handle()["hook"] == "sample-app-PostTraffic-1"


def test_a_rollback_deployment_runs_the_hooks_of_the_deployment_it_rolls_back(clients: Clients) -> None:
    clients.deployment(None, "d-ROLLBACK1", rollbackInfo={"rollbackTriggeringDeploymentId": "d-ORIGINAL1"})
    clients.deployment(DESCRIPTION, "d-ORIGINAL1")
    assert run_hook.hook_for("d-ROLLBACK1", "BeforeAllowTraffic") == "sample-app-PreTraffic-1"


def test_a_deployment_without_hooks_in_its_description_is_refused_by_name(clients: Clients) -> None:
    clients.deployment("deployed by hand")
    with pytest.raises(run_hook.HookRunnerError, match=r"d-ABCDEF123: its description names no BeforeAllowTraffic"):
        handle()


def test_another_applications_deployment_is_refused(clients: Clients) -> None:
    clients.cd.add_response(
        "get_deployment",
        {"deploymentInfo": {"deploymentId": DEPLOYMENT, "applicationName": "someone-else", "description": DESCRIPTION}},
        {"deploymentId": DEPLOYMENT},
    )
    with pytest.raises(run_hook.HookRunnerError, match=r"belongs to application 'someone-else'"):
        handle()


def test_an_event_that_is_not_codedeploys_is_refused_by_name(clients: Clients) -> None:
    with pytest.raises(run_hook.HookRunnerError, match=r"DeploymentId and LifecycleEventHookExecutionId"):
        handle({"detail": {}})


def test_the_hooks_token_round_trips_and_refuses_a_bad_name() -> None:
    hooks = {"BeforeAllowTraffic": "app-Pre-1", "AfterAllowTraffic": "app-Post-1"}
    assert run_hook.hooks_in(f"[stepdeploy:ab:Fn:2] {run_hook.hooks_token(hooks)} rest") == hooks
    assert run_hook.hooks_in(f"[stepdeploy:ab:Fn:2] {run_hook.hooks_token({})} rest") == {}
    assert run_hook.hooks_in("[stepdeploy:ab:Fn:2] no hooks here") is None
    with pytest.raises(ValueError, match=r"BeforeAllowTraffic='a b'"):
        run_hook.hooks_token({"BeforeAllowTraffic": "a b"})
