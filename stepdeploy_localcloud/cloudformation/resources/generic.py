"""Types moto models: a generic wrapper, with fixes where moto lacks update or delete."""

from __future__ import annotations

import copy
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ReplacementRequired,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
    as_bool,
)


class MotoModelHandler(ResourceHandler):
    """Create/update/delete through a moto CloudFormationModel class."""

    def __init__(self, resource_type: str, model: Any) -> None:
        self.resource_type = resource_type  # type: ignore[misc]
        self.model = model
        name_property = model.cloudformation_name_type() or None
        self.name_property = name_property  # type: ignore[misc]
        self.replace_on = frozenset({name_property}) if name_property else frozenset()  # type: ignore[misc]
        self.can_update = not hasattr(model.update_from_cloudformation_json, "__isabstractmethod__")
        self.can_delete = not hasattr(model.delete_from_cloudformation_json, "__isabstractmethod__")

    def _physical_name(self, ctx: ResourceContext, props: dict[str, Any]) -> str:
        from moto.cloudformation.parsing import generate_resource_name

        if self.name_property and props.get(self.name_property):
            return str(props[self.name_property])
        return generate_resource_name(self.resource_type, ctx.stack_name, ctx.logical_id)

    def _document(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"Type": self.resource_type, "Properties": copy.deepcopy(props)}

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self._physical_name(ctx, props)
        obj = self.model.create_from_cloudformation_json(
            name,
            self._document(props),
            ctx.account_id,
            ctx.region,
            LogicalId=ctx.logical_id,
            StackId=ctx.stack_id,
            ResourceType=self.resource_type,
        )
        return Provisioned(str(getattr(obj, "physical_resource_id", name)), handle=obj)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        if not self.can_update:
            raise ReplacementRequired()
        obj = self.model.update_from_cloudformation_json(
            original_resource=current.handle,
            new_resource_name=self._physical_name(ctx, new),
            cloudformation_json=self._document(new),
            account_id=ctx.account_id,
            region_name=ctx.region,
        )
        return Provisioned(str(getattr(obj, "physical_resource_id", current.physical_id)), handle=obj)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        obj = current.handle
        delete_method = getattr(obj, "delete", None)
        if callable(delete_method):
            try:
                delete_method(ctx.account_id, ctx.region)
                return
            except TypeError:
                pass
        if self.can_delete:
            self.model.delete_from_cloudformation_json(
                current.physical_id, self._document(props), ctx.account_id, ctx.region
            )

    def get_att(self, ctx: ResourceContext, current: Provisioned, attribute: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        try:
            return current.handle.get_cfn_attribute(attribute)
        except (UnformattedGetAttTemplateException, NotImplementedError, AttributeError) as error:
            raise ResourceFailure(
                f"Template error: resource {ctx.logical_id} does not support attribute type {attribute} in Fn::GetAtt"
            ) from error


class EcrRepositoryHandler(MotoModelHandler):
    """moto creates and updates repositories but never deletes them."""

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("ecr").delete_repository(
            current.physical_id, force=bool(as_bool(props.get("EmptyOnDelete", False)))
        )


class DynamoDbTableHandler(MotoModelHandler):
    """moto creates and deletes tables; updates of non-key settings go through UpdateTable."""

    replace_on = frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"})  # type: ignore[misc]

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        if new.get("GlobalSecondaryIndexes") != old.get("GlobalSecondaryIndexes"):
            raise ResourceFailure(
                f"{ctx.logical_id}: changing GlobalSecondaryIndexes is not supported by the local cloud"
            )
        backend = ctx.backend("dynamodb")
        backend.update_table(
            name=current.physical_id,
            attr_definitions=new.get("AttributeDefinitions"),
            global_index=[],
            throughput=new.get("ProvisionedThroughput"),
            billing_mode=new.get("BillingMode"),
            stream_spec=new.get("StreamSpecification"),
            deletion_protection_enabled=as_bool(new.get("DeletionProtectionEnabled")),
            warm_throughput=None,
        )
        return current
