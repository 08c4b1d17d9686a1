"""What every resource handler builds on: the context, the result, the handler base class, the errors
and the property helpers (tags, names, policies, S3 objects)."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any, ClassVar

from moto.moto_api._internal import mock_random

from stepdeploy_localcloud.backends import backend


class ResourceFailure(Exception):
    """A resource operation failed; the message becomes the resource's status reason."""


class ReplacementRequired(Exception):
    """Raised by a handler's update when the change can only be made by replacing the resource."""


@dataclass
class ResourceContext:
    account_id: str
    region: str
    stack_name: str
    stack_id: str
    logical_id: str
    resource_type: str
    stack_tags: dict[str, str] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return "aws"

    def backend(self, service: str) -> Any:
        """moto's backend of ``service`` for this resource's account and region."""
        return backend(service, self.account_id, self.region)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    def generated_name(self, *, max_length: int = 64, lowercase: bool = False, with_stack: bool = True) -> str:
        """A physical name as CloudFormation makes one: <stack>-<logical id>-<12 random characters>."""
        suffix = random_suffix()
        prefix = f"{self.stack_name}-{self.logical_id}" if with_stack else self.logical_id
        prefix = prefix[: max_length - len(suffix) - 1].rstrip("-")
        name = f"{prefix}-{suffix}"
        return name.lower() if lowercase else name

    def system_tags(self) -> dict[str, str]:
        return {
            **self.stack_tags,
            "aws:cloudformation:stack-name": self.stack_name,
            "aws:cloudformation:stack-id": self.stack_id,
            "aws:cloudformation:logical-id": self.logical_id,
        }


@dataclass
class Provisioned:
    """A resource that exists: its Ref value, its Fn::GetAtt values, and the handler's own state."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    handle: Any = None


class ResourceHandler:
    resource_type: ClassVar[str] = ""
    # Properties whose change means a new physical resource (AWS "Update requires: Replacement").
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # Every property change replaces the resource (e.g. AWS::Lambda::Version).
    immutable: ClassVar[bool] = False
    # The property that names the resource; when given, a replacement cannot happen.
    name_property: ClassVar[str | None] = None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        raise NotImplementedError

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        raise ReplacementRequired()

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def physical_name(
        self,
        ctx: ResourceContext,
        props: dict[str, Any],
        *,
        max_length: int = 64,
        lowercase: bool = False,
        with_stack: bool = True,
    ) -> Any:
        """The name the template gives (``name_property``), else one CloudFormation makes (``generated_name``)."""
        given = props.get(self.name_property) if self.name_property else None
        return given or ctx.generated_name(max_length=max_length, lowercase=lowercase, with_stack=with_stack)

    def get_att(self, ctx: ResourceContext, current: Provisioned, attribute: str) -> Any:
        if attribute in current.attributes:
            return current.attributes[attribute]
        raise ResourceFailure(
            f"Template error: resource {ctx.logical_id} does not support attribute type {attribute} in Fn::GetAtt"
        )

    def requires_replacement(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        if self.immutable:
            return old != new
        return any(old.get(name) != new.get(name) for name in self.replace_on)


def random_suffix(size: int = 12) -> str:
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits
    return "".join(mock_random.choice(alphabet) for _ in range(size))


def tags_to_dict(tags: Any) -> dict[str, str]:
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags}


def tags_to_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def as_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def camel_keys(value: Any, renames: dict[str, str] | None = None) -> Any:
    """CloudFormation's PascalCase property names to the camelCase of the service API."""
    renames = renames or {}
    if isinstance(value, dict):
        return {renames.get(k, k[:1].lower() + k[1:]): camel_keys(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v, renames) for v in value]
    return value


def s3_object_text(ctx: ResourceContext, bucket: str, key: str, version: str | None = None) -> str:
    obj = ctx.backend("s3").get_object(bucket, key, version_id=version)
    if obj is None:
        raise ResourceFailure(f"S3 object s3://{bucket}/{key} does not exist")
    return obj.value.decode("utf-8")


def policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def required_property(props: dict[str, Any], name: str, ctx: ResourceContext) -> Any:
    if props.get(name) in (None, ""):
        raise ResourceFailure(
            f"Properties validation failed for resource {ctx.logical_id} with message: "
            f"#: required key [{name}] not found"
        )
    return props[name]
