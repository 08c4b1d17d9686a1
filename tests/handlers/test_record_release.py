"""Record release against moto's DynamoDB, and what it tells GHE (a local GHE served over HTTP).

Commit statuses and a Deployments record per execution, with its in_progress and final statuses; an
outage costs one failed call per step, is counted as GheUnavailable and never fails the step. The
deployment record is opened by Acquire lock, the step before, and closed here.
"""

from __future__ import annotations

import pytest

from .conftest import Context, load_event, load_handler
from .ghe_support import OWNER, REPO, emf_lines, end_event, lock_event, pushed_commit

pytestmark = pytest.mark.handler


def test_record_failure_writes_ledger_and_frees_lock(orchestrator):
    from stepdeploy.aws.ledger import ledger

    event = load_event("record_release-failure")
    owner = event["execution"]["Id"]
    ledger().acquire_lock(stack="sample-prod", owner=owner, commit="a", requested_at="1", mode="superseded",
                          lease_seconds=600, is_running=lambda arn: True)
    handler = load_handler("record_release").handler
    out = handler(event, Context())
    assert out["release"]["outcome"] == "BuildFailed"
    assert ledger().lock_holder("sample-prod") is None
    handler(event, Context())  # a retry adds nothing
    releases = ledger().releases_of("sample-prod")
    assert len(releases) == 1 and releases[0]["error"] == "BuildFailed"
    assert ledger().latest_releases()[0]["outcome"] == "BuildFailed"


def test_a_deployment_is_reported_as_statuses_and_a_deployment_record(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:one")
    locked = load_handler("acquire_lock").handler(event, Context())

    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["pending"]
    (deployment,) = ghe.deployments(OWNER, REPO)
    assert (deployment["sha"], deployment["environment"]) == (sha, "production")
    execution_arn = event["execution"]["Id"]
    assert deployment["payload"] == {"stack": "sample-prod", "execution": execution_arn, "tool": "stepdeploy"}
    (started,) = ghe.deployment_statuses(OWNER, REPO, deployment["id"])
    assert started["state"] == "in_progress" and started["log_url"].endswith(event["execution"]["Id"])
    (emf,) = emf_lines(capsys)
    assert emf["DeploymentStarted"] == [1.0] and emf["stack"] == "sample-prod"

    load_handler("record_release").handler(end_event(locked, event["execution"], "Record release"), Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["success", "pending"]
    assert [d["id"] for d in ghe.deployments(OWNER, REPO)] == [deployment["id"]]  # found again, not a second one
    assert [s["state"] for s in ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["success", "in_progress"]
    (emf,) = emf_lines(capsys)
    assert emf["DeploymentSucceeded"] == [1.0] and emf["DeploymentFailed"] == [0.0]
    assert emf["LeadTime"][0] > 0  # the fixture's head_commit_timestamp is before now


def test_an_outage_costs_one_counted_call_per_step_and_the_record_is_made_at_the_end(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:two")
    ghe.set_outage(True)
    locked = load_handler("acquire_lock").handler(event, Context())
    assert locked["lock"]["owner"] == event["execution"]["Id"]  # the step went on
    lines = emf_lines(capsys)
    assert [line["operation"] for line in lines if "GheUnavailable" in line] == ["commit status"]
    assert ghe.statuses(OWNER, REPO, sha) == [] and ghe.deployments(OWNER, REPO) == []

    ghe.set_outage(False)
    failure = end_event(locked, event["execution"], "Record failure", error="BuildFailed")
    load_handler("record_release").handler(failure, Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["failure"]
    (deployment,) = ghe.deployments(OWNER, REPO)
    assert [s["state"] for s in ghe.deployment_statuses(OWNER, REPO, deployment["id"])] == ["failure"]
    (emf,) = [line for line in emf_lines(capsys) if "DeploymentFailed" in line]
    assert emf["DeploymentFailed"] == [1.0] and emf["outcome"] == "BuildFailed"


def test_a_superseded_execution_gets_an_error_status_but_no_deployment_record(ghe, tmp_path):
    sha = pushed_commit(ghe, tmp_path)
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:three")
    document = event["document"]  # superseded before it took the lock
    load_handler("record_release").handler(end_event(document, event["execution"], "Record superseded"), Context())
    assert [s["state"] for s in ghe.statuses(OWNER, REPO, sha)] == ["error"]
    assert ghe.deployments(OWNER, REPO) == []


@pytest.mark.parametrize("retried", [False, True], ids=["first run", "retried after it freed the lock"])
def test_freeing_the_lock_wakes_the_waiters_and_a_gone_token_is_forgotten(orchestrator, retried):
    from stepdeploy.aws.ledger import ledger

    event = load_event("record_release-failure")
    owner = event["execution"]["Id"]
    ledger().acquire_lock(stack="sample-prod", owner=owner, commit="a", requested_at="1", mode="superseded",
                          lease_seconds=600, is_running=lambda arn: True)
    if retried:  # the first invocation freed the lock, then died before it woke anyone
        assert ledger().release_lock("sample-prod", owner)
    waiter = f"{owner}-waiting"
    ledger().add_lock_waiter("sample-prod", waiter, {"task_token": "no-longer-valid", "mode": "superseded",
                                                     "requested_at": "2"}, 600)
    load_handler("record_release").handler(event, Context())
    assert ledger().lock_holder("sample-prod") is None
    assert ledger().lock_waiters("sample-prod") == []  # Step Functions answered that its wait is over
