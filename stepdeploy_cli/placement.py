"""Where an application stack lives, for the commands that read or move it (rollback, versions, the traffic
view of `watch` and the dashboard, abort of a CodeDeploy shift).

A target of ``stepdeploy.yml`` (a single stack or a pipeline's stage) may name another ``account`` and
``region``; its releases record them in the ledger (``account``, ``region``; a pipeline's run names them for
each of its stages). A stack in another account is reached as the orchestrator's task functions reach it:
through the stage role there (``stepdeploy.aws.accounts``: the same role ARN, ExternalId and credential
cache), assumed with the operator's own credentials. Every other call goes to the orchestrator's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepdeploy.aws.accounts import STAGE_SERVICES, Stage, credentials, session_name
from stepdeploy.errors import RequestRejected
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError

PIPELINE_PREFIX = "pipeline:"
STAGE_ROLE_PARAMETER = "StageRoleName"
DEFAULT_STAGE_ROLE_NAME = "stepdeploy-stage"
LEDGER_LOOKBACK = 50
OPERATOR_TRUST = "docs/accounts.md (Operators)"


@dataclass(frozen=True)
class Placement:
    """The account and region a target named; None for either: the orchestrator's."""

    account: str | None = None
    region: str | None = None

    @staticmethod
    def of(target: dict[str, Any] | None) -> Placement:
        """From a request's target (or a recorded stage) as JSON."""
        target = target or {}
        account, region = target.get("account"), target.get("region")
        return Placement(str(account) if account else None, str(region) if region else None)


def recorded(op: Operator, stack: str) -> Placement:
    """Where the ledger says ``stack`` lives: its newest release that says so, else a pipeline's stage of that
    stack; the orchestrator's account when neither does (releases recorded before stepdeploy kept it)."""
    for record in op.ledger.releases_of(stack, limit=LEDGER_LOOKBACK):
        if "account" in record or "region" in record:
            return Placement.of(record)
    for record in op.ledger.latest_releases():
        if not str(record.get("stack", "")).startswith(PIPELINE_PREFIX):
            continue
        for stage in record.get("stages") or []:
            if stage.get("stack") == stack:
                return Placement.of(stage)
    return Placement()


def _orchestrator_stack(op: Operator) -> dict[str, Any]:
    if "stack" not in op.cache:
        (op.cache["stack"],) = op.client("cloudformation").describe_stacks(StackName=op.options.orchestrator)["Stacks"]
    return dict(op.cache["stack"])


def stage_of(op: Operator, placement: Placement) -> Stage | None:
    """The stage role to act through for ``placement``; None when it is the orchestrator's own account and
    region. The role's name is the orchestrator's StageRoleName parameter; its ExternalId the orchestrator
    stack's name, as for the task functions."""
    if placement.account is None and placement.region is None:
        return None
    _, partition, _, own_region, own_account, *_ = op.state_machine_arn.split(":")
    account, region = placement.account or own_account, placement.region or own_region
    if account == own_account and region == own_region:
        return None
    stack = _orchestrator_stack(op)
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    return Stage(
        account=account,
        region=region,
        role_name=str(parameters.get(STAGE_ROLE_PARAMETER) or DEFAULT_STAGE_ROLE_NAME),
        partition=partition,
        external_id=str(stack.get("StackName") or op.options.orchestrator),
        session_name=session_name(f"stepdeploy-cli-{op.operator_name}"),
    )


def client(op: Operator, service: str, placement: Placement) -> Any:
    """``service``'s client where ``placement`` is: the stage role's there for the application's services,
    else the operator's own. CliError naming the role and what allows it when the role cannot be assumed."""
    stage = stage_of(op, placement) if service in STAGE_SERVICES else None
    if stage is None:
        return op.client(service)
    try:
        creds = credentials(stage, sts=op.client("sts"))
    except RequestRejected as exc:
        raise CliError(
            f"your credentials ({op.caller_arn}) cannot assume the stage role {stage.role_arn} of account "
            f"{stage.account}, where this stack lives: the stage template trusts the orchestrator's roles and "
            f"the roles in its OperatorRoleArns parameter (see {OPERATOR_TRUST}). {exc}"
        ) from None
    key = f"{service}@{stage.account}/{stage.region}/{creds.access_key}"
    if key not in op.cache:
        op.cache[key] = op.new_client(
            service, region_name=stage.region, aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key, aws_session_token=creds.token,
        )
    return op.cache[key]


def stack_client(op: Operator, service: str, stack: str) -> Any:
    """``service``'s client in the account and region the ledger records for ``stack``."""
    return client(op, service, recorded(op, stack))


def where(op: Operator, placement: Placement) -> str:
    """' in account 222222222222' (and region) for a stack elsewhere; '' for the orchestrator's own."""
    stage = stage_of(op, placement)
    if stage is None:
        return ""
    return f" in account {stage.account} ({stage.region})"
