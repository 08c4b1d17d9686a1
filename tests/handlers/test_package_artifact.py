"""Package artifact handler against moto S3."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile

import boto3
import pytest

from stepdeploy.errors import ArtifactRejected, ConfigurationError

from .deploy_support import (
    ARTIFACT_BUCKET,
    BUNDLE_KEY,
    CONFIG,
    STACK,
    TEMPLATE,
    deploy_aws_fixture,  # noqa: F401 - the deploy_aws fixture
    document_of,
    execution_of,
    make_bundle,
    run,
    sample_bundle,
    with_role,
)

pytestmark = pytest.mark.handler


def test_packages_code_under_content_hashes_and_writes_the_template(deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    document = run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))
    artifact = document["artifact"]

    assert artifact["bundle"] == {"bucket": ARTIFACT_BUCKET, "key": BUNDLE_KEY}
    params = artifact["parameters"]
    assert params["StepdeployArtifactBucket"] == ARTIFACT_BUCKET
    assert params["Greeting"] == "Hello" and params["FunctionRole"] == deploy_aws.role_arn
    greeter_key = params["GreeterCodeKey"]
    assert greeter_key.startswith("artifacts/platform/sample-app/") and greeter_key.endswith(".zip")
    assert artifact["code_keys"] == {"Greeter": greeter_key, "PreTraffic": params["PreTrafficCodeKey"]}
    assert greeter_key != params["PreTrafficCodeKey"]

    s3 = deploy_aws.client("s3")
    code = s3.get_object(Bucket=ARTIFACT_BUCKET, Key=greeter_key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        assert archive.namelist() == ["app.py"]
    body = s3.get_object(Bucket=ARTIFACT_BUCKET, Key=artifact["template"]["key"])["Body"].read()
    assert artifact["template"]["key"] == f"templates/platform/sample-app/{hashlib.sha256(body).hexdigest()}.json"
    template = json.loads(body)
    assert template["Resources"]["Greeter"]["Properties"]["Code"] == {
        "S3Bucket": {"Ref": "StepdeployArtifactBucket"},
        "S3Key": {"Ref": "GreeterCodeKey"},
    }
    assert template["Resources"]["Greeter"]["Properties"]["Role"] == {"Ref": "FunctionRole"}
    assert len(artifact["digest"]) == 64


def test_running_twice_gives_the_same_answer_and_uploads_nothing_new(deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)
    first = run("package_artifact", document)
    keys = deploy_aws.keys()
    second = run("package_artifact", document)
    assert second["artifact"] == first["artifact"]
    assert deploy_aws.keys() == keys


def test_only_changed_code_gets_a_new_key(deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    before = run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))["artifact"]
    deploy_aws.put_bundle(sample_bundle("def handler(event, context):\n    return 'bonjour'\n"))
    after = run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))["artifact"]
    assert after["parameters"]["GreeterCodeKey"] != before["parameters"]["GreeterCodeKey"]
    assert after["parameters"]["PreTrafficCodeKey"] == before["parameters"]["PreTrafficCodeKey"]
    assert after["template"] == before["template"]
    assert after["digest"] != before["digest"]


def upload_document(deploy_aws) -> dict:
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)
    document["source"] = "s3"
    document["request"].update(
        source="s3", repository=None, commit=None, artifact={"bucket": ARTIFACT_BUCKET, "key": "uploads/sample-app.zip"}
    )
    del document["build"]
    return document


def test_an_s3_upload_is_packaged_from_the_request(deploy_aws):
    body = sample_bundle()
    deploy_aws.put_bundle(body, key="uploads/sample-app.zip", metadata={"sha256": hashlib.sha256(body).hexdigest()})
    artifact = run("package_artifact", upload_document(deploy_aws))["artifact"]
    assert artifact["bundle"]["key"] == "uploads/sample-app.zip"
    assert artifact["parameters"]["GreeterCodeKey"].startswith("artifacts/_uploads/sample-prod/")


def test_an_upload_with_s3s_own_sha256_checksum_is_packaged(deploy_aws):
    body = sample_bundle()
    deploy_aws.client("s3").put_object(
        Bucket=ARTIFACT_BUCKET, Key="uploads/sample-app.zip", Body=body, ChecksumAlgorithm="SHA256"
    )
    artifact = run("package_artifact", upload_document(deploy_aws))["artifact"]
    assert artifact["parameters"]["GreeterCodeKey"].startswith("artifacts/_uploads/sample-prod/")


def test_an_upload_without_its_sha256_is_refused_before_any_code_is_stored(deploy_aws):
    deploy_aws.put_bundle(sample_bundle(), key="uploads/sample-app.zip")
    with pytest.raises(ArtifactRejected, match=r"zip: the upload carries no sha256 of its bytes \(found none\)"):
        run("package_artifact", upload_document(deploy_aws))
    assert deploy_aws.keys("artifacts/") == []


def test_the_checksum_of_a_multipart_uploads_parts_does_not_count_as_its_sha256(deploy_aws, monkeypatch):
    from stepdeploy.aws.artifacts import ArtifactStore, ObjectHead

    deploy_aws.put_bundle(sample_bundle(), key="uploads/sample-app.zip")
    real_head = ArtifactStore.head

    def composite(self, obj):
        head = real_head(self, obj)
        return ObjectHead(size=head.size, metadata=head.metadata, version_id=head.version_id,
                          checksum_sha256="2W9oCR2F7XRtbhrc4wnbwvZbZTZcMuJmnCqHyVTjTZw=-3")

    monkeypatch.setattr(ArtifactStore, "head", composite)
    with pytest.raises(ArtifactRejected, match=r"only the ChecksumSHA256 .*-3 of a multipart upload"):
        run("package_artifact", upload_document(deploy_aws))


def test_an_upload_whose_bytes_differ_from_its_sha256_is_refused_naming_both(deploy_aws):
    body = sample_bundle()
    declared = hashlib.sha256(b"another bundle").hexdigest()
    deploy_aws.put_bundle(body, key="uploads/sample-app.zip", metadata={"sha256": declared})
    with pytest.raises(ArtifactRejected) as refused:
        run("package_artifact", upload_document(deploy_aws))
    assert hashlib.sha256(body).hexdigest() in str(refused.value) and declared in str(refused.value)
    assert deploy_aws.keys("artifacts/") == []


def test_a_bundle_replaced_after_the_build_is_refused_naming_build_key_and_both_digests(deploy_aws):
    built = sample_bundle()
    deploy_aws.put_bundle(built)
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)  # the build reported `built`
    swapped = sample_bundle("def handler(event, context):\n    return 'pwned'\n")
    deploy_aws.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=BUNDLE_KEY, Body=swapped)
    with pytest.raises(ArtifactRejected) as refused:
        run("package_artifact", document)
    message = str(refused.value)
    assert document["build"]["build_id"] in message and BUNDLE_KEY in message
    assert hashlib.sha256(built).hexdigest() in message and hashlib.sha256(swapped).hexdigest() in message
    assert deploy_aws.keys("artifacts/") == []


def test_a_build_without_a_recorded_sha256sum_is_refused(deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)
    del document["build"]["artifact_sha256"]
    with pytest.raises(ArtifactRejected, match="no sha256sum of its artifact"):
        run("package_artifact", document)


def test_a_symlink_in_the_bundle_is_rejected(deploy_aws):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("template.yaml", "Resources: {}")
        link = zipfile.ZipInfo("src/greeter/app.py")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    deploy_aws.put_bundle(buffer.getvalue())
    with pytest.raises(ArtifactRejected, match="symbolic link"):
        run("package_artifact", document_of("package_artifact"))
    assert deploy_aws.keys("artifacts/") == []


def test_a_checksum_mismatch_with_the_object_metadata_is_rejected(deploy_aws):
    deploy_aws.put_bundle(sample_bundle(), metadata={"sha256": hashlib.sha256(b"something else").hexdigest()})
    with pytest.raises(ArtifactRejected, match="does not match its metadata sha256"):
        run("package_artifact", document_of("package_artifact"))


def test_a_matching_checksum_passes(deploy_aws):
    body = sample_bundle()
    deploy_aws.put_bundle(body, metadata={"sha256": hashlib.sha256(body).hexdigest()})
    document = run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))
    assert "GreeterCodeKey" in document["artifact"]["parameters"]


def test_a_missing_artifact_is_rejected(deploy_aws):
    with pytest.raises(ArtifactRejected, match="does not exist"):
        run("package_artifact", document_of("package_artifact"))


def test_a_bundle_without_the_template_is_rejected(deploy_aws):
    deploy_aws.put_bundle(make_bundle({"src/app.py": "x = 1"}))
    with pytest.raises(ArtifactRejected, match="no template.yaml"):
        run("package_artifact", document_of("package_artifact"))


def test_a_target_parameter_clashing_with_a_code_location_is_a_config_error(deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)
    document["request"]["target"]["parameters"]["GreeterCodeKey"] = "mine"
    with pytest.raises(ConfigurationError, match=r"\(stack sample-prod\)\.parameters: GreeterCodeKey: reserved"):
        run("package_artifact", document)


# --- the permissions boundary (stepdeploy.guards.permissions_boundary) ----------------------------------------
APP_ROLE = """\
  AppRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
"""


def with_boundary(monkeypatch) -> str:
    from stepdeploy.settings import settings

    boundary = boto3.client("iam").create_policy(
        PolicyName="stepdeploy-ApplicationBoundaryPolicy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    monkeypatch.setenv("PERMISSIONS_BOUNDARY_ARN", boundary)
    settings.cache_clear()
    return boundary


def bundle_with(resources: str) -> bytes:
    return make_bundle({
        "template.yaml": TEMPLATE + resources,
        "stepdeploy.yml": CONFIG,
        "src/greeter/app.py": "def handler(event, context):\n    return 'hello'\n",
        "src/hooks/hook.py": "def handler(event, context):\n    return None\n",
    })


def test_every_role_the_template_creates_is_deployed_under_the_orchestrators_boundary(deploy_aws, monkeypatch):
    boundary = with_boundary(monkeypatch)
    deploy_aws.put_bundle(bundle_with(APP_ROLE))
    document = run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))
    s3 = deploy_aws.client("s3")
    packaged = json.loads(s3.get_object(Bucket=ARTIFACT_BUCKET, Key=document["artifact"]["template"]["key"])["Body"]
                          .read())
    assert packaged["Resources"]["AppRole"]["Properties"]["PermissionsBoundary"] == boundary

    for step in ("create_change_set", "check_change_set", "execute_change_set", "check_stack"):
        document = run(step, document, execution_of(step))
    assert document["stack"]["status"] == "CREATE_COMPLETE"
    cfn, iam = deploy_aws.client("cloudformation"), deploy_aws.client("iam")
    role = cfn.describe_stack_resource(StackName=STACK, LogicalResourceId="AppRole")["StackResourceDetail"]
    described = iam.get_role(RoleName=role["PhysicalResourceId"])["Role"]
    assert described["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("  Admin:\n    Type: AWS::IAM::User\n",
         r"template.yaml: Admin: AWS::IAM::User: application stacks may create"),
        (APP_ROLE + "      PermissionsBoundary: arn:aws:iam::123456789012:policy/wide-open\n",
         r"template.yaml: AppRole.PermissionsBoundary: expected the orchestrator's boundary arn:aws:iam::"),
        (APP_ROLE + "      Policies:\n        - PolicyName: escalate\n          PolicyDocument:\n"
                    "            Statement: [{Effect: Allow, Action: 'iam:*', Resource: '*'}]\n",
         r"template.yaml: AppRole.Policies\[0\].PolicyDocument.Statement\[0\].Action: iam:\* grants IAM actions"),
    ],
    ids=["iam-user", "other-boundary", "iam-grant"],
)
def test_a_template_outside_the_boundary_is_refused_before_any_code_is_stored(deploy_aws, monkeypatch, resources,
                                                                               message):
    with_boundary(monkeypatch)
    deploy_aws.put_bundle(bundle_with(resources))
    with pytest.raises(ArtifactRejected, match=message):
        run("package_artifact", with_role(document_of("package_artifact"), deploy_aws.role_arn))
    assert deploy_aws.keys("artifacts/") == [] and deploy_aws.keys("templates/") == []


# --- a stage in another region: the code and template are copied into that region's code bucket -----------
STAGE_ACCOUNT = "222222222222"


def stage_client(service: str, region: str):
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{STAGE_ACCOUNT}:role/admin", RoleSessionName="test")["Credentials"]
    return boto3.client(service, region_name=region, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


@pytest.fixture()
def stage_in_eu_west_1(deploy_aws, monkeypatch):
    from stepdeploy.aws import accounts
    from stepdeploy.settings import settings

    monkeypatch.setenv("ORCHESTRATOR_ACCOUNT", "123456789012")
    monkeypatch.setenv("STAGE_ACCOUNTS", STAGE_ACCOUNT)
    monkeypatch.setenv("ORCHESTRATOR_STACK", "stepdeploy")
    settings.cache_clear()
    accounts.forget_credentials()
    for region in ("us-east-1", "eu-west-1"):  # the sample events' stepdeploy.yml gates on this alarm
        stage_client("cloudwatch", region).put_metric_alarm(
            AlarmName="GreeterErrorsAlarm", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    bucket = f"stepdeploy-code-{STAGE_ACCOUNT}-eu-west-1"
    stage_client("s3", "eu-west-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield bucket
    accounts.forget_credentials()


def in_stage(document: dict, region: str) -> dict:
    document = copy.deepcopy(document)
    document["request"]["target"].update(account=STAGE_ACCOUNT, region=region)
    return document


def test_a_stage_in_another_region_gets_a_copy_of_the_code_and_template_in_its_code_bucket(stage_in_eu_west_1,
                                                                                            deploy_aws):
    deploy_aws.put_bundle(sample_bundle())
    document = with_role(document_of("package_artifact"), deploy_aws.role_arn)
    home = run("package_artifact", in_stage(document, "us-east-1"))["artifact"]
    away = run("package_artifact", in_stage(document, "eu-west-1"))["artifact"]

    bucket = stage_in_eu_west_1
    assert "regional_copy" not in home and home["parameters"]["StepdeployArtifactBucket"] == ARTIFACT_BUCKET
    assert away["regional_copy"] == {"bucket": bucket, "key": home["template"]["key"]}
    assert away["parameters"] == {**home["parameters"], "StepdeployArtifactBucket": bucket}
    # Built once: the same template, code keys and digest in every region; only where they are read differs.
    assert (away["template"], away["code_keys"], away["digest"]) == (home["template"], home["code_keys"],
                                                                    home["digest"])
    s3 = deploy_aws.client("s3")
    regional = stage_client("s3", "eu-west-1")
    for key in [home["template"]["key"], *home["code_keys"].values()]:
        assert regional.get_object(Bucket=bucket, Key=key)["Body"].read() == \
            s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read(), key
    again = run("package_artifact", in_stage(document, "eu-west-1"))["artifact"]
    assert again == away


def test_an_image_of_another_region_is_refused_naming_the_function_and_both_regions():
    from stepdeploy.aws.accounts import Stage
    from stepdeploy.tasks.package_artifact import check_images_in_region

    stage = Stage(account=STAGE_ACCOUNT, region="eu-west-1", role_name="stepdeploy-stage")
    here = f"{STAGE_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/sample@sha256:{'a' * 64}"
    there = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/sample@sha256:{'a' * 64}"
    check_images_in_region({"Api": here, "Zip": "artifacts/x.zip"}, {"ApiImageUri": here}, stage)
    with pytest.raises(ArtifactRejected, match=r"template: Api: its image 123456789012\.dkr\.ecr\.us-east-1\..* "
                       r"is in us-east-1, but the stage deploys in eu-west-1 \(account 222222222222\)"):
        check_images_in_region({"Api": there}, {"ApiImageUri": there}, stage)
