"""CloudFormation that deploys SAM templates for real.

moto 5.2.5 ignores ``Transform: AWS::Serverless-2016-10-31`` (CREATE_COMPLETE, nothing created),
skips resource types it has no model for, never rolls back and cannot update most resources.
This adapter takes over CreateStack, UpdateStack, CreateChangeSet, DescribeChangeSet,
ListChangeSets, DeleteChangeSet, ExecuteChangeSet, DeleteStack and the stack resource views:

- templates are parsed (short-form tags too), SAM templates transformed with aws-sam-translator;
- capabilities are checked as AWS checks them;
- change sets list real Add/Modify/Remove changes, and one without changes ends FAILED with
  AWS's reason;
- resources are created, updated in place, replaced and deleted in dependency order through
  the service backends (handlers in ``stepdeploy_localcloud.cloudformation.resources``), with per-resource
  stack events; a failure rolls the stack back (ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE);
- a resource type nobody can deploy fails the stack naming the type and logical id."""

from __future__ import annotations

import copy
import logging
from typing import Any

from moto.cloudformation.models import Export
from moto.core.exceptions import ServiceException
from moto.core.utils import utcnow

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.cloudformation.errors import (
    TemplateError,
)
from stepdeploy_localcloud.cloudformation.models import (
    LocalStack,
    ResourceChange,
    StackResource,
)
from stepdeploy_localcloud.cloudformation.resources import handler_for
from stepdeploy_localcloud.cloudformation.resources.base import (
    ReplacementRequired,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
)
from stepdeploy_localcloud.cloudformation.template import (
    UNKNOWN,
    IntrinsicResolver,
    TemplatePlan,
    contains_unknown,
    intrinsic_text,
    pseudo_parameters,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# The deployment engine
# ------------------------------------------------------------------------------------------


class UnsupportedResourceType(ResourceFailure):
    pass


def describe_error(error: BaseException) -> str:
    if isinstance(error, ServiceException):
        return f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.code})'
    if hasattr(error, "error_type") and hasattr(error, "message"):  # moto's (Json)RESTError
        return f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.error_type})'
    if isinstance(error, ValueError) and len(error.args) == 2 and str(error.args[0]).endswith("Exception"):
        # moto's Lambda raises ValueError(<error code>, <message>) for invalid parameters.
        return f'Resource handler returned message: "{error.args[1]}" (HandlerErrorCode: {error.args[0]})'
    if isinstance(error, (ResourceFailure, TemplateError)):
        return str(error)
    if isinstance(error, KeyError):
        return (
            f'Resource handler returned message: "the handler needs the property or value {error}, which is '
            'missing" (HandlerErrorCode: InvalidRequest)'
        )
    text = str(error) or type(error).__name__
    return f'Resource handler returned message: "{text}" (HandlerErrorCode: InternalFailure)'


class Deployment:
    """Creates, updates and deletes one stack's resources, with events and rollback."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.backend = backends.backend("cloudformation", stack.account_id, stack.region_name)

    # helpers ------------------------------------------------------------------------------
    def context(self, logical_id: str, resource_type: str) -> ResourceContext:
        return ResourceContext(
            account_id=self.stack.account_id,
            region=self.stack.region_name,
            stack_name=self.stack.name,
            stack_id=self.stack.stack_id,
            logical_id=logical_id,
            resource_type=resource_type,
            stack_tags=dict(self.stack.tags or {}),
        )

    @staticmethod
    def handler(logical_id: str, resource_type: str) -> ResourceHandler:
        handler = handler_for(resource_type)
        if handler is None:
            raise UnsupportedResourceType(
                f"Resource type {resource_type} of resource {logical_id} is not supported by the local "
                "cloud's CloudFormation (neither moto nor stepdeploy_localcloud.cloudformation.resources can deploy it)"
            )
        return handler

    def resolver(
        self,
        plan: TemplatePlan,
        live: dict[str, StackResource],
        *,
        preview: bool = False,
        pending: set[str] | None = None,
    ) -> IntrinsicResolver:
        pseudo = pseudo_parameters(self.stack.account_id, self.stack.region_name, self.stack.name, self.stack.stack_id)
        values = {**pseudo, **plan.parameters.typed}
        pending = pending if pending is not None else set()

        def ref(name: str) -> Any:
            if name in values:
                return values[name]
            if name in live and name not in pending:
                return live[name].physical_resource_id
            if preview and name in plan.template["Resources"]:
                return UNKNOWN
            raise TemplateError(f"Template format error: Unresolved resource dependencies [{name}]")

        def get_att(name: str, attribute: str) -> Any:
            if name in live and name not in pending:
                record = live[name]
                handler = self.handler(name, record.cf_resource_type)
                return handler.get_att(self.context(name, record.cf_resource_type), record.provisioned, attribute)
            if preview and name in plan.template["Resources"]:
                return UNKNOWN
            raise TemplateError(f"Template error: instance of Fn::GetAtt references undefined resource {name}")

        def import_value(name: str) -> Any:
            export = self.backend.exports.get(name)
            if export is None:
                raise TemplateError(f"No export named {name} found.")
            return export.value

        return IntrinsicResolver(
            ref=ref,
            get_att=get_att,
            conditions=plan.conditions,
            mappings=plan.template.get("Mappings") or {},
            import_value=import_value,
            region=self.stack.region_name,
        )

    def _properties(self, resolver: IntrinsicResolver, plan: TemplatePlan, logical_id: str) -> dict[str, Any]:
        return resolver.resolve(plan.resource(logical_id).get("Properties") or {}) or {}

    # change set preview ---------------------------------------------------------------------
    def preview_changes(self, plan: TemplatePlan) -> list[ResourceChange]:
        old = dict(self.stack.resources)
        changed: set[str] = set()  # resources whose Ref/GetAtt values may change
        resolver = self.resolver(plan, old, preview=True, pending=changed)
        changes: list[ResourceChange] = []
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            if logical_id not in old:
                changes.append(ResourceChange("Add", logical_id, resource_type))
                changed.add(logical_id)
                continue
            record = old[logical_id]
            new_props = self._properties(resolver, plan, logical_id)
            if record.cf_resource_type != resource_type:
                raise TemplateError(
                    f"Update of resource type is not permitted. The new template modifies resource type of "
                    f"resource [{logical_id}]."
                )
            if new_props == record.properties:
                continue
            handler = self.handler(logical_id, resource_type)
            replacement = _replacement(handler, record.properties, new_props)
            if replacement != "False":
                changed.add(logical_id)
            names = sorted(
                k for k in set(record.properties) | set(new_props) if record.properties.get(k) != new_props.get(k)
            )
            details = [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": name,
                        "RequiresRecreation": "Always"
                        if _replacement(handler, {name: record.properties.get(name)}, {name: new_props.get(name)})
                        == "True"
                        else "Never",
                    },
                    "Evaluation": "Dynamic" if contains_unknown(new_props.get(name)) else "Static",
                    "ChangeSource": "ResourceReference"
                    if contains_unknown(new_props.get(name))
                    else "DirectModification",
                }
                for name in names
            ]
            changes.append(
                ResourceChange(
                    "Modify",
                    logical_id,
                    resource_type,
                    record.physical_resource_id,
                    replacement,
                    ["Properties"],
                    details,
                )
            )
        for logical_id, record in old.items():
            if logical_id not in plan.order:
                changes.append(
                    ResourceChange("Remove", logical_id, record.cf_resource_type, record.physical_resource_id)
                )
        return changes

    # create -----------------------------------------------------------------------------------
    def create(self, plan: TemplatePlan, *, disable_rollback: bool = False) -> None:
        stack = self.stack
        stack.plan = plan
        stack.template = plan.original_body
        stack.stack_event("CREATE_IN_PROGRESS", "User Initiated")
        live: dict[str, StackResource] = {}
        resolver = self.resolver(plan, live)
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            props: dict[str, Any] | None = None
            try:
                props = self._properties(resolver, plan, logical_id)
                live[logical_id] = self._create_resource(plan, logical_id, resource_type, props)
            except Exception as error:  # noqa: BLE001 - every failure becomes the resource's reason
                log.info("creating %s (%s) failed", logical_id, resource_type, exc_info=True)
                stack.resource_event(logical_id, resource_type, None, "CREATE_FAILED", describe_error(error), props)
                stack.resources = live
                reason = f"The following resource(s) failed to create: [{logical_id}]. "
                if disable_rollback:
                    stack.stack_event("CREATE_FAILED", reason)
                    return
                stack.stack_event("ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
                failed = self._delete_resources(live, list(reversed(plan.order)), rollback=True)
                stack.resources = {lid: live[lid] for lid in failed}
                stack.stack_event("ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE")
                return
        self._deployed(plan, live)
        stack.stack_event("CREATE_COMPLETE")

    def _create_resource(
        self, plan: TemplatePlan, logical_id: str, resource_type: str, props: dict[str, Any]
    ) -> StackResource:
        handler = self.handler(logical_id, resource_type)
        self.stack.resource_event(logical_id, resource_type, None, "CREATE_IN_PROGRESS", None, props)
        provisioned = handler.create(self.context(logical_id, resource_type), copy.deepcopy(props))
        self.stack.resource_event(
            logical_id,
            resource_type,
            provisioned.physical_id,
            "CREATE_IN_PROGRESS",
            "Resource creation Initiated",
            props,
        )
        record = StackResource(
            logical_id,
            resource_type,
            provisioned,
            props,
            plan.resource(logical_id).get("DeletionPolicy"),
            "CREATE_COMPLETE",
        )
        self.stack.resource_event(logical_id, resource_type, provisioned.physical_id, "CREATE_COMPLETE", None, props)
        return record

    # update -----------------------------------------------------------------------------------
    def update(self, plan: TemplatePlan) -> None:
        stack = self.stack
        old_plan = stack.plan
        old = dict(stack.resources)
        live = dict(old)
        journal: list[tuple[str, str, StackResource | None, StackResource]] = []  # (action, id, before, after)
        stack.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
        resolver = self.resolver(plan, live)
        for logical_id in plan.order:
            resource_type = plan.resource_types[logical_id]
            props: dict[str, Any] | None = None
            try:
                props = self._properties(resolver, plan, logical_id)
                before = old.get(logical_id)
                if before is None:
                    live[logical_id] = self._create_resource(plan, logical_id, resource_type, props)
                    journal.append(("created", logical_id, None, live[logical_id]))
                    continue
                if before.cf_resource_type != resource_type:
                    raise TemplateError(f"Update of resource type is not permitted for resource [{logical_id}]")
                deletion_policy = plan.resource(logical_id).get("DeletionPolicy")
                if props == before.properties:
                    before.deletion_policy = deletion_policy
                    continue
                after, action = self._update_resource(logical_id, before, props)
                after.deletion_policy = deletion_policy
                live[logical_id] = after
                journal.append((action, logical_id, before, after))
            except Exception as error:  # noqa: BLE001 - every failure becomes the resource's reason
                log.info("updating %s (%s) failed", logical_id, resource_type, exc_info=True)
                physical = old[logical_id].physical_resource_id if logical_id in old else None
                failed_status = "UPDATE_FAILED" if logical_id in old else "CREATE_FAILED"
                stack.resource_event(logical_id, resource_type, physical, failed_status, describe_error(error), props)
                self._journal_partial_update(journal, old.get(logical_id), props)
                verb = "update" if logical_id in old else "create"
                self._roll_back_update(
                    old, live, journal, f"The following resource(s) failed to {verb}: [{logical_id}]. "
                )
                return
        stack.stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        old_order = old_plan.order if old_plan else list(old)
        removed = [lid for lid in reversed(old_order) if lid in old and lid not in plan.order]
        replaced = {lid: before for action, lid, before, _ in journal if action == "replaced" and before}
        self._delete_resources(replaced, list(replaced), rollback=False)
        self._delete_resources(old, removed, rollback=False)
        stack.last_updated_time = utcnow()
        self._deployed(plan, {lid: live[lid] for lid in plan.order})
        stack.stack_event("UPDATE_COMPLETE")

    def _deployed(self, plan: TemplatePlan, resources: dict[str, StackResource]) -> None:
        """The stack as ``plan`` left it: its resources, template, description and outputs."""
        stack = self.stack
        stack.resources = resources
        stack.plan = plan
        stack.template = plan.original_body
        stack.description = plan.template.get("Description")
        self._set_outputs(plan, resources)

    @staticmethod
    def _journal_partial_update(
        journal: list[tuple[str, str, StackResource | None, StackResource]],
        before: StackResource | None,
        props: dict[str, Any] | None,
    ) -> None:
        """An in-place update that failed half-way is undone with the others."""
        if before is None or props is None or props == before.properties:
            return
        handler = handler_for(before.cf_resource_type)
        if handler is None or handler.requires_replacement(before.properties, props):
            return
        partial = StackResource(
            before.logical_resource_id,
            before.cf_resource_type,
            before.provisioned,
            props,
            before.deletion_policy,
            "UPDATE_FAILED",
        )
        journal.append(("updated", before.logical_resource_id, before, partial))

    def _update_resource(
        self, logical_id: str, before: StackResource, props: dict[str, Any]
    ) -> tuple[StackResource, str]:
        resource_type = before.cf_resource_type
        handler = self.handler(logical_id, resource_type)
        ctx = self.context(logical_id, resource_type)
        stack = self.stack
        replace = handler.requires_replacement(before.properties, props)
        if not replace:
            stack.resource_event(
                logical_id, resource_type, before.physical_resource_id, "UPDATE_IN_PROGRESS", None, props
            )
            try:
                provisioned = handler.update(ctx, before.provisioned, before.properties, copy.deepcopy(props))
            except ReplacementRequired:
                replace = True
            else:
                after = StackResource(
                    logical_id, resource_type, provisioned, props, before.deletion_policy, "UPDATE_COMPLETE"
                )
                stack.resource_event(logical_id, resource_type, provisioned.physical_id, "UPDATE_COMPLETE", None, props)
                return after, "updated"
        name_property = handler.name_property
        if (
            name_property
            and props.get(name_property)
            and props.get(name_property) == before.properties.get(name_property)
        ):
            raise ResourceFailure(
                f"CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {props[name_property]} and update the stack again."
            )
        stack.resource_event(
            logical_id,
            resource_type,
            before.physical_resource_id,
            "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.",
            props,
        )
        provisioned = handler.create(ctx, copy.deepcopy(props))
        after = StackResource(logical_id, resource_type, provisioned, props, before.deletion_policy, "UPDATE_COMPLETE")
        stack.resource_event(logical_id, resource_type, provisioned.physical_id, "UPDATE_COMPLETE", None, props)
        return after, "replaced"

    def _roll_back_update(
        self,
        old: dict[str, StackResource],
        live: dict[str, StackResource],
        journal: list[tuple[str, str, StackResource | None, StackResource]],
        reason: str,
    ) -> None:
        stack = self.stack
        stack.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", reason)
        to_delete: dict[str, StackResource] = {}
        rollback_failed = False
        for action, logical_id, before, after in reversed(journal):
            if action in ("created", "replaced"):
                to_delete[logical_id] = after
                continue
            assert before is not None
            handler = self.handler(logical_id, before.cf_resource_type)
            stack.resource_event(
                logical_id,
                before.cf_resource_type,
                after.physical_resource_id,
                "UPDATE_IN_PROGRESS",
                None,
                before.properties,
            )
            try:
                handler.update(
                    self.context(logical_id, before.cf_resource_type),
                    after.provisioned,
                    after.properties,
                    copy.deepcopy(before.properties),
                )
            except Exception as error:  # noqa: BLE001
                rollback_failed = True
                stack.resource_event(
                    logical_id,
                    before.cf_resource_type,
                    after.physical_resource_id,
                    "UPDATE_FAILED",
                    describe_error(error),
                )
            else:
                stack.resource_event(
                    logical_id,
                    before.cf_resource_type,
                    before.physical_resource_id,
                    "UPDATE_COMPLETE",
                    None,
                    before.properties,
                )
        if rollback_failed:
            stack.resources = {**old, **{lid: live[lid] for lid in to_delete}}
            stack.stack_event("UPDATE_ROLLBACK_FAILED")
            return
        stack.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        self._delete_resources(to_delete, list(to_delete), rollback=True)
        stack.resources = old
        stack.stack_event("UPDATE_ROLLBACK_COMPLETE")

    # delete -----------------------------------------------------------------------------------
    def _delete_resources(self, records: dict[str, StackResource], order: list[str], *, rollback: bool) -> list[str]:
        """Delete records in order; return the logical ids that failed to delete."""
        failed = []
        for logical_id in order:
            record = records.get(logical_id)
            if record is None:
                continue
            resource_type = record.cf_resource_type
            physical = record.physical_resource_id
            if record.deletion_policy in ("Retain", "RetainExceptOnCreate") and not (
                rollback and record.deletion_policy == "RetainExceptOnCreate"
            ):
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_SKIPPED")
                continue
            self.stack.resource_event(logical_id, resource_type, physical, "DELETE_IN_PROGRESS")
            try:
                self.handler(logical_id, resource_type).delete(
                    self.context(logical_id, resource_type), record.provisioned, record.properties
                )
            except Exception as error:  # noqa: BLE001
                log.info("deleting %s (%s) failed", logical_id, resource_type, exc_info=True)
                failed.append(logical_id)
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_FAILED", describe_error(error))
            else:
                self.stack.resource_event(logical_id, resource_type, physical, "DELETE_COMPLETE")
        return failed

    def delete_all(self) -> None:
        stack = self.stack
        stack.stack_event("DELETE_IN_PROGRESS", "User Initiated")
        order = [lid for lid in reversed(stack.plan.order) if lid in stack.resources] if stack.plan else []
        order += [lid for lid in stack.resources if lid not in order]
        failed = self._delete_resources(stack.resources, order, rollback=False)
        if failed:
            stack.resources = {lid: stack.resources[lid] for lid in failed}
            stack.stack_event("DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
            return
        stack.resources = {}
        stack.stack_event("DELETE_COMPLETE")

    # outputs ----------------------------------------------------------------------------------
    def _set_outputs(self, plan: TemplatePlan, live: dict[str, StackResource]) -> None:
        resolver = self.resolver(plan, live)
        outputs, exports = [], []
        for key, output in (plan.template.get("Outputs") or {}).items():
            condition = output.get("Condition")
            if condition and not plan.conditions.get(condition, False):
                continue
            try:
                value = resolver.resolve(output.get("Value"))
                export_name = resolver.resolve((output.get("Export") or {}).get("Name"))
            except Exception as error:  # noqa: BLE001 - an output that cannot resolve is shown empty
                log.warning("output %s of stack %s: %s", key, self.stack.name, error)
                continue
            text = ",".join(map(intrinsic_text, value)) if isinstance(value, list) else intrinsic_text(value)
            outputs.append(
                {
                    "OutputKey": key,
                    "OutputValue": text,
                    "Description": output.get("Description"),
                    "ExportName": export_name,
                }
            )
            if export_name:
                exports.append(Export(self.stack.stack_id, export_name, text))
        for export in self.stack._exports:
            self.backend.exports.pop(export.name, None)
        for export in exports:
            self.backend.exports[export.name] = export
        self.stack._outputs = outputs
        self.stack._exports = exports


def _replacement(handler: ResourceHandler, old: dict[str, Any], new: dict[str, Any]) -> str:
    if handler.immutable:
        return "True"
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    if changed & set(handler.replace_on):
        if any(contains_unknown(new.get(k)) for k in changed & set(handler.replace_on)):
            return "Conditional"
        return "True"
    if getattr(handler, "can_update", True) is False:
        return "True"
    return "False"
