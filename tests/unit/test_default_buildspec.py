"""The default buildspec's post_build: what `sam build` leaves outside its output (a layer without
Metadata.BuildMethod keeps ``ContentUri: ../../layer``) is copied in, so that the bundle holds it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stepdeploy.tasks.resolve_request import default_buildspec
from stepdeploy.template import cfn_yaml
from stepdeploy.template.bundle import StoredCode, package_template

pytestmark = pytest.mark.unit

BUILT = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: ../../layer
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Fn
      Handler: app.handler
      Runtime: python3.12
      Layers:
      - !Ref Deps
"""


def test_sources_sam_build_left_outside_are_copied_into_the_build_output(tmp_path: Path) -> None:
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "deps.py").write_text("VALUE = 1\n")
    build = tmp_path / ".aws-sam" / "build"
    (build / "Fn").mkdir(parents=True)
    (build / "Fn" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (build / "template.yaml").write_text(BUILT)
    (tmp_path / "stepdeploy.yml").write_text("version: 1\n")
    commands = yaml.safe_load(default_buildspec())["phases"]["post_build"]["commands"]
    for command in commands:
        subprocess.run(["bash", "-ec", command], cwd=tmp_path, check=True, capture_output=True, text=True)

    template = (build / "template.yaml").read_text()
    assert "ContentUri: _sources/layer" in template and "CodeUri: Fn" in template
    assert (build / "_sources" / "layer" / "python" / "deps.py").read_text() == "VALUE = 1\n"
    stored: dict[str, str] = {}

    def store(logical_id: str, location: str, kind: str) -> StoredCode:
        stored[logical_id] = location
        return StoredCode(key=f"k/{logical_id}", digest="d")

    def exists(path: str) -> bool:
        return (build / path).exists()

    package_template(cfn_yaml.load(template), template_dir="", bucket="b", store=store, existing=exists)
    assert stored == {"Deps": "_sources/layer", "Fn": "Fn"}
