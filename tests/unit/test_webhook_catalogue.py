"""A catalogue of bad and odd webhook requests, each refused with its status and reason.

Every case runs through the real webhook handler against moto, then every event that reached the
bus is handed to StartDeployment (what the EventBridge rule does) with a state machine behind it:
each case asserts the status, the reason, that nothing was published and that no execution started.
Control tests show the same path does publish and start for a real push (so "nothing" means
something). Property-based tests (hypothesis) cover the signature check and the request parsing.
"""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from stepdeploy.aws.ledger import create_ledger_table
from stepdeploy.ghe.payloads import (
    WebhookRejected,
    parse_push,
    payload_from_body,
    ref_problem,
    signature_of,
    verify_signature,
)
from stepdeploy.ingress import start_deployment, webhook
from stepdeploy.ingress.naming import NAME_PATTERN
from stepdeploy_localcloud import patching

from ..handlers.conftest import Context, load_event, load_handler

SECRET = "It's a Secret to Everybody"  # the moto fixture's webhook secret
BUS = "stepdeploy-events"
BASE_EVENT = load_event("webhook")
BASE_PAYLOAD: dict[str, Any] = json.loads(BASE_EVENT["body"])
COMMIT = BASE_PAYLOAD["after"]
WAIT_MACHINE = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})


# --- building requests -------------------------------------------------------------------------
def payload(**changes: Any) -> dict[str, Any]:
    """The sample push with changes; ``repository__clone_url=...`` reaches into nested objects, None removes."""
    data = copy.deepcopy(BASE_PAYLOAD)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = data
        for parent in parents:
            target = target[parent]
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return data


def request(
    body: bytes | str | dict[str, Any] | None = None,
    *,
    sign: bool = True,
    secret: str = SECRET,
    method: str = "POST",
    b64: bool = False,
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A function URL event: the sample push unless ``body`` is given, signed unless ``sign`` is False."""
    event = copy.deepcopy(BASE_EVENT)
    if body is None:
        body = BASE_PAYLOAD
    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
    event["headers"]["x-github-delivery"] = str(uuid4())
    event["headers"].pop("x-hub-signature-256")
    if sign:
        event["headers"]["x-hub-signature-256"] = signature_of(raw, secret)
    event["headers"].update(headers or {})
    for name in drop:
        event["headers"].pop(name, None)
    event["requestContext"]["http"]["method"] = method
    event["isBase64Encoded"] = b64
    event["body"] = base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "surrogateescape")
    return event


def fresh_commit() -> str:
    """A commit id no other test uses: tests share one moto account, and names dedupe per commit."""
    return uuid4().hex + uuid4().hex[:8]


def form(data: dict[str, Any] | list[tuple[str, str]]) -> bytes:
    pairs = list(data.items()) if isinstance(data, dict) else data
    return urlencode([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in pairs]).encode()


FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Case:
    id: str
    status: int
    reason: str
    make: Callable[[], dict[str, Any]]


CATALOGUE: list[Case] = [
    # transport and signature: refused before anything in the body is read
    Case("get-method", 405, "only POST", lambda: request(method="GET")),
    Case("no-signature", 401, "missing X-Hub-Signature-256", lambda: request(sign=False)),
    Case("sha1-only", 401, "missing X-Hub-Signature-256", lambda: request(
        sign=False, headers={"x-hub-signature": "sha1=" + "0" * 40})),
    Case("sha1-prefix", 401, "sha256=", lambda: request(
        sign=False, headers={"x-hub-signature-256": "sha1=" + "a" * 40})),
    Case("no-prefix", 401, "sha256=", lambda: request(
        sign=False, headers={"x-hub-signature-256": signature_of(json.dumps(BASE_PAYLOAD).encode(), SECRET)[7:]})),
    Case("upper-case-hex", 401, "lower-case", lambda: request(
        sign=False, headers={"x-hub-signature-256": signature_of(json.dumps(BASE_PAYLOAD).encode(), SECRET).upper()})),
    Case("truncated-signature", 401, "64 lower-case", lambda: request(
        sign=False, headers={"x-hub-signature-256": signature_of(json.dumps(BASE_PAYLOAD).encode(), SECRET)[:-1]})),
    Case("padded-signature", 401, "64 lower-case", lambda: request(
        sign=False, headers={"x-hub-signature-256": signature_of(json.dumps(BASE_PAYLOAD).encode(), SECRET) + " "})),
    Case("wrong-secret", 401, "does not match", lambda: request(secret="not the secret")),
    Case("body-changed-after-signing", 401, "does not match", lambda: {
        **request(), "body": json.dumps(payload(after="b" * 40))}),
    Case("empty-body-unsigned", 401, "missing X-Hub-Signature-256", lambda: request(b"", sign=False)),
    Case("base64-signed-other-body", 401, "does not match", lambda: {
        **request(b64=True), "body": base64.b64encode(json.dumps(payload(ref="refs/heads/x")).encode()).decode()}),
    Case("bad-base64", 400, "not valid base64", lambda: {**request(b64=True), "body": "%%%not-base64%%%"}),
    Case("over-25-mb", 413, "25 MB", lambda: request(b"x" * (25 * 1024 * 1024 + 1), sign=False)),
    # headers, after the signature
    Case("no-delivery-id", 400, "missing X-GitHub-Delivery", lambda: request(drop=("x-github-delivery",))),
    Case("odd-delivery-id", 400, "not a delivery id", lambda: request(headers={"x-github-delivery": "../../d 1"})),
    Case("no-event-header", 400, "missing X-GitHub-Event", lambda: request(drop=("x-github-event",))),
    Case("odd-event-header", 400, "not an event name", lambda: request(headers={"x-github-event": "push;rm -rf /"})),
    Case("other-ghe-host", 403, "not the configured GHE host", lambda: request(
        headers={"x-github-enterprise-host": "evil.example.com"})),
    Case("no-ghe-host", 403, "missing X-GitHub-Enterprise-Host", lambda: request(drop=("x-github-enterprise-host",))),
    # body
    Case("text-plain", 415, "not supported", lambda: request(headers={"content-type": "text/plain"})),
    Case("no-content-type", 415, "not supported", lambda: request(drop=("content-type",))),
    Case("xml", 415, "not supported", lambda: request(b"<push/>", headers={"content-type": "application/xml"})),
    Case("invalid-json", 400, "not valid application/json", lambda: request(b"{not json")),
    Case("json-array", 400, "JSON object", lambda: request(b"[]")),
    Case("duplicate-key", 400, "appears twice", lambda: request(
        json.dumps(BASE_PAYLOAD)[:-1].encode() + b', "after": "' + b"b" * 40 + b'"}')),
    Case("nested-too-deeply", 400, "nested too deeply", lambda: request(b'{"a":' + b"[" * 100_000)),
    Case("invalid-utf8", 400, "not valid application/json", lambda: request(b'{"ref": "\xff\xfe"}', b64=True)),
    Case("form-without-payload", 400, "'payload' field", lambda: request(form({"data": BASE_PAYLOAD}), headers=FORM)),
    Case("form-two-payloads", 400, "exactly one 'payload'", lambda: request(
        form([("payload", json.dumps(BASE_PAYLOAD)), ("payload", json.dumps(payload(after="b" * 40)))]),
        headers=FORM)),
    Case("form-bad-json", 400, "not valid application/x-www-form-urlencoded", lambda: request(
        form({"payload": "{nope"}), headers=FORM)),
    # events that are not pushes, and pushes that deploy nothing
    Case("ping", 200, "pong", lambda: request({"zen": "Design for failure.", "hook_id": 1},
                                              headers={"x-github-event": "ping"})),
    Case("issues-event", 202, "ignored: stepdeploy acts on push events, not issues", lambda: request(
        {"action": "opened"}, headers={"x-github-event": "issues"})),
    Case("branch-deleted", 202, "refs/heads/main was deleted", lambda: request(
        payload(deleted=True, after="0" * 40, head_commit=None))),
    Case("tag-push", 202, "is a tag", lambda: request(payload(ref="refs/tags/v1.0.0"))),
    Case("pull-ref", 202, "is not a branch", lambda: request(payload(ref="refs/pull/7/head"))),
    # malformed pushes
    Case("repository-not-allowed", 403, "someone/else is not allowed", lambda: request(payload(
        repository__full_name="someone/else", repository__clone_url="https://ghe.example.com/someone/else.git"))),
    Case("no-repository", 400, "'repository' must be a dict", lambda: request(payload(repository=None))),
    Case("full-name-not-owner-repo", 400, "is not owner/repo", lambda: request(payload(repository__full_name="a/b/c"))),
    Case("full-name-dot-dot", 400, "is not owner/repo", lambda: request(payload(repository__full_name="platform/.."))),
    Case("after-not-a-commit", 400, "'after' must be a 40-hex", lambda: request(payload(after="HEAD~1"))),
    Case("ref-not-under-refs", 400, "does not start with refs/", lambda: request(payload(ref="main"))),
    Case("ref-dot-dot", 400, "contains '..'", lambda: request(payload(ref="refs/heads/../../etc/passwd"))),
    Case("ref-with-space", 400, "contains the character ' '", lambda: request(payload(ref="refs/heads/a b"))),
    Case("ref-with-newline", 400, "contains the character '\\n'", lambda: request(payload(ref="refs/heads/a\nb"))),
    Case("ref-lock", 400, "ends with '.lock'", lambda: request(payload(ref="refs/heads/main.lock"))),
    Case("ref-reflog", 400, "contains '@{'", lambda: request(payload(ref="refs/heads/main@{1}"))),
    Case("ref-too-long", 400, "longer than 255 bytes", lambda: request(payload(ref="refs/heads/" + "é" * 130))),
    Case("clone-url-file", 400, "must be an http(s) URL", lambda: request(payload(
        repository__clone_url="file:///etc/passwd"))),
    Case("clone-url-other-host", 403, "not on the configured GHE host", lambda: request(payload(
        repository__clone_url="https://evil.example.com/platform/sample-app.git"))),
    Case("clone-url-credentials", 403, "not on the configured GHE host", lambda: request(payload(
        repository__clone_url="https://x:y@ghe.example.com/platform/sample-app.git"))),
    Case("clone-url-other-repository", 403, "not the clone URL of platform/sample-app", lambda: request(payload(
        repository__clone_url="https://ghe.example.com/platform/other.git"))),
]


# --- the pipeline in front of the state machine ------------------------------------------------
# One moto account for the module (the same resources as tests/handlers/conftest.py's orchestrator):
# a refusal changes nothing, and the controls use commits of their own.
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "stepdeploy-table",
    "ARTIFACT_BUCKET": "stepdeploy-artifacts",
    "UPLOAD_PREFIX": "uploads/",
    "EVENT_BUS_NAME": BUS,
    "ALLOWED_REPOSITORIES": "platform/sample-app:sample-*",
    "GHE_HOST": "ghe.example.com",
    "GHE_API_URL": "https://ghe.example.com/api/v3",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def clear_caches() -> None:
    from stepdeploy.aws import clients, ledger, secrets
    from stepdeploy.settings import settings as orchestrator_settings

    caches = (orchestrator_settings, ledger.ledger, webhook.events_client)
    for cached in caches:
        cached.cache_clear()
    clients.clear_clients()
    secrets.clear_cache()


@dataclass
class Pipeline:
    tap_url: str
    machine_arn: str
    secret_arn: str
    before: frozenset[str] = frozenset()

    def executions(self) -> list[dict[str, Any]]:
        listed = boto3.client("stepfunctions").list_executions(stateMachineArn=self.machine_arn)["executions"]
        return [e for e in listed if e["executionArn"] not in self.before]

    def send(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """Webhook, then every published event to StartDeployment (as the rule does).

        Returns the reply, the events this request published, and the executions the test started.
        """
        answer = load_handler("webhook").handler(event, Context())
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10).get("Messages", [])
        published = [json.loads(m["Body"]) for m in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])
        for bus_event in published:
            start_deployment.start_deployment(bus_event)
        return answer, published, self.executions()


@pytest.fixture(scope="module")
def environment() -> Iterator[Pipeline]:
    with pytest.MonkeyPatch.context() as patch, patching.suspended(), mock_aws():
        for key, value in ENVIRONMENT.items():
            patch.setenv(key, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        clear_caches()
        create_ledger_table(boto3.client("dynamodb"), ENVIRONMENT["TABLE_NAME"])
        events, sqs, sfn = boto3.client("events"), boto3.client("sqs"), boto3.client("stepfunctions")
        events.create_event_bus(Name=BUS)
        secret_arn = boto3.client("secretsmanager").create_secret(Name="webhook", SecretString=SECRET)["ARN"]
        patch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
        url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": ["stepdeploy.ghe"]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
        machine = sfn.create_state_machine(
            name="stepdeploy-deploy", definition=WAIT_MACHINE, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        patch.setenv("STATE_MACHINE_ARN", machine)
        clear_caches()
        yield Pipeline(url, machine, secret_arn)
    clear_caches()


@pytest.fixture()
def pipeline(environment: Pipeline) -> Pipeline:
    """The module's pipeline, counting only what this test starts."""
    return Pipeline(
        environment.tap_url,
        environment.machine_arn,
        environment.secret_arn,
        frozenset(e["executionArn"] for e in environment.executions()),
    )


def message_of(answer: dict[str, Any]) -> str:
    return str(json.loads(answer["body"])["message"])


@pytest.mark.unit
def test_the_catalogue_has_at_least_30_cases():
    assert len(CATALOGUE) >= 30
    assert len({case.id for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.handler
@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_refused_or_ignored_request_publishes_and_starts_nothing(pipeline, case):
    answer, published, executions = pipeline.send(case.make())
    assert answer["statusCode"] == case.status, answer
    assert case.reason in message_of(answer)
    assert published == []
    assert executions == []


# --- controls: the same path publishes and starts for real pushes -----------------------------
@pytest.mark.handler
def test_a_signed_push_publishes_one_trimmed_event_and_starts_one_execution(pipeline):
    commit = fresh_commit()
    answer, published, executions = pipeline.send(request(payload(after=commit)))
    assert answer["statusCode"] == 202 and message_of(answer) == "accepted"
    assert len(published) == 1 and len(json.dumps(published[0])) < 8 * 1024
    assert [e["name"][:24] for e in executions] == [f"sample-app-main-{commit[:7]}-"]


@pytest.mark.handler
def test_a_form_encoded_push_is_accepted(pipeline):
    body = form({"payload": payload(after=fresh_commit())})
    answer, published, executions = pipeline.send(request(body, headers=FORM))
    assert answer["statusCode"] == 202 and len(published) == 1 and len(executions) == 1


@pytest.mark.handler
def test_redelivery_of_one_delivery_publishes_once(pipeline):
    event = request(payload(after=fresh_commit()))
    first, _, _ = pipeline.send(event)
    again, published, executions = pipeline.send(event)
    assert first["statusCode"] == 202
    assert again["statusCode"] == 200 and "duplicate delivery" in message_of(again)
    assert published == [] and len(executions) == 1


@pytest.mark.handler
def test_two_deliveries_of_one_push_start_one_execution(pipeline):
    push = payload(after=fresh_commit())
    pipeline.send(request(push))  # the repository's hook...
    answer, published, executions = pipeline.send(request(push))  # ...and the organisation's: a new delivery id
    assert answer["statusCode"] == 202 and len(published) == 1  # published again...
    assert len(executions) == 1  # ...and StartDeployment's execution name makes it a duplicate


@pytest.mark.handler
def test_a_delivery_remembered_but_never_published_is_published_on_redelivery(pipeline):
    from stepdeploy.aws.ledger import ledger

    commit = fresh_commit()
    event = request(payload(after=commit))
    ledger().remember_delivery(event["headers"]["x-github-delivery"], "platform/sample-app", commit)
    # ...and the function stopped before publishing: GHE shows a failed delivery, someone redelivers
    answer, published, executions = pipeline.send(event)
    assert answer["statusCode"] == 202 and len(published) == 1 and len(executions) == 1


@pytest.mark.handler
def test_the_previous_secret_is_accepted_during_rotation(pipeline):
    from stepdeploy.aws import secrets

    manager = boto3.client("secretsmanager")
    manager.put_secret_value(SecretId=pipeline.secret_arn, SecretString="the new secret")
    secrets.clear_cache()
    try:
        old, _, _ = pipeline.send(request(payload(after=fresh_commit())))  # GHE still signs with the old one
        new, _, _ = pipeline.send(request(payload(after=fresh_commit()), secret="the new secret"))
        unknown, _, executions = pipeline.send(request(payload(after=fresh_commit()), secret="another secret"))
    finally:
        manager.put_secret_value(SecretId=pipeline.secret_arn, SecretString=SECRET)
        secrets.clear_cache()
    assert (old["statusCode"], new["statusCode"], unknown["statusCode"]) == (202, 202, 401)
    assert len(executions) == 2


@pytest.mark.handler
def test_a_force_push_deploys_its_new_head(pipeline):
    commit = fresh_commit()
    answer, published, executions = pipeline.send(request(payload(forced=True, after=commit)))
    assert answer["statusCode"] == 202
    assert published[0]["detail"]["forced"] is True and published[0]["detail"]["after"] == commit
    assert len(executions) == 1


@pytest.mark.handler
@pytest.mark.parametrize(
    ("branch", "shown"),
    [
        ("feature/ünïcödé", "feature-unicode"),
        ("fix/$(reboot);`id`|x&y>z", "fix-reboot-id-x-y-z"),
        ("機能/ログイン", None),
    ],
)
def test_odd_but_valid_branch_names_stay_data_and_get_sanitised_names(pipeline, branch, shown):
    commit = fresh_commit()
    answer, published, executions = pipeline.send(request(payload(ref=f"refs/heads/{branch}", after=commit)))
    assert answer["statusCode"] == 202
    assert published[0]["detail"]["ref"] == f"refs/heads/{branch}"  # the bus carries the name as data
    name = executions[0]["name"]
    assert NAME_PATTERN.match(name)
    assert name.startswith(f"sample-app-{shown}-{commit[:7]}-" if shown else f"sample-app-{commit[:7]}-")


@pytest.mark.handler
def test_a_fault_answers_500_and_the_redelivery_is_accepted(pipeline, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("EventBridge is down")

    event = request(payload(after=fresh_commit()))
    with monkeypatch.context() as patched:
        patched.setattr(webhook, "put_push_event", broken)
        failed, published, executions = pipeline.send(event)
    assert failed["statusCode"] == 500 and "redeliver" in message_of(failed)
    assert published == [] and executions == []
    redelivered, published, executions = pipeline.send(event)
    assert redelivered["statusCode"] == 202 and len(executions) == 1


@pytest.mark.handler
def test_neither_the_raw_body_nor_the_secret_is_logged(pipeline, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # even when asked to log events...
    importlib.reload(webhook)  # ...at cold start, when the handler is decorated
    stream = io.StringIO()
    monkeypatch.setattr(webhook.logger.registered_handler, "stream", stream)  # the JSON lines CloudWatch gets
    marker = "a-marker-only-in-the-body"
    pipeline.send(request(payload(head_commit__message=marker, after=fresh_commit())))
    pipeline.send(request(payload(head_commit__message=marker), secret="wrong"))
    pipeline.send(request(b'{"' + marker.encode() + b'": [}'))
    text = stream.getvalue()
    assert "push accepted" in text and "webhook refused" in text  # the logs were captured
    assert SECRET not in text
    assert marker not in text
    assert json.dumps(BASE_PAYLOAD)[:200] not in text


# --- property-based: the signature check ------------------------------------------------------
@pytest.mark.unit
def test_githubs_documented_test_vector():
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_of(b"Hello, World!", "It's a Secret to Everybody") == expected
    verify_signature(b"Hello, World!", expected, ["another", "It's a Secret to Everybody"])


secrets_st = st.text(min_size=1, max_size=40)


@pytest.mark.unit
@given(st.binary(max_size=1024), secrets_st, secrets_st, st.integers(min_value=0))
def test_either_rotation_secret_signs_and_any_changed_bit_is_refused(body, current, previous, where):
    for secret in (current, previous):
        verify_signature(body, signature_of(body, secret), [current, previous])
    header = signature_of(body, current)
    digest = bytearray(bytes.fromhex(header[7:]))
    digest[where % 32] ^= 1 << (where % 8)
    with pytest.raises(WebhookRejected) as refused:
        verify_signature(body, "sha256=" + digest.hex(), [current, previous])
    assert refused.value.status == 401
    if body:
        changed = bytearray(body)
        changed[where % len(body)] ^= 1 << (where % 8)
        with pytest.raises(WebhookRejected):
            verify_signature(bytes(changed), header, [current, previous])


@pytest.mark.unit
@given(st.binary(max_size=256), st.text(max_size=80))
def test_any_header_but_the_signature_is_refused_with_401(body, header):
    secret = "s3cret"
    if header == signature_of(body, secret):
        return
    with pytest.raises(WebhookRejected) as refused:
        verify_signature(body, header, [secret])
    assert refused.value.status == 401


# --- property-based: request parsing ------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "text/plain", "",
     "APPLICATION/JSON", "multipart/form-data"]
)


@pytest.mark.unit
@given(st.binary(max_size=512), content_types)
def test_any_body_parses_to_an_object_or_is_refused_with_400_or_415(body, content_type):
    try:
        data = payload_from_body(body, content_type)
    except WebhookRejected as refused:
        assert refused.status in (400, 415)
    else:
        assert isinstance(data, dict)


push_fields = st.sampled_from(
    ["ref", "before", "after", "repository", "created", "deleted", "forced", "pusher", "sender", "commits",
     "head_commit"]
)


@pytest.mark.unit
@given(st.dictionaries(push_fields, json_values, max_size=4), st.text(max_size=300))
def test_any_push_parses_to_a_bounded_event_or_is_refused_with_400(changes, ref):
    data = {**copy.deepcopy(BASE_PAYLOAD), "ref": "refs/heads/" + ref, **changes}
    try:
        push = parse_push(data, delivery_id="d-1", enterprise_host="ghe.example.com")
    except WebhookRejected as refused:
        assert refused.status == 400
        return
    assert ref_problem(push.ref) is None and ".." not in push.ref
    assert len(push.model_dump_json()) < 16 * 1024
    assert push.deleted is (data.get("deleted") is True or push.after == "0" * 40)


@pytest.mark.handler
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=300),
    st.dictionaries(
        st.sampled_from(["content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256",
                         "x-github-enterprise-host"]),
        st.text(max_size=60),
        max_size=5,
    ),
    st.sampled_from(["POST", "GET", "PUT"]),
)
def test_unsigned_requests_never_publish_and_never_fault(pipeline, body, headers, method):
    answer, published, executions = pipeline.send(request(body, sign=False, headers=headers, method=method))
    assert answer["statusCode"] in (400, 401, 405)
    assert published == [] and executions == []


@pytest.mark.handler
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(push_fields, json_values, max_size=3))
def test_signed_odd_pushes_never_fault(pipeline, changes):
    answer, _, _ = pipeline.send(request({**copy.deepcopy(BASE_PAYLOAD), **changes}))
    assert answer["statusCode"] in (200, 202, 400, 403), answer
