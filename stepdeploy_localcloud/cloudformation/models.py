"""Stacks, resources and change sets as the CloudFormation responses serialise them."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from moto.cloudformation.models import Event, Export, Stack
from moto.core.utils import utcnow

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
)
from stepdeploy_localcloud.cloudformation.template import (
    TemplatePlan,
)
from stepdeploy_localcloud.events.default_bus import put_service_event, service_event

log = logging.getLogger(__name__)


ENGINE_LOCK = threading.RLock()


# ------------------------------------------------------------------------------------------
# Stacks, resources and change sets as the responses serialise them
# ------------------------------------------------------------------------------------------


@dataclass
class StackResource:
    logical_resource_id: str
    cf_resource_type: str
    provisioned: Provisioned
    properties: dict[str, Any]
    deletion_policy: str | None
    resource_status: str
    resource_status_reason: str | None = None
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def physical_resource_id(self) -> str:
        return self.provisioned.physical_id



class LocalStack(Stack):
    """moto's Stack, with its resources, parameters and outputs owned by this engine."""

    def __init__(self, *, stack_id: str, name: str, account_id: str, region_name: str, **kwargs: Any) -> None:
        super().__init__(
            stack_id=stack_id,
            name=name,
            template={},
            parameters={},
            account_id=account_id,
            region_name=region_name,
            **kwargs,
        )
        self.template = ""
        self.plan: TemplatePlan | None = None
        self.resources: dict[str, StackResource] = {}
        self.status_reason: str | None = None
        self.capabilities: list[str] = []
        self.last_updated_time: datetime | None = None
        self.change_set_id: str | None = None
        self.busy_until = 0.0
        self.busy_status = ""
        self.client_request_token = ""
        """The ClientRequestToken of the operation under way (ExecuteChangeSet's, CreateStack's...)."""
        self._outputs: list[dict[str, Any]] = []
        self._exports: list[Export] = []

    # The attributes moto's responses read -------------------------------------------------
    # (moto's serializer finds Stack* members of a StackSummary through the class name "Stack")
    @property
    def stack_name(self) -> str:
        return self.name

    @property
    def stack_status(self) -> str:
        if self.busy_status and time.monotonic() < self.busy_until:
            return self.busy_status
        return self.status

    @property
    def stack_status_reason(self) -> str | None:
        return self.status_reason

    @property
    def stack_resources(self) -> list[StackResource]:  # type: ignore[override]
        return list(self.resources.values())

    @property
    def outputs(self) -> list[dict[str, Any]] | None:  # type: ignore[override]
        return self._outputs or None

    @property
    def exports(self) -> list[Export]:  # type: ignore[override]
        return list(self._exports)

    @property
    def parameter_list(self) -> list[dict[str, Any]]:  # type: ignore[override]
        if self.plan is None:
            return []
        params = self.plan.parameters
        return [
            {"ParameterKey": k, "ParameterValue": "****" if k in params.no_echo else v} for k, v in params.raw.items()
        ]

    @property
    def stack_parameters(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.plan.parameters.raw) if self.plan else {}

    @property
    def template_description(self) -> str | None:  # type: ignore[override]
        return self.description

    def delete(self) -> None:
        from stepdeploy_localcloud.cloudformation.engine import Deployment  # the engine builds on these models

        with ENGINE_LOCK:
            Deployment(self).delete_all()

    # Events -----------------------------------------------------------------------------
    def stack_event(self, status: str, reason: str | None = None) -> None:
        self.status = status
        # A completed rollback keeps the reason it rolled back for; success clears it.
        if reason is not None or not ("ROLLBACK" in status or status.endswith("FAILED")):
            self.status_reason = reason
        self._add_stack_event(status, resource_status_reason=reason)
        self._emit_status_change(status, reason)

    def _emit_status_change(self, status: str, reason: str | None) -> None:
        """A "CloudFormation Stack Status Change" on the default bus, when callers can see the status.

        The engine works synchronously but the stack shows ``busy_status`` until ``busy_until``: a
        final status is announced when it becomes visible, so a woken reader never sees it still busy.
        """
        event = stack_status_event(self, status, reason)
        delay = self.busy_until - time.monotonic() if not status.endswith("_IN_PROGRESS") else 0.0
        if delay > 0:
            timer = threading.Timer(delay, _put_stack_event, args=(self.account_id, self.region_name, event))
            timer.daemon = True
            timer.start()
        else:
            _put_stack_event(self.account_id, self.region_name, event)

    def resource_event(
        self,
        logical_id: str,
        resource_type: str,
        physical_id: str | None,
        status: str,
        reason: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        event = Event(
            stack_id=self.stack_id,
            stack_name=self.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id or "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=json.dumps(properties, default=str) if properties is not None else None,
        )
        event.sendToSns(self.account_id, self.region_name, self.notification_arns)
        self.events.append(event)


def stack_status_event(stack: LocalStack, status: str, reason: str | None) -> dict[str, Any]:
    """The PutEvents entry CloudFormation sends for a stack status, shaped as AWS documents it."""
    detail = {
        "stack-id": stack.stack_id,
        "status-details": {"status": status, "status-reason": reason or ""},
        "client-request-token": stack.client_request_token,
    }
    return service_event("aws.cloudformation", "CloudFormation Stack Status Change", detail, [stack.stack_id])


def _put_stack_event(account_id: str, region: str, entry: dict[str, Any]) -> None:
    put_service_event(account_id, region, entry, "a CloudFormation Stack Status Change event")


@dataclass
class ResourceChange:
    action: str
    logical_resource_id: str
    resource_type: str
    physical_resource_id: str | None = None
    replacement: str | None = None
    scope: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LocalChangeSet:
    change_set_id: str
    change_set_name: str
    stack_id: str
    stack_name: str
    change_set_type: str
    description: str | None
    parameters: dict[str, str]
    capabilities: list[str]
    tags: list[dict[str, str]]
    notification_arns: list[str]
    role_arn: str | None
    plan: TemplatePlan | None
    template: str
    changes: list[ResourceChange] = field(default_factory=list)
    status: str = "CREATE_PENDING"
    execution_status: str = "UNAVAILABLE"
    status_reason: str | None = None
    creation_time: datetime = field(default_factory=utcnow)
    include_nested_stacks: bool = False
    ready_at: float = 0.0

    def presented(self) -> LocalChangeSet:
        """What DescribeChangeSet shows: still being computed until ``ready_at``."""
        if time.monotonic() >= self.ready_at or self.status not in ("CREATE_COMPLETE", "FAILED"):
            return self
        return replace(self, status="CREATE_IN_PROGRESS", execution_status="UNAVAILABLE", status_reason=None)
