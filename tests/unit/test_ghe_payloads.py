import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepdeploy.ghe.payloads import WebhookRejected, parse_push, payload_from_body, signature_of, verify_signature

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"


def test_documented_test_vector():
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_of(body, secret) == expected
    verify_signature(body, expected, [secret])


@pytest.mark.parametrize(
    ("header", "status", "words"),
    [
        (None, 401, "missing"),
        ("sha1=" + "0" * 40, 401, "sha256="),
        ("sha256=" + "A" * 64, 401, "lower-case"),
        ("sha256=" + "0" * 64, 401, "does not match"),
    ],
)
def test_bad_signatures_refused(header, status, words):
    with pytest.raises(WebhookRejected) as refused:
        verify_signature(b"{}", header, ["secret"])
    assert refused.value.status == status
    assert words in refused.value.reason


def test_previous_secret_accepted_during_rotation():
    body = b'{"zen": "x"}'
    verify_signature(body, signature_of(body, "old"), ["new", "old"])
    with pytest.raises(WebhookRejected):
        verify_signature(body, signature_of(body, "older"), ["new", "old"])


@given(st.binary(max_size=512), st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_signature_only_matches_its_own_secret(body, secret, other):
    header = signature_of(body, secret)
    verify_signature(body, header, [secret])
    if other != secret:
        with pytest.raises(WebhookRejected):
            verify_signature(body, header, [other])


@given(st.binary(max_size=256))
def test_any_tampering_is_refused(body):
    header = signature_of(body, "s")
    with pytest.raises(WebhookRejected):
        verify_signature(body + b" ", header, ["s"])


def test_form_encoded_body_carries_payload():
    body = b"payload=%7B%22zen%22%3A%22ok%22%7D"
    assert payload_from_body(body, "application/x-www-form-urlencoded") == {"zen": "ok"}


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/xml"])
def test_other_content_types_refused(content_type):
    with pytest.raises(WebhookRejected) as refused:
        payload_from_body(b"{}", content_type)
    assert refused.value.status == 415


def test_fixture_tag_deletion_parses_as_deletion():
    payload = json.loads((FIXTURES / "push.json").read_text())
    push = parse_push(payload, delivery_id="d-1", enterprise_host=None)
    assert push.deleted and push.is_tag and push.branch is None
    assert push.repository == "Codertocat/Hello-World"


def test_fixture_new_branch_parses():
    payload = json.loads((FIXTURES / "push-new-branch.json").read_text())
    push = parse_push(payload, delivery_id="d-2", enterprise_host="ghe.example.com")
    assert push.created and not push.deleted
    assert push.branch == payload["ref"].removeprefix("refs/heads/")
    assert len(push.model_dump_json()) < 8192


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda p: p.pop("repository"), "repository"),
        (lambda p: p.update(after="not-a-sha"), "after"),
        (lambda p: p.update(ref="main"), "refs/"),
        (lambda p: p["repository"].update(clone_url="file:///etc/passwd"), "clone_url"),
    ],
)
def test_malformed_push_refused(mutate, words):
    payload = json.loads((FIXTURES / "push-new-branch.json").read_text())
    mutate(payload)
    with pytest.raises(WebhookRejected) as refused:
        parse_push(payload, delivery_id="d", enterprise_host=None)
    assert refused.value.status == 400 and words in refused.value.reason
