"""The CloudFormation API operations the local cloud takes over from moto."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
from moto.cloudformation.models import Stack
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.cloudformation.engine import (
    Deployment,
)
from stepdeploy_localcloud.cloudformation.errors import (
    ChangeSetNotFound,
    InsufficientCapabilities,
    InvalidChangeSetStatus,
    TemplateError,
)
from stepdeploy_localcloud.cloudformation.models import (
    ENGINE_LOCK,
    LocalChangeSet,
    LocalStack,
)
from stepdeploy_localcloud.cloudformation.package import load_template
from stepdeploy_localcloud.cloudformation.resources.base import (
    ResourceFailure,
)
from stepdeploy_localcloud.cloudformation.template import (
    TemplatePlan,
    build_plan,
    check_iam_capabilities,
    transforms_of,
)

log = logging.getLogger(__name__)


NO_CHANGES_REASON = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)

CHANGE_SET_VIRTUAL_SECONDS = 0.0
STACK_OPERATION_VIRTUAL_SECONDS = 0.0
"""How long CloudFormation appears busy (virtual seconds): the engine works synchronously, but a
caller sees a change set CREATE_IN_PROGRESS and a stack *_IN_PROGRESS for that long, as on AWS, so
that pollers really poll. Zero (answers at once) unless the LocalCloud sets them."""


def _settle_deadline(virtual_seconds: float) -> float:
    from stepdeploy_localcloud.clock import CLOCK

    return time.monotonic() + CLOCK.real_seconds(virtual_seconds)



# ------------------------------------------------------------------------------------------
# The API operations
# ------------------------------------------------------------------------------------------


def _template_body(response: CloudFormationResponse, stack: LocalStack | None = None) -> str:
    body = response._get_param("TemplateBody")
    url = response._get_param("TemplateURL")
    if response._get_bool_param("UsePreviousTemplate", False):
        if body or url:
            raise ValidationError(message="You cannot specify both usePreviousTemplate and Template Body/Template URL.")
        if stack is None or not stack.template:
            raise ValidationError(message="No previous template is available for this stack")
        return stack.template
    if url:
        return read_template_url(str(url), response.current_account, response.partition)
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    return str(body)


def _readable_from_another_account(backend: Any, bucket: str, account_id: str, key: str) -> bool:
    """Another account's bucket whose policy lets this account read the key (s3/patch.py)."""
    from stepdeploy_localcloud.s3.patch import another_account_may_read

    try:
        found = backend.get_bucket(bucket)
    except Exception:  # noqa: BLE001 - moto's MissingBucket
        return False
    return bool(another_account_may_read(found, account_id, key))


def read_template_url(url: str, account_id: str, partition: str = "aws") -> str:
    """The body of a TemplateURL in moto's S3: virtual-hosted or path-style AWS URLs, or the
    local cloud's own endpoint (http://127.0.0.1:<port>/<bucket>/<key>)."""
    from urllib.parse import unquote, urlparse
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = unquote(parsed.path.lstrip("/"))
    if parsed.scheme == "s3":
        bucket, key = host, path
    elif ".s3." in host or ".s3-" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:  # path style: s3.amazonaws.com/<bucket>/<key>, s3.<region>.amazonaws.com/..., or the local endpoint
        bucket, _, key = path.partition("/")
    backend = backends.backend("s3", account_id, partition)
    obj = None
    readable = bucket in backend.buckets or _readable_from_another_account(backend, bucket, account_id, key)
    if key and readable:
        obj = backend.get_object(bucket, key)
    if obj is None:
        raise ValidationError(message="TemplateURL must reference a valid S3 object to which you have access.")
    return obj.value.decode("utf-8")


def _parameter_input(response: CloudFormationResponse) -> tuple[dict[str, str], set[str]]:
    given: dict[str, str] = {}
    use_previous: set[str] = set()
    for parameter in response._get_param("Parameters", []) or []:
        key = parameter["ParameterKey"]
        if str(parameter.get("UsePreviousValue", "")).lower() == "true":
            if parameter.get("ParameterValue"):
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. "
                    "Cannot specify usePreviousValue as true and non empty value for a parameter"
                )
            use_previous.add(key)
        else:
            given[key] = str(parameter.get("ParameterValue", ""))
    return given, use_previous


def _find_stack(backend: Any, name_or_id: str) -> LocalStack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    for stack in backend.stacks.values():
        if stack.name == name_or_id:
            return stack
    return None


def _require_local_stack(backend: Any, name_or_id: str) -> LocalStack:
    stack = _find_stack(backend, name_or_id)
    if stack is None:
        raise ValidationError(name_or_id)
    if not isinstance(stack, LocalStack):
        raise ValidationError(message=f"Stack {name_or_id} was not created through the local cloud's CloudFormation")
    return stack


def _new_stack(response: CloudFormationResponse, name: str) -> LocalStack:
    tags = {t["Key"]: t["Value"] for t in response._get_param("Tags", []) or []}
    stack = LocalStack(
        stack_id=generate_stack_id(name, response.region, response.current_account),
        name=name,
        account_id=response.current_account,
        region_name=response.region,
        notification_arns=response._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=response._get_param("RoleARN"),
        enable_termination_protection=response._get_bool_param("EnableTerminationProtection", False),
        timeout_in_mins=response._get_param("TimeoutInMinutes"),
    )
    return stack


def _plan_for(stack: LocalStack, body: str, given: dict[str, str], use_previous: set[str]) -> TemplatePlan:
    previous = stack.plan.parameters.raw if stack.plan else {}
    return build_plan(
        body,
        given,
        use_previous,
        previous,
        account_id=stack.account_id,
        region=stack.region_name,
        stack_name=stack.name,
        stack_id=stack.stack_id,
    )


def _check_stack_updatable(stack: LocalStack) -> None:
    if stack.status.endswith("_IN_PROGRESS") or stack.status in (
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "CREATE_FAILED",
        "DELETE_FAILED",
        "UPDATE_ROLLBACK_FAILED",
    ):
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def _parse_body(body: str) -> dict[str, Any]:
    try:
        return load_template(body)
    except Exception as error:  # noqa: BLE001 - any parse failure is the caller's template
        raise ValidationError(message=f"Template format error: {error}") from error


def create_stack(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    name = response._get_param("StackName")
    with ENGINE_LOCK:
        if _find_stack(backend, name) is not None:
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        body = _template_body(response)
        stack = _new_stack(response, name)
        plan, capabilities = _direct_plan(response, stack, body)
        stack.capabilities = capabilities
        stack.template = body
        stack.client_request_token = response._get_param("ClientRequestToken") or ""
        backend.stacks[stack.stack_id] = stack
        disable_rollback = (
            response._get_bool_param("DisableRollback", False) or response._get_param("OnFailure") == "DO_NOTHING"
        )
        Deployment(stack).create(plan, disable_rollback=disable_rollback)
        if stack.status == "ROLLBACK_COMPLETE" and response._get_param("OnFailure") == "DELETE":
            backend.delete_stack(stack.stack_id)
    return ActionResult({"StackId": stack.stack_id})


def update_stack(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    with ENGINE_LOCK:
        stack = _require_local_stack(backend, response._get_param("StackName"))
        _check_stack_updatable(stack)
        body = _template_body(response, stack)
        plan, capabilities = _direct_plan(response, stack, body)
        if _unchanged(stack, plan):
            raise ValidationError(message="No updates are to be performed.")
        stack.capabilities = capabilities
        stack.client_request_token = response._get_param("ClientRequestToken") or ""
        Deployment(stack).update(plan)
    return ActionResult({"StackId": stack.stack_id})


def _direct_plan(response: CloudFormationResponse, stack: LocalStack, body: str) -> tuple[TemplatePlan, list[str]]:
    """CreateStack's and UpdateStack's plan and capabilities: with no change set, every error is the call's."""
    capabilities = list(response._get_param("Capabilities", []) or [])
    if transforms_of(_parse_body(body)) and "CAPABILITY_AUTO_EXPAND" not in capabilities:
        raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
    given, use_previous = _parameter_input(response)
    try:
        plan = _plan_for(stack, body, given, use_previous)
    except TemplateError as error:
        raise ValidationError(message=str(error)) from error
    check_iam_capabilities(plan, capabilities)
    return plan, capabilities


def _unchanged(stack: LocalStack, plan: TemplatePlan) -> bool:
    return (
        stack.plan is not None
        and stack.plan.template == plan.template
        and stack.plan.parameters.raw == plan.parameters.raw
    )


def create_change_set(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack_name = response._get_param("StackName")
    change_set_name = response._get_param("ChangeSetName")
    change_set_type = response._get_param("ChangeSetType", "UPDATE") or "UPDATE"
    cfn_models.validate_create_change_set(change_set_name)
    capabilities = response._get_param("Capabilities", []) or []
    with ENGINE_LOCK:
        existing = _find_stack(backend, stack_name)
        if change_set_type == "CREATE":
            if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
                raise AlreadyExistsException(
                    f"Stack [{stack_name}] already exists and cannot be created again "
                    f"with the changeSet [{change_set_name}]."
                )
            stack = existing if isinstance(existing, LocalStack) else _new_stack(response, stack_name)
        elif change_set_type == "UPDATE":
            if existing is None:
                raise ValidationError(message=f"Stack [{stack_name}] does not exist")
            stack = _require_local_stack(backend, stack_name)
            _check_stack_updatable(stack)
        else:
            raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported by the local cloud")
        for other in backend.change_sets.values():
            if other.stack_id == stack.stack_id and other.change_set_name == change_set_name:
                raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")
        body = _template_body(response, stack if change_set_type == "UPDATE" else None)
        has_transform = bool(transforms_of(_parse_body(body)))
        given, use_previous = _parameter_input(response)
        change_set = LocalChangeSet(
            change_set_id=generate_changeset_id(change_set_name, response.region, response.current_account),
            change_set_name=change_set_name,
            stack_id=stack.stack_id,
            stack_name=stack.name,
            change_set_type=change_set_type,
            description=response._get_param("Description"),
            parameters={},
            capabilities=list(capabilities),
            tags=list(response._get_param("Tags", []) or []),
            notification_arns=list(response._get_param("NotificationARNs", []) or []),
            role_arn=response._get_param("RoleARN"),
            plan=None,
            template=body,
        )
        try:
            plan = _plan_for(stack, body, given, use_previous)
            check_iam_capabilities(plan, capabilities)
            change_set.parameters = {
                k: "****" if k in plan.parameters.no_echo else v for k, v in plan.parameters.raw.items()
            }
            change_set.plan = plan
            if change_set_type == "UPDATE" and _unchanged(stack, plan):
                change_set.status, change_set.status_reason = "FAILED", NO_CHANGES_REASON
            else:
                change_set.changes = Deployment(stack).preview_changes(plan)
                change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
        except (TemplateError, ResourceFailure, ValidationError, InsufficientCapabilities) as error:
            # AWS processes transforms asynchronously: their errors end the change set FAILED.
            if not has_transform:
                if isinstance(error, (TemplateError, ResourceFailure)):
                    raise ValidationError(message=str(error)) from error
                raise
            change_set.status = "FAILED"
            change_set.status_reason = error.message if isinstance(error, ServiceException) else str(error)
        if stack.stack_id not in backend.stacks:
            backend.stacks[stack.stack_id] = stack
            stack.stack_event("REVIEW_IN_PROGRESS", "User Initiated")
        change_set.ready_at = _settle_deadline(CHANGE_SET_VIRTUAL_SECONDS)
        backend.change_sets[change_set.change_set_id] = change_set
    return ActionResult({"Id": change_set.change_set_id, "StackId": stack.stack_id})


def _find_change_set(backend: Any, name_or_arn: str, stack_name: str | None) -> LocalChangeSet:
    change_set = backend.change_sets.get(name_or_arn)
    if change_set is None:
        if not name_or_arn.startswith("arn:") and not stack_name:
            raise ValidationError(message="StackName must be specified if ChangeSetName is not specified as an ARN.")
        stack = _find_stack(backend, stack_name) if stack_name else None
        for candidate in backend.change_sets.values():
            if candidate.change_set_name == name_or_arn and stack is not None and candidate.stack_id == stack.stack_id:
                change_set = candidate
    if not isinstance(change_set, LocalChangeSet):
        raise ChangeSetNotFound(f"ChangeSet [{name_or_arn}] does not exist")
    return change_set


def describe_change_set(response: CloudFormationResponse) -> ActionResult:
    change_set = _find_change_set(
        response.cloudformation_backend, response._get_param("ChangeSetName"), response._get_param("StackName")
    )
    return ActionResult(change_set.presented())


def delete_change_set(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    with ENGINE_LOCK:
        change_set = _find_change_set(backend, response._get_param("ChangeSetName"), response._get_param("StackName"))
        if change_set.execution_status == "EXECUTE_IN_PROGRESS":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be deleted while it is executing"
            )
        backend.change_sets.pop(change_set.change_set_id, None)
    return EmptyResult()


def list_change_sets(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack = _require_local_stack(backend, response._get_param("StackName"))
    summaries = [cs for cs in backend.change_sets.values() if cs.stack_id == stack.stack_id]
    return ActionResult({"Summaries": summaries})


def execute_change_set(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    with ENGINE_LOCK:
        change_set = _find_change_set(backend, response._get_param("ChangeSetName"), response._get_param("StackName"))
        shown = change_set.presented()
        if shown.status != "CREATE_COMPLETE" or shown.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed "
                f"in its current status of [{change_set.status}]"
            )
        stack = backend.stacks.get(change_set.stack_id)
        if not isinstance(stack, LocalStack) or change_set.plan is None:
            raise ValidationError(message=f"Stack [{change_set.stack_name}] does not exist")
        if change_set.change_set_type == "UPDATE":
            _check_stack_updatable(stack)
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        # Executing a change set deletes the stack's other change sets.
        for other_id in [
            cid
            for cid, cs in backend.change_sets.items()
            if cs.stack_id == stack.stack_id and cid != change_set.change_set_id
        ]:
            del backend.change_sets[other_id]
        stack.capabilities = change_set.capabilities
        stack.change_set_id = change_set.change_set_id
        stack.client_request_token = response._get_param("ClientRequestToken") or ""
        if change_set.tags:
            stack.tags = {t["Key"]: t["Value"] for t in change_set.tags}
        deployment = Deployment(stack)
        stack.busy_status = "CREATE_IN_PROGRESS" if change_set.change_set_type == "CREATE" else "UPDATE_IN_PROGRESS"
        stack.busy_until = _settle_deadline(STACK_OPERATION_VIRTUAL_SECONDS)
        if change_set.change_set_type == "CREATE":
            disable_rollback = response._get_bool_param("DisableRollback", False)
            deployment.create(change_set.plan, disable_rollback=disable_rollback)
            succeeded = stack.status == "CREATE_COMPLETE"
        else:
            deployment.update(change_set.plan)
            succeeded = stack.status == "UPDATE_COMPLETE"
        change_set.execution_status = "EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED"
    return EmptyResult()


def delete_stack(response: CloudFormationResponse) -> EmptyResult:
    backend = response.cloudformation_backend
    name = response._get_param("StackName")
    with ENGINE_LOCK:
        stack = _find_stack(backend, name)
        if stack is None:
            return EmptyResult()
        for change_set_id in [cid for cid, cs in backend.change_sets.items() if cs.stack_id == stack.stack_id]:
            del backend.change_sets[change_set_id]
        if not isinstance(stack, LocalStack):
            backend.delete_stack(stack.stack_id)
            return EmptyResult()
        stack.client_request_token = response._get_param("ClientRequestToken") or ""
        Deployment(stack).delete_all()
        if stack.status == "DELETE_COMPLETE":  # else DELETE_FAILED: the stack stays, as on AWS
            backend.stacks.pop(stack.stack_id, None)
            backend.deleted_stacks[stack.stack_id] = stack
            for export in stack.exports:
                backend.exports.pop(export.name, None)
            stack._exports = []
    return EmptyResult()


class _ResourceView:
    """A StackResource as DescribeStackResource(s) / ListStackResources show it."""

    def __init__(self, stack: Stack, resource: Any) -> None:
        self.stack_id = stack.stack_id
        self.stack_name = stack.name
        self.logical_resource_id = getattr(resource, "logical_resource_id", None)
        self.physical_resource_id = getattr(resource, "physical_resource_id", None)
        self.resource_type = getattr(resource, "cf_resource_type", None)
        self.resource_status = getattr(resource, "resource_status", stack.status)
        self.resource_status_reason = getattr(resource, "resource_status_reason", None)
        self.timestamp = getattr(resource, "timestamp", stack.creation_time)
        self.last_updated_timestamp = self.timestamp


def describe_stack_resource(response: CloudFormationResponse) -> ActionResult:
    stack, resource = response.cloudformation_backend.describe_stack_resource(
        response._get_param("StackName"), response._get_param("LogicalResourceId")
    )
    return ActionResult({"StackResourceDetail": _ResourceView(stack, resource)})


def describe_stack_resources(response: CloudFormationResponse) -> ActionResult:
    stack, resources = response.cloudformation_backend.describe_stack_resources(
        response._get_param("StackName"), response._get_param("LogicalResourceId")
    )
    return ActionResult({"StackResources": [_ResourceView(stack, r) for r in resources]})


def list_stack_resources(response: CloudFormationResponse) -> ActionResult:
    stack, resources = response.cloudformation_backend.list_stack_resources(response._get_param("StackName"))
    return ActionResult({"StackResourceSummaries": [_ResourceView(stack, r) for r in resources]})


def get_template(response: CloudFormationResponse) -> ActionResult:
    backend = response.cloudformation_backend
    stack_name = response._get_param("StackName")
    change_set_name = response._get_param("ChangeSetName")
    processed = response._get_param("TemplateStage") == "Processed"
    if change_set_name:
        change_set = _find_change_set(backend, change_set_name, stack_name)
        plan, body = change_set.plan, change_set.template
    else:
        stack = backend.get_stack(stack_name)
        plan, body = getattr(stack, "plan", None), stack.template
    if processed and plan is not None:
        body = json.dumps(plan.template, indent=2)
    stages = ["Original", "Processed"] if plan is not None else ["Original"]
    return ActionResult({"TemplateBody": body, "StagesAvailable": stages})
