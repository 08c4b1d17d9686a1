"""Ownership rules, the allow-list's adopt flag, the strict YAML reader's limits and GHE's 1 MB answer."""

from __future__ import annotations

import pytest

from stepdeploy.app_config.target_config import parse_config
from stepdeploy.errors import ConfigurationError, RequestRejected
from stepdeploy.ghe.api import FileTooLarge, GheApi
from stepdeploy.guards.ownership import OWNER_TAG, check_owner

pytestmark = pytest.mark.unit


def stack(owner: str | None = None, status: str = "UPDATE_COMPLETE") -> dict:
    tags = [{"Key": OWNER_TAG, "Value": owner}] if owner else []
    return {"StackName": "orders-prod", "StackStatus": status, "Tags": tags}


@pytest.mark.parametrize(
    ("found", "repository", "adopt", "refused"),
    [
        (None, "acme/orders", False, None),
        (stack("acme/orders"), "ACME/Orders", False, None),
        (stack("acme/orders"), "acme/intruder", False, "belongs to repository acme/orders"),
        (stack("acme/orders"), "acme/intruder", True, "belongs to repository acme/orders"),  # adopt is for untagged
        (stack(None), "acme/orders", False, "stepdeploy did not create it"),
        (stack(None), "acme/orders", True, None),
        (stack(None, "REVIEW_IN_PROGRESS"), "acme/orders", False, None),
    ],
)
def test_who_may_change_a_stack(found, repository, adopt, refused):
    def check():
        check_owner(found, "orders-prod", repository, orchestrator_stack="stepdeploy", may_adopt=adopt)

    if refused is None:
        check()
    else:
        with pytest.raises(RequestRejected, match=refused):
            check()


@pytest.mark.parametrize("name", ["stepdeploy", "StepDeploy"])
def test_the_orchestrators_stack_is_refused_even_when_adopted(name):
    with pytest.raises(RequestRejected, match="orchestrator's own stack"):
        check_owner(None, name, "acme/ops", orchestrator_stack="stepdeploy", may_adopt=True)


def test_anchors_and_merges_within_the_limits_still_work():
    config = parse_config(
        "version: 1\ntargets:\n"
        "  - {branch: main, stack: orders-prod, deployment: &d {alarms: [ErrorsAlarm], bake_minutes: 5}}\n"
        "  - {branch: dev, stack: orders-dev, deployment: *d}\n"
    )
    assert config.targets[1].deployment.bake_minutes == 5


def test_a_file_just_under_the_size_limit_is_read():
    text = "version: 1\ntargets: [{branch: main, stack: orders-prod}]\n"
    parse_config(text + "#" * (256 * 1024 - len(text) - 1) + "\n")
    with pytest.raises(ConfigurationError, match="bytes; expected at most 262144"):
        parse_config(text + "#" * (256 * 1024 - len(text)) + "\n")


@pytest.mark.parametrize(
    ("answer", "max_bytes"),
    [
        ({"type": "file", "size": 2_000_000, "encoding": "none", "content": ""}, None),
        ({"type": "file", "size": 300_000, "encoding": "base64", "content": "eA=="}, 1000),
    ],
)
def test_ghe_files_too_large_to_read(monkeypatch, answer, max_bytes):
    api = GheApi("http://127.0.0.1:9/api/v3", "token")
    monkeypatch.setattr(api, "_request", lambda *_a, **_k: answer)
    with pytest.raises(FileTooLarge) as error:
        api.file_at("acme/orders", "stepdeploy.yml", "main", max_bytes=max_bytes)
    assert error.value.size == answer["size"]
