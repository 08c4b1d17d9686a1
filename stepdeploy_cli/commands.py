"""Every command of `stepdeploy`, registered in one place on the app main.py makes."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from stepdeploy_cli import approvals, executions, metrics, pipelines, recovery, releases, steer, versions
from stepdeploy_cli.context import DEFAULT_ORCHESTRATOR, Operator, Options
from stepdeploy_cli.dashboard.command import dashboard
from stepdeploy_cli.demo.command import demo
from stepdeploy_cli.local import commands as local
from stepdeploy_cli.promote import promote

EXAMPLES = {
    "deployments": "stepdeploy deployments sample-prod --limit 5",
    "watch": "stepdeploy watch sample-app-main-1a2b3c4 --all",
    "redrive": "stepdeploy redrive sample-app-main-1a2b3c4 --watch",
    "replay": "stepdeploy replay sample-app-main-1a2b3c4 --commit 1a2b3c4",
    "rollback": "stepdeploy rollback sample-prod --dry-run",
    "approvals": "stepdeploy approvals --json",
    "approve": "stepdeploy approve sample-app-main-1a2b3c4 --comment 'reviewed'",
    "reject": "stepdeploy reject sample-app-main-1a2b3c4 --comment 'not on a Friday'",
    "dashboard": "stepdeploy dashboard --port 8765",
    "pause": "stepdeploy pause sample-prod",
    "resume": "stepdeploy resume sample-prod",
    "promote": "stepdeploy promote sample --to production --commit 1a2b3c4",
    "abort": "stepdeploy abort sample-prod",
    "progress": "stepdeploy progress sample-prod --json",
    "pipeline": "stepdeploy pipeline sample",
    "metrics": "stepdeploy metrics --since 7d --stack sample-prod",
    "demo": "stepdeploy demo --json | tail -1",
}
"""One example per command, shown at the end of its --help (execution names are unique starts of names)."""


def example(name: str) -> str:
    return f"Example: {EXAMPLES[name]}"


def package_version() -> str:
    try:
        return metadata.version("stepdeploy")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def show_version(value: bool) -> None:
    if value:
        print(f"stepdeploy {package_version()}")
        raise typer.Exit()


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
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Deploy Lambda apps from GHE, safely. The operator commands work against AWS and, with
    AWS_ENDPOINT_URL set, against the local cloud."""
    ctx.obj = Operator(Options(orchestrator=orchestrator, profile=profile, region=region))


def register(app: typer.Typer) -> None:
    app.callback()(options)
    app.command(epilog=example("demo"))(demo)
    local_app = typer.Typer(no_args_is_help=True, help="The embedded local cloud.")
    local.register(local_app)
    app.add_typer(local_app, name="local")
    app.command(epilog=example("deployments"))(releases.deployments)
    app.add_typer(executions.executions_app, name="executions")
    app.command(epilog=example("watch"))(executions.watch)
    app.command(epilog=example("redrive"))(recovery.redrive)
    app.command(epilog=example("replay"))(recovery.replay)
    app.command(epilog=example("rollback"))(releases.rollback)
    app.add_typer(versions.versions_app, name="versions")
    app.command(epilog=example("approvals"))(approvals.approvals)
    app.command(epilog=example("approve"))(approvals.approve)
    app.command(epilog=example("reject"))(approvals.reject)
    app.command(epilog=example("dashboard"))(dashboard)
    for verb in ("pause", "resume", "abort", "progress"):
        app.command(epilog=example(verb))(getattr(steer, verb))
    app.command(epilog=example("promote"))(promote)
    app.command(epilog=example("pipeline"))(pipelines.pipeline)
    app.command(epilog=example("metrics"))(metrics.metrics)
