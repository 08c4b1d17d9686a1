"""A stage outside the orchestrator's region: container-image functions must name an ECR image of that
region (Lambda pulls images only from its own region), checked on the repository's template before the
build (stepdeploy.guards.target_checks) and on the packaged one (Package artifact)."""

from __future__ import annotations

from typing import Any

import pytest

from stepdeploy.errors import ConfigurationError
from stepdeploy.guards.target_checks import check_images_in_region, image_region

pytestmark = pytest.mark.unit

HERE = f"222222222222.dkr.ecr.eu-west-1.amazonaws.com/greeter@sha256:{'a' * 64}"
THERE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/greeter@sha256:{'a' * 64}"


def template(**functions: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {lid: {"Type": kind, "Properties": props} for lid, (kind, props) in functions.items()}}


def check(tpl: dict[str, Any]) -> None:
    check_images_in_region(tpl, "eu-west-1", template_name="template.yaml", where="stepdeploy.yml: targets (stack s)")


def test_the_region_of_an_ecr_image():
    assert image_region(HERE) == "eu-west-1"
    assert image_region(THERE) == "us-east-1"
    assert image_region("public.ecr.aws/lambda/python:3.12") is None
    assert image_region({"Ref": "GreeterImage"}) is None


def test_zip_functions_and_images_of_the_stages_region_pass():
    check(template(
        Zip=("AWS::Serverless::Function", {"CodeUri": "greeter/", "Handler": "app.handler"}),
        Image=("AWS::Serverless::Function", {"PackageType": "Image", "ImageUri": HERE}),
        Plain=("AWS::Lambda::Function", {"PackageType": "Image", "Code": {"ImageUri": HERE}}),
    ))


@pytest.mark.parametrize(
    ("functions", "expected"),
    [
        ({"Api": ("AWS::Serverless::Function", {"PackageType": "Image", "ImageUri": THERE})},
         r"stepdeploy.yml: targets \(stack s\).region: template.yaml: Api is a container-image function with an "
         r"image in us-east-1, but the stack deploys in eu-west-1"),
        ({"Api": ("AWS::Lambda::Function", {"PackageType": "Image", "Code": {"ImageUri": {"Ref": "Image"}}})},
         r"Api is a container-image function with the image \{'Ref': 'Image'\}, not an ECR image of a known region"),
    ],
)
def test_an_image_of_another_region_or_unknown_is_refused_naming_the_function(functions, expected):
    with pytest.raises(ConfigurationError, match=expected):
        check(template(**functions))


def test_globals_make_a_function_an_image_function():
    tpl = template(Api=("AWS::Serverless::Function", {}))
    tpl["Globals"] = {"Function": {"PackageType": "Image", "ImageUri": THERE}}
    with pytest.raises(ConfigurationError, match="Api is a container-image function with an image in us-east-1"):
        check(tpl)
