"""Ingress on the local cloud: signed HTTP posts to the webhook URL and S3 uploads, through the real template.

Refused requests answer their status and reason and start nothing; a real push starts one execution
with a readable name; a second delivery of it, or an upload outside the layout, starts nothing
(StartDeployment's log says why); an upload by a principal not tagged for the repository is refused
by S3 and starts nothing. One local cloud for the module.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from stepdeploy.ghe.payloads import signature_of
from stepdeploy_cli.demo.runner import commit, git
from stepdeploy_cli.demo.upload_role import upload_client
from stepdeploy_localcloud.cloud import LocalCloud
from stepdeploy_localcloud.ghe.server import encode_body

pytestmark = pytest.mark.e2e
OWNER, REPO = "platform", "sample-app"
ODD_BRANCH = "feature/ünï-$(id);`x`"


@dataclass
class Ingress:
    cloud: LocalCloud
    worktree: Path
    payload: dict[str, Any]
    main_commit: str
    tap_url: str
    uploaders: dict[str, Any] = field(default_factory=dict)

    @property
    def sfn(self) -> Any:
        return self.cloud.client("stepfunctions")

    def execution_names(self) -> list[str]:
        arn = self.cloud.orchestrator.state_machine_arn  # type: ignore[union-attr]
        return [e["name"] for e in self.sfn.list_executions(stateMachineArn=arn)["executions"]]

    def post(self, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, str]:
        response = requests.request(method, self.cloud.webhook_url, data=body, headers=headers, timeout=30)
        return response.status_code, str(response.json().get("message", ""))

    def signed(self, body: bytes, event: str = "push", **extra: str) -> dict[str, str]:
        headers = self.cloud.ghe.headers(body, self.cloud.webhook_secret, event)
        headers.pop("X-Hub-Signature", None)
        return {**headers, **extra}

    def published(self) -> list[dict[str, Any]]:
        """Events the webhook put on the bus since the last call (the bus delivers to the tap in put_events)."""
        sqs = self.cloud.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def upload(self, repository: str, key: str) -> None:
        """Put ``key`` as the upload role of ``repository`` (tagged stepdeploy-upload-repository)."""
        if repository not in self.uploaders:
            self.uploaders[repository] = upload_client(self.cloud.client, repository)
        self.uploaders[repository].put_object(
            Bucket=self.cloud.orchestrator.artifact_bucket,  # type: ignore[union-attr]
            Key=key, Body=b"PK", Metadata={"branch": "main", "commit": self.main_commit})

    def start_deployment_log(self, words: str) -> int:
        """How many StartDeployment log lines contain ``words``."""
        name = self.cloud.orchestrator.resources["StartDeploymentFunction"]  # type: ignore[union-attr]
        logs = self.cloud.client("logs")
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{words}"')
        except logs.exceptions.ResourceNotFoundException:
            return 0
        return sum(words in e["message"] for e in found["events"])


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def ingress() -> Iterator[Ingress]:
    root = Path(tempfile.mkdtemp(prefix="stepdeploy-ingress-"))
    # A stack name of its own: other modules may run a local cloud in this process before or after.
    cloud = LocalCloud(root / "cloud", speed=60, stack_name="stepdeploy-ingress")
    cloud.start()
    try:
        worktree = root / "app"
        worktree.mkdir()
        git(worktree, "init", "-q", "-b", "main")
        main_commit = commit(worktree, "No stepdeploy.yml: every execution is a quick skip", {"README.md": "hi\n"})
        record = cloud.ghe.push(worktree, OWNER, REPO, "main")
        yield Ingress(cloud, worktree, cloud.ghe.push_payload(record), main_commit, bus_tap(cloud))
    finally:
        cloud.stop()
        shutil.rmtree(root, ignore_errors=True)


def bus_tap(cloud: LocalCloud) -> str:
    """An SQS queue that receives every event the webhook puts on the orchestrator's bus."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="ingress-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = cloud.orchestrator.outputs["EventBusName"]  # type: ignore[union-attr]
    events.put_rule(Name="ingress-tap", EventBusName=bus, EventPattern=json.dumps({"source": ["stepdeploy.ghe"]}))
    events.put_targets(Rule="ingress-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    return url


def changed(payload: dict[str, Any], **changes: Any) -> bytes:
    data = copy.deepcopy(payload)
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            data[outer][inner] = value
        else:
            data[key] = value
    return encode_body(data)


CASES: list[tuple[str, int, str, Callable[[Ingress], tuple[bytes, dict[str, str], str]]]] = [
    ("unsigned", 401, "missing X-Hub-Signature-256", lambda i: (
        encode_body(i.payload), {**i.signed(encode_body(i.payload)), "X-Hub-Signature-256": ""}, "POST")),
    ("wrong-secret", 401, "does not match", lambda i: (
        encode_body(i.payload),
        {**i.signed(encode_body(i.payload)), "X-Hub-Signature-256": signature_of(encode_body(i.payload), "nope")},
        "POST")),
    ("get", 405, "only POST", lambda i: (b"", {}, "GET")),
    ("text-plain", 415, "not supported", lambda i: (
        encode_body(i.payload), i.signed(encode_body(i.payload), **{"Content-Type": "text/plain"}), "POST")),
    ("invalid-json", 400, "not valid application/json", lambda i: (b"{nope", i.signed(b"{nope"), "POST")),
    ("other-ghe-host", 403, "not the configured GHE host", lambda i: (
        encode_body(i.payload), i.signed(encode_body(i.payload), **{"X-GitHub-Enterprise-Host": "evil.example"}),
        "POST")),
    ("ref-dot-dot", 400, "contains '..'", lambda i: (
        changed(i.payload, ref="refs/heads/../x"), i.signed(changed(i.payload, ref="refs/heads/../x")), "POST")),
    ("not-allowed", 403, "is not allowed", lambda i: (
        changed(i.payload, repository__full_name="other/repo", repository__clone_url=i.cloud.ghe.clone_url(
            "other", "repo")),
        i.signed(changed(i.payload, repository__full_name="other/repo", repository__clone_url=i.cloud.ghe.clone_url(
            "other", "repo"))),
        "POST")),
    ("tag-push", 202, "is a tag", lambda i: (
        changed(i.payload, ref="refs/tags/v1"), i.signed(changed(i.payload, ref="refs/tags/v1")), "POST")),
    ("ping", 200, "pong", lambda i: (b'{"zen": "Keep it logically awesome."}',
                                     i.signed(b'{"zen": "Keep it logically awesome."}', event="ping"), "POST")),
]


@pytest.mark.parametrize(("case", "status", "reason", "build"), CASES, ids=[c[0] for c in CASES])
def test_refused_requests_start_nothing(ingress, case, status, reason, build):
    before = ingress.execution_names()
    body, headers, method = build(ingress)
    answer = ingress.post(body, headers, method)
    assert answer[0] == status and reason in answer[1], answer
    assert ingress.published() == []  # nothing reached the bus, so nothing can start an execution
    assert ingress.execution_names() == before


def test_a_push_starts_one_named_execution_and_its_second_delivery_starts_nothing(ingress):
    url, secret = ingress.cloud.webhook_url, ingress.cloud.webhook_secret
    status, _, delivery = ingress.cloud.ghe.deliver(url, ingress.payload, secret)
    assert status == 202 and len(ingress.published()) == 1
    prefix = f"sample-app-main-{ingress.main_commit[:7]}-"
    names = wait_until(lambda: [n for n in ingress.execution_names() if n.startswith(prefix)], "the push's execution")
    assert len(names) == 1
    again = ingress.cloud.ghe.deliver(url, ingress.payload, secret, delivery_id=delivery)
    assert again[0] == 200 and "duplicate delivery" in again[1] and ingress.published() == []
    duplicates = ingress.start_deployment_log("duplicate")
    other_hook = ingress.cloud.ghe.deliver(url, ingress.payload, secret)
    assert other_hook[0] == 202 and len(ingress.published()) == 1  # a new delivery id is published...
    # ...and StartDeployment finds an execution of that name
    wait_until(lambda: ingress.start_deployment_log("duplicate") > duplicates, "StartDeployment's duplicate")
    assert [n for n in ingress.execution_names() if n.startswith(prefix)] == names


def test_an_odd_branch_is_pushed_and_named_safely(ingress):
    sha = commit(ingress.worktree, "on an odd branch", {"README.md": "odd\n"})
    status, body, _ = ingress.cloud.push(ingress.worktree, OWNER, REPO, ODD_BRANCH)
    assert status == 202, body
    assert ingress.published()[0]["detail"]["ref"] == f"refs/heads/{ODD_BRANCH}"
    prefix = f"sample-app-feature-uni-id-x-{sha[:7]}-"
    assert wait_until(lambda: [n for n in ingress.execution_names() if n.startswith(prefix)], "the odd branch")


@pytest.mark.parametrize(
    ("key", "repository"),
    [("uploads/platform/sample-app/../../escape.zip", "platform/sample-app"),  # S3 keys are not paths
     ("uploads/other/repo/release.zip", "other/repo")],  # tagged, but not an allow-listed repository
)
def test_uploads_outside_the_layout_start_nothing(ingress, key, repository):
    before = ingress.execution_names()
    refused = ingress.start_deployment_log("trigger refused")
    ingress.upload(repository, key)  # the bucket policy lets the upload role of the repository write it
    wait_until(lambda: ingress.start_deployment_log("trigger refused") > refused, "StartDeployment's refusal")
    assert ingress.execution_names() == before


def test_only_the_repositorys_upload_principal_starts_a_deployment_of_it(ingress):
    """A principal tagged for another repository, or not tagged at all, cannot put an upload under
    uploads/platform/sample-app/: S3 refuses it, so no object is created and no execution starts. The
    upload role tagged for platform/sample-app can, and its upload starts one."""
    bucket = ingress.cloud.orchestrator.artifact_bucket  # type: ignore[union-attr]
    before = ingress.execution_names()
    forgers = {"tagged for platform/other": upload_client(ingress.cloud.client, "platform/other"),
               "untagged (the default credentials)": ingress.cloud.client("s3")}
    for who, forger in forgers.items():
        for key in ("uploads/platform/sample-app/forged.zip", "uploads/platform/x.zip"):
            with pytest.raises(ClientError) as denied:
                forger.put_object(Bucket=bucket, Key=key, Body=b"PK",
                                  Metadata={"branch": "main", "commit": ingress.main_commit, "sha256": "0" * 64})
            assert denied.value.response["Error"]["Code"] == "AccessDenied", who
            assert "with an explicit deny in a resource-based policy" in denied.value.response["Error"]["Message"]
    listed = ingress.cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix="uploads/platform/")
    assert [o["Key"] for o in listed.get("Contents", []) if "forged" in o["Key"] or o["Key"].endswith("/x.zip")] == []

    ingress.upload("platform/sample-app", "uploads/platform/sample-app/release-1.zip")
    started = wait_until(lambda: [n for n in ingress.execution_names() if n not in before], "the upload's execution")
    assert len(started) == 1 and started[0].startswith("sample-app-main-"), started
