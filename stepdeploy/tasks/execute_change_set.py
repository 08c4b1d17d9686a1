"""Execute change set, once: a change set already executing or executed is not executed again."""

from __future__ import annotations

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code, idempotency_token
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.errors import ChangeSetFailed, StackBusy
from stepdeploy.models import Document, ExecutionContext, StackInfo, iso

EXECUTED = ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED")


def execute_change_set(document: Document, execution: ExecutionContext) -> StackInfo:
    info = document.changeset
    if info is None or not info.done:
        raise ValueError("Execute change set needs a ready change set in $.changeset")
    cfn = CloudFormation(client("cloudformation"))
    ref = info.change_set_id or info.change_set_name
    started_at = iso()
    token = idempotency_token(execution, "execute-change-set")
    found = cfn.describe_change_set(info.stack_name, ref)
    if found is None:
        stack = cfn.describe_stack(info.stack_name)
        if stack is not None and info.change_set_id and stack.get("ChangeSetId") == info.change_set_id:
            # Executed by an earlier attempt; CloudFormation keeps only the stack's reference to it.
            return StackInfo(stack_name=info.stack_name, status=stack["StackStatus"], started_at=started_at,
                             stack_id=stack.get("StackId"), client_request_token=token)
        raise ChangeSetFailed(
            f"change set {info.change_set_name} of stack {info.stack_name} no longer exists and was not "
            "executed (deleted, or made obsolete by another update); replay the deployment"
        )
    execution_status = str(found.get("ExecutionStatus"))
    if execution_status not in EXECUTED:
        if execution_status == "UNAVAILABLE":
            raise StackBusy(f"change set {info.change_set_name} cannot be executed yet (ExecutionStatus UNAVAILABLE)")
        if execution_status == "OBSOLETE":
            raise ChangeSetFailed(
                f"change set {info.change_set_name} is OBSOLETE: stack {info.stack_name} changed after it "
                "was made; replay the deployment"
            )
        try:
            cfn.execute_change_set(info.stack_name, ref, token)
        except ClientError as exc:
            if error_code(exc) != "InvalidChangeSetStatus":
                raise
            again = cfn.describe_change_set(info.stack_name, ref) or {}
            if again.get("ExecutionStatus") not in EXECUTED:
                raise ChangeSetFailed(
                    f"CloudFormation refused to execute change set {info.change_set_name} "
                    f"(ExecutionStatus {again.get('ExecutionStatus')}): "
                    f"{exc.response.get('Error', {}).get('Message', '')}"
                ) from exc
    stack = cfn.describe_stack(info.stack_name) or {}
    return StackInfo(stack_name=info.stack_name, status=str(stack.get("StackStatus", "UNKNOWN")), started_at=started_at,
                     stack_id=stack.get("StackId") or found.get("StackId"), client_request_token=token)
