"""Create change set: CREATE or UPDATE, code locations as parameter overrides (DESIGN lessons 2, 3).

Stack states decide the way:
- no stack, or REVIEW_IN_PROGRESS (a CREATE change set was made but never executed): CREATE;
- ROLLBACK_COMPLETE (a first create failed; nothing of it is left but the stack record): the stack
  is deleted here, automatically, and StackBusy asks for a retry, which then creates it. A
  ROLLBACK_COMPLETE stack can neither be updated nor recreated under its name, and deleting it
  loses nothing but its event history (the failure was reported by the execution that failed);
- UPDATE_ROLLBACK_FAILED, ROLLBACK_FAILED, DELETE_FAILED, CREATE_FAILED, UPDATE_FAILED:
  StackNeedsAttention naming what the operator has to do;
- any other *_IN_PROGRESS: StackBusy (retryable);
- other stable states: UPDATE.

Idempotent: the change set's name and client token derive from the execution; an existing change
set of that name is reused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from botocore.exceptions import ClientError

from stepdeploy.aws.accounts import current_stage, deploy_names, in_another_region
from stepdeploy.aws.artifacts import ArtifactStore
from stepdeploy.aws.clients import client, error_code, idempotency_token
from stepdeploy.aws.cloudformation import CAPABILITIES, CloudFormation
from stepdeploy.errors import ArtifactRejected, ChangeSetFailed, StackBusy, StackNeedsAttention
from stepdeploy.guards.permissions_boundary import check_permissions_boundary
from stepdeploy.guards.trust import check_stack_owner
from stepdeploy.models import ArtifactInfo, ChangeSetInfo, DeploymentRequest, Document, ExecutionContext, iso

# CloudFormation's definite refusals of this input: retrying the same input can't help.
REFUSALS = frozenset({"InsufficientCapabilitiesException", "ValidationError"})
NEEDS_ATTENTION = {
    "UPDATE_ROLLBACK_FAILED": (
        "an earlier update failed to roll back; run ContinueUpdateRollback on the stack (skipping the "
        "resources that cannot roll back), wait for UPDATE_ROLLBACK_COMPLETE, then redrive"
    ),
    "ROLLBACK_FAILED": (
        "a failed create could not roll back; delete the stack (retaining what cannot be deleted), then redrive"
    ),
    "DELETE_FAILED": "a delete of the stack failed; delete it again (retaining what cannot be deleted), then redrive",
    "CREATE_FAILED": "a create failed without rollback; delete the stack, then redrive",
    "UPDATE_FAILED": "an update failed without rollback; roll the stack back (RollbackStack) or fix it, then redrive",
    "IMPORT_ROLLBACK_FAILED": "a resource import failed to roll back; fix the stack, then redrive",
}


def change_set_name(request: DeploymentRequest, artifact: ArtifactInfo, execution: ExecutionContext) -> str:
    """``stepdeploy-<commit7>-<hash of the execution>``: letters, digits and '-', unique per execution."""
    short = "".join(c for c in (request.short_commit or artifact.digest[:7]) if c.isalnum()) or "upload"
    return f"stepdeploy-{short}-{hashlib.sha256(execution.id.encode()).hexdigest()[:12]}"


def declared_parameters(template_text: bytes) -> dict[str, dict[str, Any]]:
    template = json.loads(template_text)
    return dict(template.get("Parameters") or {})


def check_boundary_of_account(request: DeploymentRequest, template: Any) -> None:
    """The packaged template's roles carry the boundary of the account the stack is deployed in: a template
    packaged for another account (a stage elsewhere) would fail IAM in the middle of the stack update."""
    boundary = deploy_names().permissions_boundary_arn
    if not boundary or not isinstance(template, dict):
        return
    try:
        check_permissions_boundary(template, boundary, name=f"{request.template_path} (packaged)")
    except ArtifactRejected as exc:
        raise ArtifactRejected(
            f"{exc}; the template was packaged for another account than the target's: package it for the "
            f"target's account (its boundary is {boundary})"
        ) from None


def parameter_overrides(
    declared: dict[str, dict[str, Any]], given: dict[str, str], previous: set[str]
) -> list[dict[str, Any]]:
    """Only the parameters the template declares; a declared one with no value and no default
    keeps the stack's previous value (UsePreviousValue) rather than failing the change set."""
    overrides: list[dict[str, Any]] = [
        {"ParameterKey": name, "ParameterValue": given[name]} for name in declared if name in given
    ]
    for name, spec in declared.items():
        if name not in given and "Default" not in (spec or {}) and name in previous:
            overrides.append({"ParameterKey": name, "UsePreviousValue": True})
    return overrides


def template_url(store: ArtifactStore, artifact: ArtifactInfo) -> str:
    """Where CloudFormation reads the packaged template: the orchestrator's bucket, or, for a stage outside
    the orchestrator's region, the copy in that stage's code bucket (its code is there too). An artifact
    packaged for another region is refused (ArtifactRejected): its code would be read from the wrong bucket."""
    stage = current_stage()
    expected = stage.code_bucket if stage is not None and in_another_region(stage) else None
    found = artifact.regional_copy.bucket if artifact.regional_copy is not None else None
    if found != expected:
        raise ArtifactRejected(
            f"the packaged template {artifact.template.uri} was packaged with its code in "
            f"{found or 'the orchestrator bucket'}, but this stack's stage reads code from "
            f"{expected or 'the orchestrator bucket'} (Lambda reads code only from a bucket of its own region); "
            "package it again for this stage"
        )
    if stage is not None and artifact.regional_copy is not None:
        return store.https_url(artifact.regional_copy, stage.region)
    return store.https_url(artifact.template)


def change_set_type(stack: dict[str, Any] | None) -> Literal["CREATE", "UPDATE"]:
    """CREATE or UPDATE for the stack's state, or the error its state calls for."""
    if stack is None:
        return "CREATE"
    status = str(stack["StackStatus"])
    name = stack.get("StackName", "")
    if status == "REVIEW_IN_PROGRESS":
        return "CREATE"
    if status in NEEDS_ATTENTION:
        raise StackNeedsAttention(f"stack {name} is {status}: {NEEDS_ATTENTION[status]}")
    if status.endswith("_IN_PROGRESS"):
        raise StackBusy(f"stack {name} is {status}; another operation is running on it")
    return "UPDATE"


def _info(
    name: str, stack_name: str, kind: Literal["CREATE", "UPDATE"], found: dict[str, Any] | None,
    change_set_id: str | None,
) -> ChangeSetInfo:
    return ChangeSetInfo(
        stack_name=stack_name,
        change_set_name=name,
        change_set_id=(found or {}).get("ChangeSetId") or change_set_id,
        change_set_type=(found or {}).get("ChangeSetType") or kind,
        status=(found or {}).get("Status") or "CREATE_PENDING",
        started_at=iso(),
    )


def create_change_set(
    document: Document, execution: ExecutionContext
) -> ChangeSetInfo:
    request = document.require_request()
    artifact = document.artifact
    if artifact is None:
        raise ValueError("Create change set needs the Package artifact step's result in $.artifact")
    cfn = CloudFormation(client("cloudformation"))
    store = ArtifactStore(client("s3"))
    role_arn = deploy_names().cloudformation_role_arn
    stack_name = request.stack
    name = change_set_name(request, artifact, execution)

    stack = check_stack_owner(request)
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        cfn.delete_stack(stack_name, idempotency_token(execution, "delete-failed-create"), role_arn)
        raise StackBusy(
            f"stack {stack_name} was ROLLBACK_COMPLETE (its first create failed); deleting it so that this "
            "deployment can create it again"
        )
    kind = change_set_type(stack)

    if stack is not None:
        found = cfn.describe_change_set(stack_name, name)
        if found is not None:
            return _info(name, stack_name, kind, found, None)

    text = store.read(artifact.template)
    check_boundary_of_account(request, json.loads(text))
    declared = declared_parameters(text)
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])} if kind == "UPDATE" else set()
    params: dict[str, Any] = {
        "StackName": stack_name,
        "ChangeSetName": name,
        "ChangeSetType": kind,
        "TemplateURL": template_url(store, artifact),
        "Parameters": parameter_overrides(declared, artifact.parameters, previous),
        "Capabilities": list(CAPABILITIES),
        "ClientToken": idempotency_token(execution, "create-change-set"),
        "Description": (
            f"stepdeploy {request.repository or request.source}@{request.short_commit or artifact.digest[:12]} "
            f"execution {execution.name or execution.id}"
        )[:1024],
    }
    if request.repository:
        # A per-commit tag would change every resource's tags on every push: no change set would
        # ever be empty. The commit is in the Description instead.
        params["Tags"] = [{"Key": "stepdeploy:repository", "Value": request.repository}]
    if role_arn:
        params["RoleARN"] = role_arn
    try:
        change_set_id = cfn.create_change_set(**params)
    except ClientError as exc:
        if error_code(exc) in REFUSALS:
            message = exc.response.get("Error", {}).get("Message", "")
            raise ChangeSetFailed(
                f"CloudFormation refused change set {name} for stack {stack_name} ({error_code(exc)}): {message}"
            ) from exc
        raise
    if change_set_id is None:  # made by an earlier attempt of this execution (AlreadyExistsException)
        return _info(name, stack_name, kind, cfn.describe_change_set(stack_name, name), None)
    return _info(name, stack_name, kind, None, change_set_id)
