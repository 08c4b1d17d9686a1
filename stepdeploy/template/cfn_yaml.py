"""CloudFormation templates: YAML with short-form tags (``!Ref``, ``!Sub``...) read into long form.

The Lambda layer carries PyYAML but not cfn-lint, so this is the small loader the pipeline needs:
short-form intrinsic functions become their long form (``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A",
"B"]}``), dates stay strings (``AWSTemplateFormatVersion: 2010-09-09``). A key written twice in one
mapping is refused: CloudFormation would deploy the last one silently while a reviewer reads the first
(cfn-lint calls it an error too). Packaged templates are written as JSON, which CloudFormation reads.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# Every short form CloudFormation documents; the rest are Fn::<Name>.
_SHORT_FORMS = (
    "Ref",
    "Condition",
    "GetAtt",
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
)


class TemplateError(ValueError):
    """The template text is not a CloudFormation template we can read."""


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise TemplateError(
                f"duplicate key {key!r} at line {mark.line + 1}, column {mark.column + 1}: CloudFormation would "
                "keep only the last one silently; write each key once"
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


def _short_form(name: str) -> Any:
    def construct(loader: _Loader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = _construct_mapping(loader, node, deep=True)  # type: ignore[arg-type]
        if name in ("Ref", "Condition"):
            return {name: value}
        if name == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        return {f"Fn::{name}": value}

    return construct


def _unknown_tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    mark = node.start_mark
    raise TemplateError(f"unknown tag !{suffix} at line {mark.line + 1}, column {mark.column + 1}")


def _timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
for _name in _SHORT_FORMS:
    _Loader.add_constructor(f"!{_name}", _short_form(_name))
_Loader.add_multi_constructor("!", _unknown_tag)


def load(text: str | bytes) -> dict[str, Any]:
    """Parse a template (JSON, or YAML with short-form tags) into long-form dicts."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"not UTF-8 text: {exc}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    else:
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise TemplateError(f"not valid YAML{where}: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise TemplateError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"expected a mapping at the top level, got {type(data).__name__}")
    if not isinstance(data.get("Resources"), dict) or not data["Resources"]:
        raise TemplateError("expected a non-empty Resources mapping")
    return data


def dump_json(template: dict[str, Any]) -> str:
    """The template as JSON text; the same template gives the same text."""
    return json.dumps(template, indent=1, ensure_ascii=False) + "\n"
