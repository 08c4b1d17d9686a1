"""`stepdeploy promote`: one verb for both promotions an operator asks for.

Without ``--to`` it steers the stack's running step release to 100 % now (steer.py); with ``--to STAGE``
it deploys a recorded artifact of a pipeline into that stage (pipelines.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from stepdeploy_cli import pipelines, steer
from stepdeploy_cli.approvals import ByOption
from stepdeploy_cli.errors import CliError
from stepdeploy_cli.executions import JsonOption


def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A stack with a running step release; with --to, a pipeline's name.")],
    to: Annotated[str | None, typer.Option("--to", help="A pipeline's stage to deploy a recorded artifact into.")] = (
        None
    ),
    commit: Annotated[str | None, typer.Option(help="With --to: a recorded commit (full or short SHA); default: "
                                                     "what is live in the stage before.")] = None,
    by: ByOption = None,
    json_output: JsonOption = False,
) -> None:
    """Promote: a running step release to 100 % now, or (--to STAGE) a recorded artifact into a pipeline's stage.

    `stepdeploy promote sample-prod` skips the release's remaining steps and waits; `stepdeploy promote sample
    --to production --commit 1a2b3c4` deploys the build that commit's release used, with no rebuild."""
    if to is None:
        if commit is not None:
            raise CliError("--commit goes with --to STAGE (promote a recorded artifact into a pipeline's stage); "
                           "without --to, promote steers the stack's running release")
        steer.promote(ctx, name, by, json_output)
        return
    pipelines.promote(ctx, name, to, commit, json_output)
