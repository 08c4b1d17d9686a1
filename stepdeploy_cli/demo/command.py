"""`stepdeploy demo`: every scenario against the sample app on the local cloud, watched live."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from stepdeploy_cli.errors import CliError


def demo(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")] = False,
    speed: Annotated[float, typer.Option(help="Local clock speed: virtual seconds per real second.")] = 60.0,
) -> None:
    """Run the demo scenarios (CodeDeploy and the step engine) against the sample app on the local cloud."""
    from stepdeploy_cli.demo.runner import run_demo

    logging.basicConfig(level=logging.ERROR)
    report = run_demo(speed=speed, live=not json_output and sys.stdout.isatty(), console=Console())
    if json_output:
        print(json.dumps(report))
    failed = [s for s in report["scenarios"] if not s.get("as_expected")]
    if failed:
        raise CliError("scenarios not as expected: " + ", ".join(s["name"] for s in failed))
