"""Bucket policy evaluation (stepdeploy_localcloud/s3/policy.py) and who the artifact bucket's policy
lets upload: a principal tagged for one repository, under that repository's prefix only (docs/trust.md).
Pure: the policy of template.yaml is evaluated as written, no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepdeploy.template import cfn_yaml
from stepdeploy_cli.demo.upload_role import UPLOAD_REPOSITORY_TAG, UploadRoleError, role_name
from stepdeploy_localcloud.s3.policy import ANONYMOUS, Caller, Decision, PolicyError, evaluate

pytestmark = pytest.mark.unit

TEMPLATE_TEXT = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
BUCKET = "stepdeploy-artifactbucket-1"
ACCOUNT = "123456789012"
PUT = "s3:PutObject"
ROOT = Caller(arn=f"arn:aws:iam::{ACCOUNT}:root", account=ACCOUNT)  # the default credentials, an untagged role alike


def key(name: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{name}"


def role(name: str, tags: dict[str, str] | None = None, session_tags: dict[str, str] | None = None) -> Caller:
    merged = {**(tags or {}), **(session_tags or {})}
    return Caller(arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", account=ACCOUNT, tags=merged,
                  session_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/session")


def uploader(repository: str) -> Caller:
    return role(f"up-{repository.replace('/', '-')}", {UPLOAD_REPOSITORY_TAG: repository})


def resolved(value: Any) -> Any:
    """The template's bucket policy with the bucket's ARN and UploadPrefix (its default) filled in."""
    names = {"${ArtifactBucket.Arn}": f"arn:aws:s3:::{BUCKET}", "${UploadPrefix}": "uploads/",
             "${AWS::Partition}": "aws", "${StageRoleName}": "stepdeploy-stage"}
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for name, replacement in names.items():
            text = text.replace(name, replacement)
        return text.replace("${!", "${")
    if isinstance(value, dict) and value.get("Fn::GetAtt") in (["ArtifactBucket", "Arn"], "ArtifactBucket.Arn"):
        return f"arn:aws:s3:::{BUCKET}"
    if isinstance(value, dict) and "Fn::If" in value:
        return None  # the stage accounts' read statement: not about uploads
    if isinstance(value, dict):
        return {k: resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [r for r in (resolved(v) for v in value) if r is not None]
    return value


@pytest.fixture(scope="module")
def bucket_policy() -> dict[str, Any]:
    template = cfn_yaml.load(TEMPLATE_TEXT)
    document = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    return dict(resolved(document))


def decide(policy: dict[str, Any], caller: Caller, name: str, action: str = PUT) -> tuple[Decision, str]:
    verdict = evaluate(policy, action, key(name), caller)
    return verdict.decision, verdict.statement


# --- the artifact bucket's policy -------------------------------------------------------------------
def test_a_principal_tagged_for_a_repository_uploads_under_it_only(bucket_policy):
    sample = uploader("platform/sample-app")
    assert decide(bucket_policy, sample, "uploads/platform/sample-app/release.zip")[0] is Decision.NEUTRAL
    assert decide(bucket_policy, sample, "uploads/platform/sample-app/nested/release.zip")[0] is Decision.NEUTRAL
    for elsewhere in ("uploads/platform/other/release.zip", "uploads/platform/sample-app-evil/release.zip",
                      "uploads/platform/release.zip", "builds/platform/sample-app/c/b/bundle.zip",
                      "artifacts/x.zip", "templates/t.json"):
        assert decide(bucket_policy, sample, elsewhere) == (
            Decision.DENIED, "UploadPrincipalsWriteOnlyUnderTheirRepository"), elsewhere


def test_two_tagged_principals_each_upload_only_their_own(bucket_policy):
    sample, other = uploader("platform/sample-app"), uploader("platform/other")
    assert decide(bucket_policy, other, "uploads/platform/other/r.zip")[0] is Decision.NEUTRAL
    assert decide(bucket_policy, other, "uploads/platform/sample-app/r.zip")[0] is Decision.DENIED
    assert decide(bucket_policy, sample, "uploads/platform/other/r.zip")[0] is Decision.DENIED


def test_an_untagged_principal_uploads_nothing_but_writes_what_the_orchestrator_writes(bucket_policy):
    for caller in (ROOT, role("stepdeploy-PackageArtifactRole"), ANONYMOUS):
        assert decide(bucket_policy, caller, "uploads/platform/sample-app/r.zip") == (
            Decision.DENIED, "UploadsOnlyByPrincipalsTaggedForOneRepository")
    for written in ("builds/platform/sample-app/c/b/bundle.zip", "artifacts/abc.zip", "templates/t.json"):
        assert decide(bucket_policy, ROOT, written)[0] is Decision.NEUTRAL, written


def test_a_tag_must_name_one_repository(bucket_policy):
    for value in ("platform", "", "/", "platform/", "/sample-app"):
        caller = role("odd", {UPLOAD_REPOSITORY_TAG: value})
        assert decide(bucket_policy, caller, f"uploads/{value}/r.zip")[0] is Decision.DENIED, value
        assert decide(bucket_policy, caller, "uploads/platform/sample-app/r.zip")[0] is Decision.DENIED, value


def test_only_puts_are_restricted(bucket_policy):
    sample = uploader("platform/sample-app")
    for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"):
        assert decide(bucket_policy, sample, "uploads/platform/other/r.zip", action)[0] is Decision.NEUTRAL
        assert decide(bucket_policy, ROOT, "uploads/platform/other/r.zip", action)[0] is Decision.NEUTRAL


def test_a_session_tag_counts_over_the_roles_tag(bucket_policy):
    retagged = role("up", {UPLOAD_REPOSITORY_TAG: "platform/sample-app"}, {UPLOAD_REPOSITORY_TAG: "platform/other"})
    assert decide(bucket_policy, retagged, "uploads/platform/other/r.zip")[0] is Decision.NEUTRAL
    assert decide(bucket_policy, retagged, "uploads/platform/sample-app/r.zip")[0] is Decision.DENIED


def test_the_tag_key_is_the_one_the_template_names():
    assert TEMPLATE_TEXT.count(f"aws:PrincipalTag/{UPLOAD_REPOSITORY_TAG}") == 3


def test_the_upload_role_name_comes_from_the_repository():
    assert role_name("platform/sample-app") == "stepdeploy-upload-platform-sample-app"
    assert len(role_name("o/" + "r" * 100)) == 64
    for bad in ("platform", "a/b/c", "a b/c", ""):
        with pytest.raises(UploadRoleError, match="expected owner/repo"):
            role_name(bad)


# --- the evaluator -----------------------------------------------------------------------------------
def statement(**fields: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": PUT, "Resource": key("*"), **fields}]}


def test_not_resource_applies_to_every_other_resource():
    policy = statement(Resource=None, NotResource=key("keep/*"))
    del policy["Statement"][0]["Resource"]
    assert decide(policy, ROOT, "keep/a")[0] is Decision.NEUTRAL
    assert decide(policy, ROOT, "other/a")[0] is Decision.DENIED


def test_a_variable_without_a_value_matches_nothing():
    policy = statement(Resource=key("home/${aws:PrincipalTag/team}/*"))
    assert decide(policy, role("r", {"team": "a"}), "home/a/x")[0] is Decision.DENIED
    assert decide(policy, role("r", {"team": "a"}), "home/b/x")[0] is Decision.NEUTRAL
    assert decide(policy, ROOT, "home/a/x")[0] is Decision.NEUTRAL  # no tag: names no key
    with_default = statement(Resource=key("home/${aws:PrincipalTag/team, 'nobody'}/*"))
    assert decide(with_default, ROOT, "home/nobody/x")[0] is Decision.DENIED


def test_a_variables_value_counts_literally_and_escapes_are_wildcard_characters():
    policy = statement(Resource=key("home/${aws:PrincipalTag/team}/*"))
    assert decide(policy, role("r", {"team": "*"}), "home/a/x")[0] is Decision.NEUTRAL
    assert decide(policy, role("r", {"team": "*"}), "home/*/x")[0] is Decision.DENIED
    literal_star = statement(Resource=key("a${*}b"))
    assert decide(literal_star, ROOT, "a*b")[0] is Decision.DENIED
    assert decide(literal_star, ROOT, "axb")[0] is Decision.NEUTRAL


def test_missing_keys_fail_positive_operators_and_satisfy_negated_ones():
    tag = "aws:PrincipalTag/team"
    cases = [({"StringEquals": {tag: "a"}}, False), ({"StringNotEquals": {tag: "a"}}, True),
             ({"StringLike": {tag: "*"}}, False), ({"StringNotLike": {tag: "*"}}, True),
             ({"StringEqualsIfExists": {tag: "a"}}, True), ({"Null": {tag: "true"}}, True),
             ({"Null": {tag: "false"}}, False), ({"Bool": {"aws:SecureTransport": "true"}}, True)]
    for condition, applies in cases:
        expected = Decision.DENIED if applies else Decision.NEUTRAL
        assert decide(statement(Condition=condition), ROOT, "x")[0] is expected, condition


def test_conditions_and_across_keys_and_or_across_values():
    condition = {"StringEquals": {"aws:PrincipalTag/a": ["1", "2"], "aws:PrincipalTag/b": "3"}}
    policy = statement(Condition=condition)
    assert decide(policy, role("r", {"a": "2", "b": "3"}), "x")[0] is Decision.DENIED
    assert decide(policy, role("r", {"a": "2", "b": "4"}), "x")[0] is Decision.NEUTRAL
    arn_like = statement(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/up-*"}})
    assert decide(arn_like, role("up-1"), "x")[0] is Decision.DENIED
    assert decide(arn_like, ROOT, "x")[0] is Decision.NEUTRAL


def test_context_key_names_are_case_insensitive():
    policy = statement(Condition={"StringEquals": {"AWS:principaltag/Team": "a"}})
    assert decide(policy, role("r", {"team": "a"}), "x")[0] is Decision.DENIED


def test_an_operator_not_evaluated_denies_in_a_deny_and_grants_nothing_in_an_allow():
    policy = statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    verdict = evaluate(policy, PUT, key("x"), ROOT)
    assert verdict.decision is Decision.DENIED and "IpAddress is not evaluated by the local cloud" in verdict.note
    policy["Statement"][0]["Effect"] = "Allow"
    assert decide(policy, ROOT, "x")[0] is Decision.NEUTRAL
    # a test that fails decides whatever the order: the statement does not apply
    failing_first = statement(Condition={"StringEquals": {"aws:PrincipalAccount": "999999999999"},
                                         "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    failing_last = statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                                        "StringEquals": {"aws:PrincipalAccount": "999999999999"}})
    assert decide(failing_first, ROOT, "x")[0] is decide(failing_last, ROOT, "x")[0] is Decision.NEUTRAL


def test_principals_actions_and_the_deny_over_allow():
    allow = {"Effect": "Allow", "Action": "s3:Get*", "Resource": key("*")}
    reader = {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"}
    named = {"Version": "2012-10-17", "Statement": [{**allow, "Principal": reader}]}
    assert decide(named, role("reader"), "x", "s3:getobject")[0] is Decision.ALLOWED  # actions: any case
    assert decide(named, role("writer"), "x", "s3:GetObject")[0] is Decision.NEUTRAL
    assert decide(named, role("reader"), "x", PUT)[0] is Decision.NEUTRAL
    account = {"Version": "2012-10-17", "Statement": [{**allow, "Principal": {"AWS": ACCOUNT}}]}
    assert decide(account, role("anyone"), "x", "s3:GetObject")[0] is Decision.ALLOWED
    assert decide(account, ANONYMOUS, "x", "s3:GetObject")[0] is Decision.NEUTRAL
    service = {"Version": "2012-10-17", "Statement": [{**allow, "Principal": {"Service": "lambda.amazonaws.com"}}]}
    assert decide(service, ROOT, "x", "s3:GetObject")[0] is Decision.NEUTRAL
    both = {"Version": "2012-10-17", "Statement": [{**allow, "Principal": "*"},
                                                   {**allow, "Effect": "Deny", "Principal": "*", "Sid": "No"}]}
    assert decide(both, ROOT, "x", "s3:GetObject") == (Decision.DENIED, "No")
    not_action = statement(NotAction="s3:Get*")
    del not_action["Statement"][0]["Action"]
    assert decide(not_action, ROOT, "x", PUT)[0] is Decision.DENIED
    assert decide(not_action, ROOT, "x", "s3:GetObject")[0] is Decision.NEUTRAL


def test_a_refusal_names_the_caller_action_resource_and_statement():
    sample = uploader("platform/sample-app")
    verdict = evaluate(statement(Sid="NoPuts"), PUT, key("x"), sample)
    assert verdict.message(sample, PUT, key("x")) == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/up-platform-sample-app/session is not authorized to perform: "
        f"s3:PutObject on resource: \"{key('x')}\" with an explicit deny in a resource-based policy (statement NoPuts)")


def test_a_malformed_policy_is_named():
    with pytest.raises(PolicyError, match="not JSON"):
        evaluate("{", PUT, key("x"), ROOT)
    with pytest.raises(PolicyError, match="Effect must be Allow or Deny, not 'Maybe'"):
        evaluate(json.dumps(statement(Effect="Maybe")), PUT, key("x"), ROOT)
