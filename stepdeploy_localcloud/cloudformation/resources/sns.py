"""AWS::SNS::Topic and Subscription."""

from __future__ import annotations

import json
from typing import Any

from moto.core.utils import camelcase_to_underscores

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    required_property,
    tags_to_dict,
)
from stepdeploy_localcloud.cloudformation.resources.stepfunctions import (
    scalar_text,
)


class SnsTopicHandler(ResourceHandler):
    resource_type = "AWS::SNS::Topic"
    replace_on = frozenset({"TopicName", "FifoTopic"})
    name_property = "TopicName"
    _attributes = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion")

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props, max_length=256)
        backend = ctx.backend("sns")
        attributes = {k: scalar_text(props[k]) for k in self._attributes if k in props}
        topic = backend.create_topic(name, attributes=attributes, tags=tags_to_dict(props.get("Tags")))
        for subscription in props.get("Subscription") or []:
            backend.subscribe(topic.arn, subscription["Endpoint"], subscription["Protocol"])
        return Provisioned(topic.arn, {"TopicArn": topic.arn, "TopicName": name})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("sns")
        for key in self._attributes:
            if key in new and new.get(key) != old.get(key):
                backend.set_topic_attribute(current.physical_id, camelcase_to_underscores(key), scalar_text(new[key]))
        old_subs = {(s["Endpoint"], s["Protocol"]) for s in old.get("Subscription") or []}
        for subscription in new.get("Subscription") or []:
            if (subscription["Endpoint"], subscription["Protocol"]) not in old_subs:
                backend.subscribe(current.physical_id, subscription["Endpoint"], subscription["Protocol"])
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("sns").delete_topic(current.physical_id)


class SnsSubscriptionHandler(ResourceHandler):
    resource_type = "AWS::SNS::Subscription"
    replace_on = frozenset({"TopicArn", "Endpoint", "Protocol"})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = ctx.backend("sns")
        subscription = backend.subscribe(
            required_property(props, "TopicArn", ctx), props.get("Endpoint"), required_property(props, "Protocol", ctx)
        )
        for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
            if key in props:
                value = props[key]
                text = json.dumps(value) if isinstance(value, dict) else scalar_text(value)
                backend.set_subscription_attributes(subscription.arn, key, text)
        return Provisioned(subscription.arn, {"Arn": subscription.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("sns")
        for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
            if key in new and new.get(key) != old.get(key):
                value = new[key]
                backend.set_subscription_attributes(
                    current.physical_id, key, json.dumps(value) if isinstance(value, dict) else scalar_text(value)
                )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("sns").unsubscribe(current.physical_id)
