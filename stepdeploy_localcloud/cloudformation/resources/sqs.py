"""AWS::SQS::QueuePolicy (queues themselves are moto's model, see generic.py)."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    policy_text,
    required_property,
)


class SqsQueuePolicyHandler(ResourceHandler):
    """Sets the queues' Policy attribute; the local cloud does not enforce resource policies."""

    resource_type = "AWS::SQS::QueuePolicy"

    def _apply(self, ctx: ResourceContext, queues: list[str], document: Any) -> None:
        backend = ctx.backend("sqs")
        for url in queues:
            name = str(url).rstrip("/").rsplit("/", 1)[-1]
            backend.set_queue_attributes(name, {"Policy": policy_text(document) if document else ""})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        queues = [str(q) for q in required_property(props, "Queues", ctx)]
        self._apply(ctx, queues, required_property(props, "PolicyDocument", ctx))
        return Provisioned(ctx.generated_name(), handle=queues)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        queues = [str(q) for q in new["Queues"]]
        self._apply(ctx, [q for q in current.handle if q not in queues], None)
        self._apply(ctx, queues, new["PolicyDocument"])
        return Provisioned(current.physical_id, handle=queues)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        self._apply(ctx, current.handle, None)
