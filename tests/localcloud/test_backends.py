"""The one lookup of moto's backends (stepdeploy_localcloud.backends)."""

from __future__ import annotations

import pytest
from moto.core.config import default_user_config
from moto.iam.models import iam_backends
from moto.sqs.models import sqs_backends

from stepdeploy_localcloud import backends

pytestmark = pytest.mark.localcloud


def test_backend_is_motos_own_per_account_and_region() -> None:
    assert backends.backend("sqs", "100000000001", "eu-west-1") is sqs_backends["100000000001"]["eu-west-1"]


def test_global_services_are_kept_by_partition_given_a_region_or_the_partition() -> None:
    by_region = backends.backend("iam", "100000000002", "us-west-2")
    assert by_region is iam_backends["100000000002"]["aws"]
    assert backends.backend("iam", "100000000002", "aws") is by_region
    assert backends.backend("iam", "100000000002", "cn-north-1") is iam_backends["100000000002"]["aws-cn"]


def test_lambda_is_the_backend_that_runs_no_containers_when_docker_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda.models import lambda_backends
    from moto.awslambda_simple.models import lambda_simple_backends

    account = "100000000003"
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})
    assert backends.backend("lambda", account, "us-east-1") is lambda_simple_backends[account]["us-east-1"]
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": True})
    assert backends.backend("lambda", account, "us-east-1") is lambda_backends[account]["us-east-1"]


def test_existing_walks_what_was_created_and_creates_nothing() -> None:
    account = "100000000004"
    assert account not in dict.keys(sqs_backends)
    assert list(backends.existing("sqs", account)) == []
    assert account not in dict.keys(sqs_backends)  # walking created no account

    created = [backends.backend("sqs", account, region) for region in ("us-east-1", "ap-south-1")]
    found = list(backends.existing("sqs", account))
    assert sorted(map(id, found)) == sorted(map(id, created))
    assert dict.keys(sqs_backends[account]) == {"us-east-1", "ap-south-1"}  # and no other region
    assert all(backend in list(backends.existing("sqs")) for backend in created)  # every account


def test_existing_of_another_account_leaves_this_ones_out() -> None:
    backends.backend("sqs", "100000000005", "us-east-1")
    assert list(backends.existing("sqs", "100000000006")) == []
