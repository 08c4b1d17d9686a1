"""AWS::S3::Bucket and BucketPolicy."""

from __future__ import annotations

import json
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_bool,
    required_property,
    tags_to_dict,
)


def _s3_filter(rule_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rule_filter or "S3Key" not in rule_filter:
        return None
    rules = rule_filter["S3Key"].get("Rules") or []
    return {"S3Key": {"FilterRule": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}


def _s3_notifications(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    result: dict[str, Any] = {}
    eventbridge = config.get("EventBridgeConfiguration") or {}
    if as_bool(eventbridge.get("EventBridgeEnabled", bool(eventbridge))):
        result["EventBridgeConfiguration"] = {}
    for cfn_key, api_key, target in (
        ("TopicConfigurations", "TopicConfiguration", "Topic"),
        ("QueueConfigurations", "QueueConfiguration", "Queue"),
        ("LambdaConfigurations", "CloudFunctionConfiguration", "Function"),
    ):
        entries = config.get(cfn_key) or []
        if entries:
            api_target = "CloudFunction" if target == "Function" else target
            result[api_key] = [
                {api_target: e[target], "Event": [e["Event"]], "Filter": _s3_filter(e.get("Filter"))} for e in entries
            ]
    return result or None


class S3BucketHandler(ResourceHandler):
    resource_type = "AWS::S3::Bucket"
    replace_on = frozenset({"BucketName"})
    name_property = "BucketName"

    def _configure(self, ctx: ResourceContext, name: str, props: dict[str, Any], old: dict[str, Any]) -> None:
        backend = ctx.backend("s3")
        if props.get("NotificationConfiguration") != old.get("NotificationConfiguration"):
            backend.put_bucket_notification_configuration(
                name, _s3_notifications(props.get("NotificationConfiguration")) or {}
            )
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning != (old.get("VersioningConfiguration") or {}).get("Status") and versioning:
            backend.put_bucket_versioning(name, versioning)
        if props.get("Tags") != old.get("Tags"):
            backend.put_bucket_tagging(name, tags_to_dict(props.get("Tags")))
        if props.get("BucketEncryption") != old.get("BucketEncryption") and props.get("BucketEncryption"):
            from moto.s3.cloud_formation import cfn_to_api_encryption

            backend.put_bucket_encryption(name, cfn_to_api_encryption(props["BucketEncryption"]))

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props, max_length=63, lowercase=True)
        bucket = ctx.backend("s3").create_bucket(name, ctx.region)
        self._configure(ctx, name, props, {})
        return Provisioned(
            name,
            {
                "Arn": bucket.arn,
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.amazonaws.com",
            },
        )

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        self._configure(ctx, current.physical_id, new, old)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("s3").delete_bucket(current.physical_id)


class S3BucketPolicyHandler(ResourceHandler):
    resource_type = "AWS::S3::BucketPolicy"
    replace_on = frozenset({"Bucket"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        bucket = required_property(props, "Bucket", ctx)
        document = required_property(props, "PolicyDocument", ctx)
        ctx.backend("s3").put_bucket_policy(bucket, json.dumps(document).encode())
        return Provisioned(bucket)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self.create(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("s3").delete_bucket_policy(current.physical_id)
