"""The operator commands, registered on the `stepdeploy` app by main.py."""

from __future__ import annotations

from typing import Annotated

import typer

from stepdeploy_cli import approvals, executions, recovery, releases
from stepdeploy_cli.context import DEFAULT_ORCHESTRATOR, Operator, Options
from stepdeploy_cli.dashboard.command import dashboard


def options(
    ctx: typer.Context,
    orchestrator: Annotated[
        str,
        typer.Option(
            "--orchestrator",
            envvar="STEPDEPLOY_STACK",
            help="The orchestrator's CloudFormation stack (its outputs name the state machine and the ledger table).",
        ),
    ] = DEFAULT_ORCHESTRATOR,
    profile: Annotated[str | None, typer.Option(help="AWS profile (default: the usual chain).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION or the profile's).")] = None,
) -> None:
    """Deploy Lambda apps from GHE, safely. The operator commands work against AWS and, with
    AWS_ENDPOINT_URL set, against the local cloud."""
    ctx.obj = Operator(Options(orchestrator=orchestrator, profile=profile, region=region))


def register(app: typer.Typer) -> None:
    app.callback()(options)
    app.command()(releases.deployments)
    app.add_typer(executions.executions_app, name="executions")
    app.command()(executions.watch)
    app.command()(recovery.redrive)
    app.command()(recovery.replay)
    app.command()(releases.rollback)
    app.command()(approvals.approvals)
    app.command()(approvals.approve)
    app.command()(approvals.reject)
    app.command()(dashboard)
