"""`stepdeploy metrics`: DORA's four keys per repository and stack, from the release ledger (stepdeploy_cli.dora)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from stepdeploy_cli.dora import dora_figures, ledger_records
from stepdeploy_cli.executions import JsonOption, operator, parse_since
from stepdeploy_cli.output import duration, emit_table, iso, print_json, stdout

DEFAULT_WINDOW = "30d"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def metrics(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="The window: releases that ended within (7d, 4w) or after an ISO time.")
    ] = DEFAULT_WINDOW,
    stack: Annotated[str | None, typer.Option(help="Only this application stack.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Deployment frequency, lead time, change failure rate and time to restore, per repository and stack.

    Lead time: commit to deployed. Change failure: failed once the stack changed, or rolled back.

    Time to restore: failure to the stack's next good release. The README's Observability section says more.
    """
    op = operator(ctx)
    after = parse_since(since)
    now = datetime.now(UTC)
    figures = dora_figures(ledger_records(op.ledger, since=after, stack=stack), since=after, until=now)
    if json_output:
        print_json({"since": iso(after), "until": iso(now), "figures": [f.as_dict() for f in figures]})
        return
    if not figures:
        stdout().print(f"no releases ended since {iso(after)}" + (f" for stack {stack}" if stack else ""))
        return
    table = Table(title=f"DORA figures since {iso(after)}")
    for column in ("repository", "stack", "deploys", "per day", "lead time p50", "change failures",
                   "restore p50", "other outcomes"):
        table.add_column(column, no_wrap=True)
    for row in figures:
        others = ", ".join(f"{name} {count}" for name, count in row.outcomes.items() if name != "Deployed")
        failures = f"{_percent(row.change_failure_rate)} ({row.change_failures}/{row.changes})"
        restore = duration(row.restore_median_seconds) + (f", {row.unrestored} open" if row.unrestored else "")
        table.add_row(
            row.repository,
            row.stack,
            str(row.deployments),
            f"{row.deployments_per_day:g}",
            duration(row.lead_time_median_seconds),
            failures,
            restore,
            others or "-",
        )
    emit_table(table)
