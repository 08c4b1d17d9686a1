"""Template rewrite: code locations become parameters; images must be pinned; the YAML loader."""

from __future__ import annotations

import hashlib

import pytest

from stepdeploy.errors import ArtifactRejected
from stepdeploy.template import cfn_yaml
from stepdeploy.template.bundle import (
    BUCKET_PARAMETER,
    StoredCode,
    bundle_digest,
    check_image_uri,
    mutable_tags_for,
    package_template,
)

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "a" * 64
SAM = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String}
Globals:
  Function:
    Runtime: python3.12
    CodeUri: shared/
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/greeter
      Handler: app.handler
      Environment:
        Variables:
          GREETING: !Ref Greeting
          TABLE: !GetAtt Table.Arn
  Shared:
    Type: AWS::Serverless::Function
    Properties:
      Handler: shared.handler
  Remote:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://elsewhere/code.zip
      Handler: app.handler
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-table"
"""


class FakeStore:
    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.stored: list[tuple[str, str, str]] = []

    def exists(self, path: str) -> bool:
        return (
            path in self.paths or any(p.startswith(path + "/") for p in self.paths) or (path == "" and bool(self.paths))
        )

    def __call__(self, logical_id: str, location: str, kind: str) -> StoredCode:
        self.stored.append((logical_id, location, kind))
        digest = hashlib.sha256(location.encode()).hexdigest()
        return StoredCode(key=f"artifacts/o/r/{digest}.zip", digest=digest)


def package(
    text: str, files: set[str], template_dir: str = "", branch: str | None = "main", alias: str | None = None
):
    store = FakeStore(files)
    result = package_template(
        cfn_yaml.load(text),
        template_dir=template_dir,
        bucket="art",
        store=store,
        existing=store.exists,
        mutable_tags=mutable_tags_for(branch),
        alias=alias,
    )
    return result, store


FILES = {"src/greeter/app.py", "shared/shared.py", "layer/python/lib.py"}


def test_local_code_becomes_parameters():
    result, store = package(SAM, FILES)
    resources = result.template["Resources"]
    assert resources["Greeter"]["Properties"]["CodeUri"] == {
        "Bucket": {"Ref": BUCKET_PARAMETER},
        "Key": {"Ref": "GreeterCodeKey"},
    }
    assert result.parameters[BUCKET_PARAMETER] == "art"
    assert result.parameters["GreeterCodeKey"] == result.code_keys["Greeter"]
    declared = result.template["Parameters"]
    assert declared["GreeterCodeKey"]["Type"] == "String" and BUCKET_PARAMETER in declared
    assert declared["Greeting"] == {"Type": "String"}
    assert ("Greeter", "src/greeter", "code") in store.stored


def test_globals_code_uri_is_given_to_each_function_and_removed():
    result, store = package(SAM, FILES)
    assert "CodeUri" not in result.template["Globals"]["Function"]
    assert result.template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert result.template["Resources"]["Shared"]["Properties"]["CodeUri"]["Key"] == {"Ref": "SharedCodeKey"}
    assert ("Shared", "shared", "code") in store.stored


def test_remote_and_inline_code_are_kept():
    result, _ = package(SAM, FILES)
    resources = result.template["Resources"]
    assert resources["Remote"]["Properties"]["CodeUri"] == "s3://elsewhere/code.zip"
    assert "CodeUri" not in resources["Inline"]["Properties"]
    assert "RemoteCodeKey" not in result.parameters and "InlineCodeKey" not in result.parameters


def test_layers_are_packaged_like_functions():
    result, _ = package(SAM, FILES)
    assert result.template["Resources"]["Deps"]["Properties"]["ContentUri"]["Key"] == {"Ref": "DepsCodeKey"}
    assert "Deps" in result.code_keys


def test_the_packaged_template_keeps_intrinsics_in_long_form_and_dates_as_text():
    result, _ = package(SAM, FILES)
    env = result.template["Resources"]["Greeter"]["Properties"]["Environment"]["Variables"]
    assert env == {"GREETING": {"Ref": "Greeting"}, "TABLE": {"Fn::GetAtt": ["Table", "Arn"]}}
    assert result.template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert result.template["Resources"]["Table"]["Properties"]["TableName"] == {"Fn::Sub": "${AWS::StackName}-table"}


def test_same_code_same_template_different_code_same_template():
    one, _ = package(SAM, FILES)
    two, _ = package(SAM, FILES)
    assert cfn_yaml.dump_json(one.template) == cfn_yaml.dump_json(two.template)
    assert one.parameters == two.parameters


def test_code_uri_is_relative_to_the_template():
    text = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: ../src, Handler: a.b}\n"
    result, store = package(text, {"src/a.py"}, template_dir="infra")
    assert store.stored == [("Fn", "src", "code")]
    assert "FnCodeKey" in result.parameters


def test_code_uri_outside_the_bundle_is_refused():
    text = (
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: ../../etc, Handler: a.b}\n"
    )
    with pytest.raises(ArtifactRejected, match="outside the bundle"):
        package(text, {"etc/passwd"}, template_dir="infra")


def test_missing_code_is_refused_with_its_path():
    text = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: build/fn, Handler: a.b}\n"
    with pytest.raises(ArtifactRejected, match=r"Fn.CodeUri: 'build/fn' is not in the bundle"):
        package(text, {"src/a.py"})


def test_plain_lambda_functions_with_local_code():
    text = """
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
      Handler: app.handler
  Zip:
    Type: AWS::Lambda::Function
    Properties:
      Code: {ZipFile: "def handler(e, c): pass"}
"""
    result, _ = package(text, {"src/app.py"})
    assert result.template["Resources"]["Fn"]["Properties"]["Code"] == {
        "S3Bucket": {"Ref": BUCKET_PARAMETER},
        "S3Key": {"Ref": "FnCodeKey"},
    }
    assert result.template["Resources"]["Zip"]["Properties"]["Code"] == {"ZipFile": "def handler(e, c): pass"}


IMAGE = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: {uri}
"""


def test_image_functions_pinned_by_digest_become_parameters():
    uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"
    result, store = package(IMAGE.format(uri=uri), set())
    assert result.template["Resources"]["Fn"]["Properties"]["ImageUri"] == {"Ref": "FnImageUri"}
    assert result.parameters == {"FnImageUri": uri} and result.code_keys["Fn"] == uri
    assert store.stored == [] and BUCKET_PARAMETER not in result.template["Parameters"]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest", "moving tag 'latest'"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "no tag"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:main", "moving tag 'main'"),
        ("app:1.0", "not a registry URI"),
    ],
)
def test_moving_or_missing_image_tags_are_refused(uri, message):
    with pytest.raises(ArtifactRejected, match=message):
        package(IMAGE.format(uri=uri), set(), branch="main")


def test_a_unique_tag_is_accepted():
    check_image_uri("registry.example.com:5000/team/app:6113728", "Fn", mutable_tags_for("feature/x"))
    with pytest.raises(ArtifactRejected, match="moving tag"):
        check_image_uri("registry.example.com/team/app:feature-x", "Fn", mutable_tags_for("feature/x"))


def test_plain_lambda_image_code_is_checked_too():
    text = """
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      PackageType: Image
      Code: {ImageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest}
"""
    with pytest.raises(ArtifactRejected, match="Fn.Code.ImageUri"):
        package(text, set())


def test_sam_self_versioning_is_taken_over_when_the_alias_is_stepdeploys():
    text = (
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: src, AutoPublishAlias: live, AutoPublishAliasAllProperties: true}\n"
    )
    packaged, _ = package(text, {"src/a.py"}, alias="live")
    props = packaged.template["Resources"]["Fn"]["Properties"]
    assert props["AutoPublishAlias"] == "live" and props["AutoPublishCodeSha256"] == "stepdeploy"
    assert "AutoPublishAliasAllProperties" not in props


def test_an_autopublish_alias_other_than_stepdeploys_is_refused():
    text = (
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: src, AutoPublishAlias: prod}\n"
    )
    with pytest.raises(ArtifactRejected, match="Fn.AutoPublishAlias: 'prod'.*deployment.alias is 'live'"):
        package(text, {"src/a.py"}, alias="live")


def test_codeuri_omitted_means_the_templates_folder():
    text = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: a.h}\n"
    stored: list[str] = []

    def store(logical_id, location, kind):
        stored.append(location)
        return StoredCode(key=f"k/{logical_id}.zip", digest="d")

    packaged = package_template(
        cfn_yaml.load(text), template_dir="app", bucket="b", store=store, existing=lambda p: p == "app"
    )
    assert stored == ["app"]
    assert packaged.template["Resources"]["Fn"]["Properties"]["CodeUri"]["Key"] == {"Ref": "FnCodeKey"}


def test_reserved_parameter_names_are_refused():
    text = (
        "Parameters:\n  FnCodeKey: {Type: String}\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: src, Handler: a.b}\n"
    )
    with pytest.raises(ArtifactRejected, match="'FnCodeKey' is reserved"):
        package(text, {"src/a.py"})


def test_state_machine_definitions_are_uploaded_as_files():
    text = (
        "Resources:\n  Flow:\n    Type: AWS::Serverless::StateMachine\n    Properties: {DefinitionUri: flow.asl.json}\n"
    )
    result, store = package(text, {"flow.asl.json"})
    assert store.stored == [("Flow", "flow.asl.json", "file")]
    location = result.template["Resources"]["Flow"]["Properties"]["DefinitionUri"]
    assert location["Bucket"] == {"Ref": BUCKET_PARAMETER} and location["Key"].startswith("artifacts/")


def test_bundle_digest_covers_code_and_template():
    base = bundle_digest({"A": "1", "B": "2"}, "t")
    assert base == bundle_digest({"B": "2", "A": "1"}, "t")
    assert base != bundle_digest({"A": "1", "B": "3"}, "t")
    assert base != bundle_digest({"A": "1", "B": "2"}, "u")


# --- the YAML loader ---------------------------------------------------------------------------
def test_short_forms_become_long_forms():
    template = cfn_yaml.load(
        """
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  R:
    Type: X
    Condition: IsProd
    Properties:
      A: !GetAtt Other.Outputs.Url
      B: !Sub
        - "${X}-b"
        - X: !ImportValue shared
      C: !If [IsProd, !Base64 "x", !Ref AWS::NoValue]
      D: !Select [0, !GetAZs ""]
      E: !Condition IsProd
"""
    )
    props = template["Resources"]["R"]["Properties"]
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    assert props["A"] == {"Fn::GetAtt": ["Other", "Outputs.Url"]}
    assert props["B"] == {"Fn::Sub": ["${X}-b", {"X": {"Fn::ImportValue": "shared"}}]}
    assert props["C"] == {"Fn::If": ["IsProd", {"Fn::Base64": "x"}, {"Ref": "AWS::NoValue"}]}
    assert props["D"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert props["E"] == {"Condition": "IsProd"}


def test_json_templates_are_read_too():
    assert cfn_yaml.load('{"Resources": {"R": {"Type": "X"}}}') == {"Resources": {"R": {"Type": "X"}}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources:\n  R: {Type: X}\n  R: {Type: Y}\n", "duplicate key 'R' at line 3"),
        ("Resources:\n  R: !Bogus x\n", "unknown tag !Bogus"),
        ("Resources: [unclosed\n", "not valid YAML"),
        ("- a list\n", "expected a mapping"),
        ("Parameters: {}\n", "non-empty Resources"),
    ],
)
def test_bad_templates_are_named(text, message):
    with pytest.raises(cfn_yaml.TemplateError, match=message):
        cfn_yaml.load(text)
