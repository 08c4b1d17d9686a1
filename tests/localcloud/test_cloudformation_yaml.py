"""The local CloudFormation's own template loader reads YAML as CloudFormation does.

It stays independent of the runtime's loader (stepdeploy/template/cfn_yaml.py), which it emulates the
service for. As CloudFormation: dates stay text, ``!GetAtt A.B.C`` names resource A, and a key written
twice keeps its last value (CloudFormation accepts the template and deploys the last one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stepdeploy_localcloud.cloudformation.package import load_template

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]

TOPIC = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"


@pytest.fixture(scope="module")
def adapters(moto_server: str) -> Iterator[str]:
    importlib.import_module("stepdeploy_localcloud.cloudformation.patch").apply()
    yield moto_server


@pytest.mark.parametrize(
    ("text", "path", "last"),
    [
        (TOPIC + "  Topic:\n    Type: AWS::SQS::Queue\n", ("Resources", "Topic", "Type"), "AWS::SQS::Queue"),
        (TOPIC + "    Properties:\n      DisplayName: a\n      DisplayName: b\n",
         ("Resources", "Topic", "Properties", "DisplayName"), "b"),
        ("Description: a\n" + TOPIC + "Description: b\n", ("Description",), "b"),
    ],
)
def test_a_key_written_twice_in_one_mapping_keeps_its_last_value(text: str, path: tuple[str, ...], last: str) -> None:
    value: Any = load_template(text)
    for key in path:
        value = value[key]
    assert value == last


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


def test_a_template_with_a_duplicate_key_deploys_its_last_value(aws: Aws, adapters: str) -> None:
    cfn = aws("cloudformation")
    body = TOPIC + "    Properties:\n      TopicName: first-name\n      TopicName: last-name\n"
    cfn.create_stack(StackName="duplicate-key", TemplateBody=body)
    resources = cfn.describe_stack_resources(StackName="duplicate-key")["StackResources"]
    assert [r["PhysicalResourceId"].rsplit(":", 1)[-1] for r in resources] == ["last-name"]
    cfn.delete_stack(StackName="duplicate-key")
