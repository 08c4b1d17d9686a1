"""Printing for the operator commands: JSON for scripts, rich tables for people, times a person reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table


def stdout() -> Console:
    # Built per call so that a redirected sys.stdout (tests, pipes) is the one written to.
    return Console(highlight=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def to_json(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, default=_json_default, ensure_ascii=False)


def print_json(value: Any, *, indent: int | None = 2) -> None:
    print(to_json(value, indent=indent), flush=True)


def printed_json_or_none(rows: list[Any], *, json_output: bool, none: str) -> bool:
    """A listing's output when it needs no table: ``rows`` as JSON with --json, else ``none`` when there are
    none. True when that was printed (the command is done); False: the command draws its table."""
    if json_output:
        print_json(rows)
        return True
    if not rows:
        stdout().print(none)
        return True
    return False


def parse_time(value: Any) -> datetime | None:
    """A datetime from what AWS and the ledger hold: datetimes, ISO strings (Z or offset), epoch millis."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float | Decimal):
        moment = datetime.fromtimestamp(float(value) / 1000, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(value: Any) -> str | None:
    moment = parse_time(value)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def ago(value: Any, now: datetime | None = None) -> str:
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_commit(commit: Any) -> str:
    text = str(commit or "")
    return text[:7] if len(text) == 40 else text or "-"


def versions_text(versions: list[dict[str, Any]] | None) -> str:
    """`GreeterFunction 2 (was 1), CounterFunction 1`: what each alias serves after a release."""
    parts = []
    for function in versions or []:
        name = function.get("logical_id") or function.get("function_name", "?")
        version = str(function.get("version", "?"))
        previous = function.get("previous_version")
        was = f" (was {previous})" if previous and str(previous) != version else ""
        parts.append(f"{name} {version}{was}")
    return ", ".join(parts) or "-"


def cell_text(cell: Any) -> str:
    """A table cell as plain text: rich Text, markup strings ("[green]Deployed[/]") and anything else."""
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    text = str(cell)
    try:
        return Text.from_markup(text).plain
    except Exception:  # noqa: BLE001 - not markup after all (a literal "[")
        return text


def table_rows(table: Table) -> list[list[str]]:
    columns = [list(column.cells) for column in table.columns]
    return [[cell_text(column[row]) for column in columns] for row in range(table.row_count)]


def emit_table(table: Table, console: Console | None = None) -> None:
    """A table as people and scripts want it.

    On a terminal: rich, with every column kept on one line (names and ARNs whole and selectable; a
    table wider than the terminal is printed at its own width and the terminal wraps lines, never
    cells). Elsewhere (a pipe, a file): one tab-separated line per row, no title or header, so that
    `stepdeploy executions list | grep FAILED` and `cut -f1` work.
    """
    out = console or stdout()
    if not out.is_terminal:
        for row in table_rows(table):
            print("\t".join(value.replace("\t", " ").replace("\n", " ") for value in row), flush=True)
        return
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    natural = out.measure(table, options=out.options.update(width=100_000)).maximum
    if natural > out.width:
        wide = Console(highlight=False, width=natural, force_terminal=True, no_color=out.no_color)
        wide.print(table, crop=False)
        return
    out.print(table)
