"""Resolve request against moto: a push's configuration read at its commit from GHE, an upload's from its bundle."""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest

from stepdeploy.errors import ArtifactRejected, ConfigurationError, RequestRejected
from stepdeploy.ghe.api import GheApi

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
CONFIG = b"version: 1\ntargets:\n  - {branch: main, stack: sample-prod}\n"


def fake_ghe(monkeypatch, files: dict[str, bytes | None]) -> None:
    monkeypatch.setattr(GheApi, "file_at", lambda self, repo, path, ref, max_bytes=None: files.get(path))


def test_resolve_push_reads_config_at_commit(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG, "buildspec.yml": b"version: 0.2"})
    out = load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())
    request = out["request"]
    assert not request.get("skip") and request["target"]["stack"] == "sample-prod"
    assert "buildspec" not in request  # the repository has its own


def test_resolve_push_without_buildspec_uses_default(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    out = load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())
    assert "sam build" in out["request"]["buildspec"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(deleted=True), "deleted"),
        (lambda d: d.update(ref="refs/tags/v1"), "not a branch"),
        (lambda d: d.update(ref="refs/heads/unlisted"), "matches no target"),
        (lambda d: d.update(repository="other/repo"), "allow-list"),
    ],
)
def test_resolve_push_skips_with_reason(orchestrator, monkeypatch, edit, reason):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    event = load_event("resolve_request-push")
    edit(event["document"]["event"]["detail"])
    out = load_handler("resolve_request").handler(event, Context())
    assert out["request"]["skip"] is True and reason in out["request"]["reason"]


def test_resolve_push_bad_config_names_key(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": b"version: 1\ntargets: [{branch: main, stack: x, colour: red}]"})
    with pytest.raises(ConfigurationError, match=r"stepdeploy.yml: targets\[0\].colour: is not a known key"):
        load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())


def upload(key: str, files: dict[str, bytes], **metadata: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    boto3.client("s3").put_object(Bucket="stepdeploy-artifacts", Key=key, Body=buffer.getvalue(), Metadata=metadata)


def test_resolve_upload(orchestrator):
    upload("uploads/platform/sample-app/release-1.zip", {"stepdeploy.yml": CONFIG}, commit="abc1234")
    out = load_handler("resolve_request").handler(load_event("resolve_request-upload"), Context())
    assert out["request"]["target"]["stack"] == "sample-prod"
    assert out["request"]["commit"] == "abc1234"
    assert out["request"]["artifact"]["key"] == "uploads/platform/sample-app/release-1.zip"


def with_settings(monkeypatch, **env: str) -> None:
    from stepdeploy.settings import settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()


def test_a_stack_outside_the_managed_prefix_is_refused_before_anything_starts(orchestrator, monkeypatch):
    with_settings(monkeypatch, MANAGED_STACK_PREFIX="apps-", ALLOWED_REPOSITORIES="platform/sample-app:*")
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    with pytest.raises(RequestRejected, match=r"stepdeploy.yml: targets \(stack sample-prod\).stack: expected a stack "
                       r"name that starts with the orchestrator's ManagedStackPrefix 'apps-'.*found 'sample-prod'"):
        load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())


def test_a_stack_under_the_managed_prefix_resolves(orchestrator, monkeypatch):
    with_settings(monkeypatch, MANAGED_STACK_PREFIX="sample-")
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    out = load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())
    assert out["request"]["target"]["stack"] == "sample-prod"


def test_a_repository_template_outside_the_permissions_boundary_is_refused_before_a_build(orchestrator, monkeypatch):
    boundary = "arn:aws:iam::123456789012:policy/stepdeploy-ApplicationBoundaryPolicy"
    with_settings(monkeypatch, PERMISSIONS_BOUNDARY_ARN=boundary)
    template = b"Resources:\n  Deployer:\n    Type: AWS::IAM::User\n"
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG, "template.yaml": template})
    expected = r"template.yaml: Deployer: AWS::IAM::User: application stacks may create roles \(under the permissions"
    with pytest.raises(ArtifactRejected, match=expected):
        load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())


PIPELINE = b"""version: 1
targets:
  - branch: main
    name: sample
    pipeline:
      - {name: dev, stack: sample-dev}
      - {name: staging, stack: sample-staging, gates: {test: {function: SmokeTestFunction}}}
      - {name: production, stack: sample-prod, approval: {required: true, timeout_minutes: 90}}
"""


def resolve(event: dict) -> dict:
    return load_handler("resolve_request").handler(event, Context())["request"]


def test_a_pipeline_push_is_the_parent_of_its_stages(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": PIPELINE, "buildspec.yml": b"version: 0.2"})
    request = resolve(load_event("resolve_request-push"))
    assert request["pipeline"]["name"] == "sample"
    assert [s["name"] for s in request["pipeline"]["stages"]] == ["dev", "staging", "production"]
    assert request["pipeline"]["stages"][1]["gates"]["test"] == {"function": "SmokeTestFunction"}
    assert request["target"]["stack"] == "sample-dev" and "stage" not in request


def test_a_stage_execution_deploys_its_stage_only(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": PIPELINE, "buildspec.yml": b"version: 0.2"})
    event = load_event("resolve_request-push")
    event["document"]["stage"] = "production"
    request = resolve(event)
    assert (request["stage"], request["pipeline_name"]) == ("production", "sample")
    assert request["target"]["stack"] == "sample-prod" and request["target"]["environment"] == "production"
    assert request["approval_timeout_seconds"] == 90 * 60 and "pipeline" not in request


def test_an_unknown_stage_or_a_stage_of_a_single_stack_target_is_refused(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": PIPELINE, "buildspec.yml": b"version: 0.2"})
    event = load_event("resolve_request-push")
    event["document"]["stage"] = "qa"
    with pytest.raises(RequestRejected, match="pipeline 'sample' has no stage 'qa'.*expected one of dev, staging"):
        resolve(event)
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG, "buildspec.yml": b"version: 0.2"})
    with pytest.raises(RequestRejected, match="is not a pipeline; no stage 'qa'"):
        resolve(event)


def test_every_stage_is_checked_before_anything_is_touched(orchestrator, monkeypatch):
    foreign = PIPELINE.replace(b"stack: sample-prod", b"stack: billing-prod")
    fake_ghe(monkeypatch, {"stepdeploy.yml": foreign, "buildspec.yml": b"version: 0.2"})
    with pytest.raises(RequestRejected, match="stepdeploy.yml: pipeline sample, stage production: repository "
                                              "platform/sample-app may not deploy stack billing-prod"):
        resolve(load_event("resolve_request-push"))
