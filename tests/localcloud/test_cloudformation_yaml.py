"""The local CloudFormation's own template loader reads YAML as CloudFormation does.

It stays independent of the runtime's loader (stepdeploy/cfn_yaml.py), which it emulates the
service for; these are the rules both follow: a key written twice is refused, dates stay text and
``!GetAtt A.B.C`` names resource A.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud.cloudformation.package import DuplicateKeyError, load_template

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]

TOPIC = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"


@pytest.fixture(scope="module")
def adapters(moto_server: str) -> Iterator[str]:
    importlib.import_module("stepdeploy_localcloud.cloudformation.patch").apply()
    yield moto_server


@pytest.mark.parametrize(
    ("text", "at", "first"),
    [
        (TOPIC + "  Topic:\n    Type: AWS::SQS::Queue\n", (4, 3), (2, 3)),  # a resource twice
        (TOPIC + "    Properties:\n      DisplayName: a\n      DisplayName: b\n", (6, 7), (5, 7)),
        (TOPIC + "    Properties:\n      DisplayName: !Join\n        - ''\n        - {a: 1, a: 2}\n", (7, 18), (7, 12)),
        ("Description: a\n" + TOPIC + "Description: b\n", (5, 1), (1, 1)),  # a top-level section twice
    ],
)
def test_a_key_written_twice_in_one_mapping_is_refused_naming_both_places(
    text: str, at: tuple[int, int], first: tuple[int, int]
) -> None:
    with pytest.raises(DuplicateKeyError) as refused:
        load_template(text)
    assert str(refused.value).startswith(f"YAML not well-formed. (line {at[0]}, column {at[1]}): duplicate key ")
    assert str(refused.value).endswith(f"(first at line {first[0]}, column {first[1]})")


def test_equal_keys_in_different_mappings_and_a_merged_key_overridden_are_not_duplicates() -> None:
    template = load_template(
        "Defaults: &defaults {Timeout: 3, MemorySize: 128}\n"
        "Resources:\n"
        "  A:\n    Type: T\n    Properties: {Name: a}\n"
        "  B:\n    Type: T\n    Properties:\n      <<: *defaults\n      Timeout: 10\n      Name: b\n"
    )
    assert template["Resources"]["A"]["Properties"] == {"Name": "a"}
    assert template["Resources"]["B"]["Properties"] == {"Timeout": 10, "MemorySize": 128, "Name": "b"}


def test_dates_stay_strings_as_cloudformation_reads_them() -> None:
    template = load_template(
        "AWSTemplateFormatVersion: 2010-09-09\n"
        + TOPIC
        + "    Properties:\n      DisplayName: 2024-01-31T10:00:00Z\n      TopicName: !Sub 2024-01-31\n"
    )
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    properties = template["Resources"]["Topic"]["Properties"]
    assert properties["DisplayName"] == "2024-01-31T10:00:00Z"
    assert properties["TopicName"] == {"Fn::Sub": "2024-01-31"}


def test_get_att_short_form_splits_at_the_first_dot() -> None:
    template = load_template(
        TOPIC + "Outputs:\n  Nested:\n    Value: !GetAtt Child.Outputs.BucketName\n"
        "  Plain:\n    Value: !GetAtt Topic.TopicName\n"
    )
    assert template["Outputs"]["Nested"]["Value"] == {"Fn::GetAtt": ["Child", "Outputs.BucketName"]}
    assert template["Outputs"]["Plain"]["Value"] == {"Fn::GetAtt": ["Topic", "TopicName"]}


def test_a_template_with_a_duplicate_key_is_a_template_format_error(aws: Aws, adapters: str) -> None:
    cfn = aws("cloudformation")
    body = TOPIC + "    Properties:\n      DisplayName: a\n      DisplayName: b\n"
    refused = r"Template format error: YAML not well-formed\. \(line 6, column 7\)"
    with pytest.raises(ClientError, match=refused) as error:
        cfn.create_change_set(StackName="duplicate-key", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body)
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert "duplicate key 'DisplayName'" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="Template format error: YAML not well-formed"):
        cfn.create_stack(StackName="duplicate-key", TemplateBody=body)
    stacks = cfn.list_stacks()["StackSummaries"]
    assert [s for s in stacks if s["StackName"] == "duplicate-key"] == []  # nothing was created
    once = TOPIC + "    Properties:\n      DisplayName: a\n"
    assert json.loads(json.dumps(load_template(once)))["Resources"]["Topic"]["Properties"] == {"DisplayName": "a"}
