"""Publish versions: only for functions whose code or configuration changed (DESIGN lesson 4).

For each managed function: compare $LATEST with the version the alias points at; unchanged -> no
version; changed -> reuse an identical published version if there is one (a retry, or code that
came back), else PublishVersion pinned to the compared CodeSha256 and RevisionId. A missing alias
is created on the version (a first deploy: no traffic to shift). Old versions are deleted only after a
successful release, by Prune versions (stepdeploy/release/retention.py).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code, is_transient
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.lambda_versions import LambdaVersions, differences, fingerprint
from stepdeploy.errors import ConfigurationError, VersionPublishFailed
from stepdeploy.models import DeploymentRequest, Document, ExecutionContext, FunctionRelease, VersionsInfo
from stepdeploy.observability import logger

FUNCTION_TYPE = "AWS::Lambda::Function"


def managed_functions(
    request: DeploymentRequest, stack_functions: dict[str, str], preference_hooks: list[str] | None = None
) -> dict[str, str]:
    """Logical id -> function name of the functions to release: the configured ones, or all but the hooks
    (stepdeploy.yml's and those the template's DeploymentPreferences name)."""
    assert request.target is not None
    deployment = request.target.deployment
    where = f"stepdeploy.yml: targets (stack {request.target.stack}).deployment"
    hooks = list(dict.fromkeys([*deployment.hooks.names(), *(preference_hooks or [])]))
    missing_hooks = [h for h in hooks if h not in stack_functions]
    if missing_hooks:
        raise ConfigurationError(
            f"{where}.hooks: {', '.join(missing_hooks)} is not a Lambda function of stack "
            f"{request.target.stack}; expected one of {', '.join(sorted(stack_functions)) or '(none)'}"
        )
    if deployment.functions is not None:
        unknown = [f for f in deployment.functions if f not in stack_functions]
        if unknown:
            raise ConfigurationError(
                f"{where}.functions: {', '.join(unknown)} is not a Lambda function of stack "
                f"{request.target.stack}; expected logical ids among {', '.join(sorted(stack_functions)) or '(none)'}"
            )
        return {lid: stack_functions[lid] for lid in deployment.functions}
    return {lid: name for lid, name in sorted(stack_functions.items()) if lid not in hooks}


def matching_version(versions: list[dict[str, Any]], latest: dict[str, Any]) -> str | None:
    """The newest published version identical to $LATEST in code and configuration."""
    target = fingerprint(latest)
    for version in reversed(versions):
        if fingerprint(version) == target:
            return str(version["Version"])
    return None


def release_function(
    lam: LambdaVersions, logical_id: str, function_name: str, alias: str, description: str
) -> FunctionRelease:
    latest = lam.configuration(function_name)
    current = lam.alias(function_name, alias)
    previous = str(current["FunctionVersion"]) if current else None
    if previous is not None:
        changed = differences(lam.configuration(function_name, previous), latest)
        if not changed:
            return FunctionRelease(
                logical_id=logical_id,
                function_name=function_name,
                alias=alias,
                version=previous,
                previous_version=previous,
                changed=False,
            )
        logger.info("function changed", extra={"function": function_name, "changed": changed})
    version = matching_version(lam.versions(function_name), latest)
    if version is None:
        try:
            version = str(
                lam.publish(function_name, latest["CodeSha256"], latest.get("RevisionId"), description)["Version"]
            )
        except ClientError as exc:
            if is_transient(exc):
                raise
            raise VersionPublishFailed(
                f"PublishVersion of {function_name} ({logical_id}) failed ({error_code(exc)}): "
                f"{exc.response.get('Error', {}).get('Message', '')}. A change to the function after the "
                "stack update (PreconditionFailedException) means someone else is changing it"
            ) from exc
    alias_created = False
    if current is None:
        alias_created = lam.create_alias(function_name, alias, version, description)
        if not alias_created:  # created meanwhile by an earlier attempt of this step
            existing = lam.alias(function_name, alias) or {}
            previous = str(existing.get("FunctionVersion")) if existing.get("FunctionVersion") != version else None
            alias_created = previous is None
    return FunctionRelease(
        logical_id=logical_id,
        function_name=function_name,
        alias=alias,
        version=version,
        previous_version=previous,
        changed=True,
        alias_created=alias_created,
    )


def publish_versions(
    document: Document, execution: ExecutionContext
) -> VersionsInfo:
    request = document.require_request()
    assert request.target is not None
    cfn = CloudFormation(client("cloudformation"))
    lam = LambdaVersions(client("lambda"))
    stack_functions = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.resources(request.stack)
        if r.get("ResourceType") == FUNCTION_TYPE and r.get("PhysicalResourceId")
    }
    alias = request.target.deployment.alias
    description = f"stepdeploy {request.repository or request.source}@{request.short_commit} {execution.name}"[:256]
    releases = [
        release_function(lam, logical_id, name, alias, description)
        for logical_id, name in managed_functions(
            request, stack_functions, document.artifact.preference_hooks if document.artifact else []
        ).items()
    ]
    return VersionsInfo(functions=releases, shift_needed=any(r.needs_shift for r in releases))
