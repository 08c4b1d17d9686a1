"""The `stepdeploy` command: the demo, the local cloud, and what operators use day to day."""

from __future__ import annotations

import typer

from stepdeploy_cli.commands import register
from stepdeploy_cli.errors import OperatorGroup

app = typer.Typer(
    cls=OperatorGroup,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=True,
    help="Deploy Lambda apps from GHE, safely.",
)
register(app)


if __name__ == "__main__":
    app()
