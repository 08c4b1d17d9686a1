"""`stepdeploy local up`: the local cloud in the foreground, with the dashboard on its port."""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from stepdeploy_cli.errors import CliError

if TYPE_CHECKING:
    from stepdeploy_localcloud.cloud import LocalCloud

STATE_DIR = Path(".stepdeploy-local")


_ALLOW_ENTRY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:[^\s,:]+(:adopt)?(:privileged)?$")


def _allowed(entries: list[str]) -> str:
    for entry in entries:
        if not _ALLOW_ENTRY.match(entry):
            raise CliError(
                f"--allow {entry!r}: expected owner/repo:stack-pattern, optionally followed by :adopt and/or "
                ":privileged (the stacks the repository may deploy, e.g. platform/sample-app:sample-*)"
            )
    return ",".join(entries)


def serve_dashboard(cloud: LocalCloud) -> str:
    """Mount the dashboard at /dashboard on the local cloud's own port; its URL."""
    import os

    from stepdeploy_cli.context import Operator, Options
    from stepdeploy_cli.dashboard.app import Dashboard
    from stepdeploy_cli.dashboard.command import DASHBOARD_PATH
    from stepdeploy_localcloud.clock import CLOCK

    if cloud.orchestrator is None:
        raise RuntimeError("the local cloud has no orchestrator whose dashboard to serve: start it (LocalCloud.start)")
    # The local cloud takes any credentials; the operator's own ones, if set, are kept.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    options = Options(orchestrator=cloud.orchestrator.stack_name, region="us-east-1", endpoint_url=cloud.url)
    cloud.server.mount(DASHBOARD_PATH, Dashboard(Operator(options), clock_speed=CLOCK.speed))
    return f"{cloud.url}{DASHBOARD_PATH}/"


def up(
    port: Annotated[int, typer.Option(help="Port of the AWS API, the webhook and the GHE API.")] = 4566,
    speed: Annotated[float, typer.Option(help="Local clock speed.")] = 60.0,
    allow: Annotated[
        list[str] | None,
        typer.Option(help="A repository and the stacks it may deploy: owner/repo:stack-pattern[:adopt][:privileged] "
                     "(repeatable; "
                     "default platform/sample-app:sample-*).", show_default=False),
    ] = None,
    runtime: Annotated[
        list[str] | None,
        typer.Option(help="The interpreter of a Lambda runtime: RUNTIME=PATH, e.g. python3.12=/usr/bin/python3.12 "
                     "(repeatable; default: found on PATH and in ~/.pyenv).", show_default=False),
    ] = None,
    layer: Annotated[
        list[str] | None,
        typer.Option(help="Content of a layer version ARN that exists only on AWS: ARN=PATH (a folder laid out "
                     "as the layer's zip, or the zip; repeatable).", show_default=False),
    ] = None,
) -> None:
    """Run the local cloud in the foreground (AWS_ENDPOINT_URL=http://127.0.0.1:PORT)."""
    from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
    from stepdeploy_localcloud.awslambda import runtimes
    from stepdeploy_localcloud.cloud import DEFAULT_ALLOWED, LocalCloud

    logging.basicConfig(level=logging.WARNING)
    try:
        for assignment in runtime or []:
            runtimes.configure(*runtimes.parse_assignment(assignment))
        for assignment in layer or []:
            arn, sep, path = assignment.rpartition("=")
            if not sep:
                raise CliError(f"--layer {assignment!r}: expected ARN=PATH")
            lambda_runtime.provide_layer(arn, Path(path))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    allowed = _allowed(allow or []) or DEFAULT_ALLOWED
    cloud = LocalCloud(STATE_DIR, port=port, speed=speed, allowed_repositories=allowed)
    try:
        cloud.start()
    except Exception as exc:  # noqa: BLE001 - shown to the user, not a traceback
        raise CliError(f"the local cloud did not start: {exc}") from None
    assert cloud.orchestrator is not None
    dashboard_url = serve_dashboard(cloud)
    out = Console()
    out.print(f"AWS API      export AWS_ENDPOINT_URL={cloud.url}")
    out.print(f"Webhook      {cloud.webhook_url}")
    out.print(f"Secret       {cloud.webhook_secret}")
    out.print(f"GHE API      {cloud.ghe.api_base}  (token {cloud.ghe.token})")
    out.print(f"Allowed      {cloud.allowed_repositories}")
    out.print(f"State machine {cloud.orchestrator.state_machine_arn}")
    for account in cloud.stages:
        out.print(f"Stage account {account}: role arn:aws:iam::{account}:role/stepdeploy-stage "
                  f"(ExternalId {cloud.stack_name}; docs/accounts.md)", highlight=False)
    for (account, region), outputs in cloud.regional_stages.items():
        out.print(f"Stage region {account} {region}: code bucket {outputs.get('CodeBucketName', '?')}",
                  highlight=False)
    out.print(f"Nothing is kept across a restart: executions, stacks and the ledger start empty; only the "
              f"local GHE (repositories, commit statuses) is kept, in {STATE_DIR / 'ghe'}.", highlight=False)
    if cloud.settled_statuses:
        out.print(f"Set {len(cloud.settled_statuses)} commit status(es) left pending by the previous run to "
                  "error: their executions no longer exist.", highlight=False)
    out.print(f"Dashboard    {dashboard_url}")
    out.print("Ctrl-C stops it.")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        cloud.server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
