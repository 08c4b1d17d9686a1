"""`stepdeploy deployments` (the ledger) and `stepdeploy rollback` (aliases back to a recorded good release)."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from stepdeploy.errors import StackLocked
from stepdeploy.models import iso
from stepdeploy.release.recovery import wake_lock_waiters
from stepdeploy.release.retention import current_position, rollback_target, serving
from stepdeploy_cli import placement
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, aws_error_code
from stepdeploy_cli.executions import JsonOption, operator
from stepdeploy_cli.output import (
    ago,
    duration,
    emit_table,
    print_json,
    printed_json_or_none,
    short_commit,
    stdout,
    versions_text,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

HIDDEN = frozenset({"pk", "sk", "expires_at", "ledger_sk"})
VERSION_NUMBER = re.compile(r"^[1-9][0-9]*$")
HISTORY_LIMIT = 200


def _plain_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in HIDDEN}


def no_releases(op: Operator, stack: str) -> CliError:
    known = sorted(str(r.get("stack")) for r in op.ledger.latest_releases())
    return CliError(f"no releases recorded for stack {stack!r}; stacks with releases: {', '.join(known) or 'none'}")


# --- deployments -----------------------------------------------------------------------------------
def deployments(
    ctx: typer.Context,
    stack: Annotated[
        str | None, typer.Argument(help="Show this stack's history instead of the latest of each.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=HISTORY_LIMIT, help="With STACK: at most this many.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The latest release of each stack and environment, or one stack's history.

    Commit, versions, outcome, when, how long, who pushed.
    """
    op = operator(ctx)
    if stack:
        records = op.ledger.releases_of(stack, limit=limit)
        if not records:
            raise no_releases(op, stack)
    else:
        records = sorted(op.ledger.latest_releases(), key=lambda r: (str(r.get("stack")), str(r.get("environment"))))
    rows = [_plain_record(r) for r in records]
    if printed_json_or_none(rows, json_output=json_output, none="no releases recorded yet"):
        return
    table = Table(title=f"releases of {stack}" if stack else "latest release per stack")
    for column in ("stack", "env", "outcome", "commit", "versions", "when", "took", "pushed by", "release"):
        table.add_column(column, no_wrap=True)
    styles = {"Deployed": "green", "RolledBack": "yellow", "NoChanges": "dim"}
    for row in rows:
        outcome = str(row.get("outcome") or "-")
        table.add_row(
            str(row.get("stack") or "-"),
            str(row.get("environment") or "-"),
            f"[{styles.get(outcome, 'red')}]{outcome}[/]",
            short_commit(row.get("commit")),
            versions_text(row.get("versions")),
            ago(row.get("ended_at") or row.get("started_at")),
            duration(row.get("duration_seconds")),
            str(row.get("pusher") or "-"),
            str(row.get("execution_name") or "-"),
        )
    emit_table(table)


# --- rollback --------------------------------------------------------------------------------------
@dataclass
class AliasMove:
    logical_id: str
    function_name: str
    alias: str
    from_version: str | None
    to_version: str
    weights: dict[str, float]
    """The alias's extra routing now (a shift in progress); a rollback clears it."""

    @property
    def changes(self) -> bool:
        return self.from_version != self.to_version or bool(self.weights)


def choose_release(records: list[dict[str, Any]], live: dict[str, str], stack: str) -> dict[str, Any]:
    """The release a rollback goes back to by default (the one version retention keeps for it); CliError
    saying why when there is none."""
    position = current_position(records)
    if position is None:
        raise CliError(f"no release of stack {stack} was ever deployed: nothing to roll back to")
    target = rollback_target(records, live)
    if target is not None:
        return target
    current = records[position].get("execution_name")
    raise CliError(
        f"no Deployed release of stack {stack} before {current} serves other versions; "
        "pass --release ID or --to VERSION"
    )


def live_aliases(lam: LambdaClient, records: list[dict[str, Any]], stack: str) -> list[dict[str, Any]]:
    """The stack's released functions, with the version and routing their alias has now (``lam``: a Lambda
    client in the stack's account)."""
    newest = next((r for r in records if r.get("versions")), None)
    if newest is None:
        raise CliError(f"the ledger has no released functions for stack {stack}: nothing to roll back")
    functions = []
    for function in newest["versions"]:
        try:
            alias = lam.get_alias(FunctionName=function["function_name"], Name=function["alias"])
        except ClientError as exc:
            if aws_error_code(exc) == "ResourceNotFoundException":
                raise CliError(
                    f"function {function['function_name']} has no alias {function['alias']!r} any more; "
                    "was the stack deleted or changed by hand?"
                ) from None
            raise
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        functions.append({**function, "live_version": str(alias["FunctionVersion"]), "weights": dict(weights)})
    return functions


def check_version(lam: LambdaClient, function_name: str, version: str, logical_id: str) -> None:
    try:
        lam.get_function_configuration(FunctionName=function_name, Qualifier=version)
    except ClientError as exc:
        if aws_error_code(exc) == "ResourceNotFoundException":
            raise CliError(f"--to {version}: {logical_id} ({function_name}) has no version {version}") from None
        raise


def refuse_if_deploying(op: Operator, stack: str, force: bool) -> None:
    holder = op.ledger.lock_holder(stack)
    if not holder or force:
        return
    owner = str(holder.get("owner"))
    try:
        running = op.sfn.describe_execution(executionArn=owner)["status"] == "RUNNING"
    except ClientError:
        running = False  # a lock left by an execution that no longer exists
    if running:
        raise CliError(
            f"stack {stack} is being deployed by {owner.rsplit(':', 1)[-1]} "
            f"(commit {short_commit(holder.get('commit'))}); wait for it to end, "
            "or pass --force to move the aliases anyway"
        )


def rollback(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="The application stack.", show_default=False)],
    to: Annotated[str | None, typer.Option("--to", help="Move every function's alias to this version.")] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="The release (execution name) to go back to.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Even while a deployment holds the stack's lock.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal).")]
    = False,
    comment: Annotated[str, typer.Option(help="Why; kept in the ledger.")] = "",
    by: Annotated[
        str | None, typer.Option(help="Who rolls back (default: your AWS identity, or $USER locally).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Move a stack's aliases back to a recorded good release at once; recorded in the ledger as RolledBack.

    By default the Deployed release before the current one.
    """
    op = operator(ctx)
    if to is not None and release is not None:
        raise CliError("pass --to VERSION or --release ID, not both")
    if to is not None and not VERSION_NUMBER.match(to):
        raise CliError(f"--to: expected a published version number like 3; got {to!r}")
    records = op.ledger.releases_of(stack, limit=HISTORY_LIMIT)
    if not records:
        raise no_releases(op, stack)
    refuse_if_deploying(op, stack, force)
    placed = placement.recorded(op, stack)
    lam = placement.client(op, "lambda", placed)
    functions = live_aliases(lam, records, stack)
    live = {str(f["function_name"]): str(f["live_version"]) for f in functions}
    target: dict[str, Any] | None = None
    if to is not None:
        for function in functions:
            check_version(lam, str(function["function_name"]), to, str(function.get("logical_id")))
        wanted = {name: to for name in live}
    else:
        if release is not None:
            target = next((r for r in records if release in (r.get("execution_name"), r.get("execution_arn"))), None)
            if target is None:
                raise CliError(f"--release: no release {release!r} of stack {stack} in the ledger (see "
                               f"`stepdeploy deployments {stack}`)")
            if target.get("outcome") != "Deployed":
                raise CliError(f"--release: {release} ended {target.get('outcome')}; only a Deployed release is "
                               "known good")
        else:
            target = choose_release(records, live, stack)
        wanted = {**live, **{k: v for k, v in serving(target).items() if k in live}}
    moves = [
        AliasMove(str(f.get("logical_id") or f["function_name"]), str(f["function_name"]), str(f["alias"]),
                  str(f["live_version"]), wanted[str(f["function_name"])], dict(f["weights"]))
        for f in functions
    ]
    result: dict[str, Any] = {
        "stack": stack,
        "account": placed.account,
        "region": placed.region,
        "release": target.get("execution_name") if target else None,
        "commit": target.get("commit") if target else None,
        "to_version": to,
        "moves": [{**asdict(m), "changes": m.changes} for m in moves],
        "dry_run": dry_run,
        "recorded": None,
    }
    if not any(m.changes for m in moves):
        result["message"] = "the aliases already serve these versions; nothing moved"
    elif not dry_run:
        confirm_rollback(stack, moves, yes)
        started = datetime.now(UTC)
        owner = None if force else lock_for_rollback(op, stack, started, target)
        try:
            for move in moves:
                if move.changes:
                    lam.update_alias(FunctionName=move.function_name, Name=move.alias,
                                     FunctionVersion=move.to_version, RoutingConfig={"AdditionalVersionWeights": {}})
            result["recorded"] = record_rollback(op, stack, moves, target, records, started, by or op.operator_name,
                                                 comment, placed)
        finally:
            if owner is not None and op.ledger.release_lock(stack, owner):
                wake_lock_waiters(stack, by=owner, reason=f"the rollback of {stack} ended", sfn=op.sfn,
                                  ledger=op.ledger)
    print_rollback(result, json_output)


ROLLBACK_LEASE_SECONDS = 600
"""The rollback's hold on the stack's lock: long enough to move every alias; freed when it ends."""


def confirm_rollback(stack: str, moves: list[AliasMove], yes: bool) -> None:
    """Ask in a terminal; without one, only --yes goes ahead (a script must say so)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"rollback of {stack} moves live traffic and stdin is not a terminal to confirm it: "
                       "pass --yes (or look first with --dry-run)")
    plan = ", ".join(f"{m.function_name}:{m.alias} {m.from_version} -> {m.to_version}" for m in moves if m.changes)
    if not typer.confirm(f"Move {plan}?", default=False, err=True):
        raise CliError("rollback cancelled; nothing moved")


def lock_for_rollback(op: Operator, stack: str, started: datetime, target: dict[str, Any] | None) -> str:
    """Take the stack's lock for the rollback (no deployment starts meanwhile); its owner, to free it."""
    owner = f"rollback:{stack}:{started.strftime('%Y%m%dT%H%M%S')}{started.microsecond // 1000:03d}Z"

    def running(arn: str) -> bool:
        try:
            return bool(op.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING")
        except ClientError:
            return False

    try:
        op.ledger.take_lock(stack, owner, ROLLBACK_LEASE_SECONDS, running,
                            commit=str((target or {}).get("commit") or ""))
    except StackLocked as exc:
        raise CliError(f"{exc}; wait for it to end, or pass --force to move the aliases anyway") from None
    return owner


def record_rollback(
    op: Operator,
    stack: str,
    moves: list[AliasMove],
    target: dict[str, Any] | None,
    records: list[dict[str, Any]],
    started: datetime,
    by: str,
    comment: str,
    placed: placement.Placement | None = None,
) -> str:
    stamp = started.strftime("%Y%m%dT%H%M%S") + f"{started.microsecond // 1000:03d}Z"
    position = current_position(records)
    current = records[position] if position is not None else {}
    name = f"rollback-{stack}-{stamp}"
    ended = datetime.now(UTC)
    op.ledger.record_release({
        "execution_arn": f"rollback:{stack}:{stamp}",
        "execution_name": name,
        "stack": stack,
        "environment": (target or current).get("environment"),
        "repository": (target or current).get("repository"),
        "branch": (target or current).get("branch"),
        "commit": target.get("commit") if target else None,
        "source": "rollback",
        "pusher": by,
        "outcome": "RolledBack",
        "cause": comment or None,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_seconds": round((ended - started).total_seconds(), 3),
        "versions": [
            {"logical_id": m.logical_id, "function_name": m.function_name, "alias": m.alias, "version": m.to_version,
             "previous_version": m.from_version, "changed": m.from_version != m.to_version}
            for m in moves
        ],
        "rolled_back_to": target.get("execution_name") if target else None,
        "rolled_back_from": current.get("execution_name"),
        "account": placed.account if placed else None,
        "region": placed.region if placed else None,
    })
    return name


def print_rollback(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    out = stdout()
    goal = f"release {result['release']} ({short_commit(result['commit'])})" if result["release"] else (
        f"version {result['to_version']}")
    verb = "would move" if result["dry_run"] else "moved"
    where = f" (account {result['account']})" if result.get("account") else ""
    table = Table(title=f"{result['stack']}{where}: back to {goal}")
    for column in ("function", "alias", "from", "to", ""):
        table.add_column(column, no_wrap=True)
    for move in result["moves"]:
        shifting = f" (+{', '.join(f'v{v} {w:.0%}' for v, w in move['weights'].items())})" if move["weights"] else ""
        table.add_row(move["logical_id"], move["alias"], f"{move['from_version']}{shifting}", move["to_version"],
                      verb if move["changes"] else "unchanged")
    out.print(table)
    if result.get("message"):
        out.print(result["message"])
    elif result["recorded"]:
        out.print(f"recorded in the ledger as {result['recorded']} (RolledBack)", markup=False)
