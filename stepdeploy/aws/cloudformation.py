"""CloudFormation: stacks, change sets, events and resources, with AWS's codes turned into answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stepdeploy.aws import clients
from stepdeploy.aws.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
# AWS answers ChangeSetNotFound; moto (and DescribeChangeSet on a stack that is gone) ValidationError.
_CHANGE_SET_MISSING = frozenset({"ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"})


class CloudFormation:
    def __init__(self, client: CloudFormationClient | None = None) -> None:
        self._cfn = client or clients.client("cloudformation")

    def describe_stack(self, stack_name: str) -> dict[str, Any] | None:
        """The stack, or None when there is none by that name.

        DescribeStacks answers a missing stack with ValidationError, its only error code for a valid
        name; stack names are validated against CloudFormation's pattern when the config is read.
        """
        try:
            stacks = self._cfn.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            if error_code(exc) == "ValidationError":
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def describe_change_set(self, stack_name: str, change_set: str) -> dict[str, Any] | None:
        """The change set with every page of its changes, or None if it does not exist."""
        try:
            page = self._cfn.describe_change_set(StackName=stack_name, ChangeSetName=change_set)
        except ClientError as exc:
            if error_code(exc) in _CHANGE_SET_MISSING:
                return None
            raise
        changes = list(page.get("Changes", []))
        while page.get("NextToken"):
            page = self._cfn.describe_change_set(
                StackName=stack_name, ChangeSetName=change_set, NextToken=page["NextToken"]
            )
            changes.extend(page.get("Changes", []))
        return {**page, "Changes": changes}

    def create_change_set(self, **params: Any) -> str | None:
        """The new change set's id, or None if one by that name exists (AlreadyExistsException)."""
        try:
            return str(self._cfn.create_change_set(**params)["Id"])
        except ClientError as exc:
            if error_code(exc) == "AlreadyExistsException":
                return None
            raise

    def delete_change_set(self, stack_name: str, change_set: str) -> None:
        try:
            self._cfn.delete_change_set(StackName=stack_name, ChangeSetName=change_set)
        except ClientError as exc:
            if error_code(exc) not in _CHANGE_SET_MISSING:
                raise

    def execute_change_set(self, stack_name: str, change_set: str, token: str) -> None:
        self._cfn.execute_change_set(StackName=stack_name, ChangeSetName=change_set, ClientRequestToken=token)

    def delete_stack(self, stack_name: str, token: str, role_arn: str = "") -> None:
        params: dict[str, Any] = {"StackName": stack_name, "ClientRequestToken": token}
        if role_arn:
            params["RoleARN"] = role_arn
        self._cfn.delete_stack(**params)

    def events_since(self, stack_name: str, since: datetime) -> list[dict[str, Any]]:
        """The stack's events at or after ``since``, oldest first (DescribeStackEvents is newest first)."""
        events: list[dict[str, Any]] = []
        for page in self._cfn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
            for event in page.get("StackEvents", []):
                if event["Timestamp"] < since:
                    return events[::-1]
                events.append(dict(event))
        return events[::-1]

    def resources(self, stack_name: str) -> list[dict[str, Any]]:
        """Every resource of the stack (ListStackResources, all pages)."""
        summaries: list[dict[str, Any]] = []
        for page in self._cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            summaries.extend(dict(s) for s in page.get("StackResourceSummaries", []))
        return summaries

    def resource(self, stack_name: str, logical_id: str) -> dict[str, Any] | None:
        """One resource by logical id (DescribeStackResources), or None if the stack has no such resource."""
        try:
            found = self._cfn.describe_stack_resources(StackName=stack_name, LogicalResourceId=logical_id)
        except ClientError as exc:
            if error_code(exc) == "ValidationError":
                return None
            raise
        resources = found.get("StackResources", [])
        return dict(resources[0]) if resources else None
