"""Check change set: wait for CloudFormation to compute it; no changes is a successful no-op.

A change set without changes ends FAILED with a reason and no error code: "The submitted
information didn't contain changes..." or "No updates are to be performed." This is the one place
where the pipeline reads AWS's message text, because CloudFormation gives nothing else to go by
(DESIGN lesson 2: same code, same key, no changes: a no-op, never a failure).
"""

from __future__ import annotations

from typing import Any

from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.errors import ChangeSetFailed
from stepdeploy.models import ChangeSetInfo, Document, ExecutionContext
from stepdeploy.template.alias_wiring import alias_logical_id

NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
PENDING = ("CREATE_PENDING", "CREATE_IN_PROGRESS")
MAX_CHANGES = 100
"""Changes kept in the document (it must stay far below Step Functions' 256 KiB)."""


def is_no_change(reason: str | None) -> bool:
    return bool(reason) and any(marker.lower() in str(reason).lower() for marker in NO_CHANGE_REASONS)


def summarize_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for change in changes[:MAX_CHANGES]:
        resource = change.get("ResourceChange") or {}
        summary.append(
            {
                "action": resource.get("Action"),
                "logical_id": resource.get("LogicalResourceId"),
                "resource_type": resource.get("ResourceType"),
                "replacement": resource.get("Replacement"),
            }
        )
    if len(changes) > MAX_CHANGES:
        summary.append(
            {
                "action": "More",
                "logical_id": None,
                "resource_type": None,
                "replacement": None,
                "more": len(changes) - MAX_CHANGES,
            }
        )
    return summary


def check_alias_changes(
    cfn: CloudFormation, document: Document, info: ChangeSetInfo, changes: list[dict[str, Any]]
) -> None:
    """CloudFormation must never move a shifted alias (DESIGN invariant 1): refuse a change set that
    modifies one, or that adds one an earlier stepdeploy created outside the stack."""
    request = document.require_request()
    assert request.target is not None and document.artifact is not None
    alias = request.target.deployment.alias
    aliases = {alias_logical_id(f, alias): f for f in document.artifact.aliased_functions}
    for change in changes:
        resource = change.get("ResourceChange") or {}
        logical_id = resource.get("LogicalResourceId")
        if resource.get("ResourceType") != "AWS::Lambda::Alias" or logical_id not in aliases:
            continue
        function = aliases[logical_id]
        if resource.get("Action") == "Modify":
            raise ChangeSetFailed(
                f"change set {info.change_set_name} of stack {info.stack_name} would update {logical_id}, the "
                f"alias {alias!r} of {function}, and so move its traffic behind the traffic shift; it was not "
                "executed. Keep the alias's properties (ProvisionedConcurrencyConfig, Description) as they are, "
                "or change them in a deployment of their own after removing the alias from the stack"
            )
        if resource.get("Action") == "Add" and info.change_set_type == "UPDATE":
            existing = cfn.resource(info.stack_name, function)
            name = (existing or {}).get("PhysicalResourceId")
            if name and LambdaVersions(client("lambda")).alias(str(name), alias) is not None:
                raise ChangeSetFailed(
                    f"change set {info.change_set_name} of stack {info.stack_name} adds {logical_id}, but {name} "
                    f"already has an alias {alias!r} made outside the stack (by a stepdeploy release before "
                    "event sources were wired to the alias); delete that alias (aws lambda delete-alias "
                    f"--function-name {name} --name {alias}), then replay the deployment"
                )


def check_change_set(document: Document, execution: ExecutionContext) -> ChangeSetInfo:
    info = document.changeset
    if info is None:
        raise ValueError("Check change set needs the Create change set step's result in $.changeset")
    cfn = CloudFormation(client("cloudformation"))
    ref = info.change_set_id or info.change_set_name
    found = cfn.describe_change_set(info.stack_name, ref)
    if found is None:
        if info.no_changes:  # a retry after we deleted the no-op change set
            return info
        raise ChangeSetFailed(
            f"change set {info.change_set_name} of stack {info.stack_name} no longer exists "
            "(deleted by someone, or by another change set's execution); replay the deployment"
        )
    status = str(found.get("Status"))
    reason = found.get("StatusReason")
    update = {"status": status, "change_set_id": found.get("ChangeSetId") or info.change_set_id}
    if status in PENDING:
        return info.model_copy(update=update)
    if status == "CREATE_COMPLETE":
        if document.artifact is not None and document.artifact.aliased_functions:
            check_alias_changes(cfn, document, info, found["Changes"])
        return info.model_copy(update={**update, "done": True, "changes": summarize_changes(found["Changes"])})
    if status == "FAILED" and is_no_change(reason):
        cfn.delete_change_set(info.stack_name, ref)
        return info.model_copy(update={**update, "done": True, "no_changes": True, "changes": []})
    raise ChangeSetFailed(
        f"change set {info.change_set_name} of stack {info.stack_name} ended {status}: "
        f"{reason or 'CloudFormation gave no reason'}"
    )
