"""`stepdeploy versions prune STACK`: the versions retention deletes, and why each other one is kept.

The same plan as the state machine's Prune versions step (stepdeploy/release/retention.py), for a stack's
functions as its newest release names them. `--dry-run` shows it and changes nothing; otherwise it asks
before deleting (or `--yes`).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.release import retention
from stepdeploy_cli import placement
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, aws_error_code
from stepdeploy_cli.executions import JsonOption, operator
from stepdeploy_cli.output import emit_table, print_json, stdout
from stepdeploy_cli.releases import no_releases

versions_app = typer.Typer(no_args_is_help=True, help="Published Lambda versions of a stack's functions.")

LEDGER_HISTORY = 200
RETAIN_PARAMETER = "RetainReleases"


def orchestrator_retain(op: Operator) -> int:
    """The orchestrator stack's RetainReleases parameter: what Prune versions uses after each release."""
    name = op.options.orchestrator
    try:
        (stack,) = op.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        code = aws_error_code(exc)
        raise CliError(f"cannot read the orchestrator stack {name!r} ({code}): pass --retain N") from None
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    value = parameters.get(RETAIN_PARAMETER)
    if value is None or not str(value).isdigit():
        raise CliError(f"the orchestrator stack {name!r} has no {RETAIN_PARAMETER} parameter: pass --retain N")
    return int(value)


def survey(lam: LambdaVersions, names: list[str]) -> tuple[dict[str, tuple[list[str], list[dict[str, Any]]]],
                                                            dict[tuple[str, str], int]]:
    """Versions and aliases per function, and each version's code size in bytes."""
    functions, sizes = {}, {}
    for name in names:
        try:
            published = lam.versions(name)
            functions[name] = ([str(v["Version"]) for v in published], lam.aliases(name))
        except ClientError as exc:
            if aws_error_code(exc) != "ResourceNotFoundException":
                raise
            continue
        sizes.update({(name, str(v["Version"])): int(v.get("CodeSize") or 0) for v in published})
    return functions, sizes


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


def confirm(stack: str, count: int, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"pruning {stack} deletes {count} versions and stdin is not a terminal to confirm it: "
                       "pass --yes (or look first with --dry-run)")
    if not typer.confirm(f"Delete {count} versions of {stack}'s functions?", default=False, err=True):
        raise CliError("pruning cancelled; nothing deleted")


def prune(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="The application stack.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; change nothing.")] = False,
    retain: Annotated[
        int | None,
        typer.Option(min=0, max=100, help="Releases kept per function (default: the orchestrator's RetainReleases)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal).")]
    = False,
    json_output: JsonOption = False,
) -> None:
    """Delete the versions beyond each function's last releases; never an alias target or the rollback target."""
    op = operator(ctx)
    records = op.ledger.releases_of(stack, limit=LEDGER_HISTORY)
    if not records:
        raise no_releases(op, stack)
    names = retention.functions_of(records)
    if not names:
        raise CliError(f"no Deployed release of stack {stack} names its functions: nothing to prune")
    keep = orchestrator_retain(op) if retain is None else retain
    lam = LambdaVersions(placement.stack_client(op, "lambda", stack))
    functions, sizes = survey(lam, names)
    plans = retention.plan_stack(records, functions, keep)
    deletions = sum(len(plan.deletions) for plan in plans)
    failed: dict[str, dict[str, str]] = {}
    if deletions and not dry_run:
        confirm(stack, deletions, yes)
        for plan in plans:
            result = retention.delete(lam, plan)
            if result.failed:
                failed[plan.function_name] = result.failed
    report = {
        "stack": stack,
        "retain": keep,
        "dry_run": dry_run,
        "functions": [
            {
                "function_name": plan.function_name,
                "versions": [
                    {"version": v.version, "keep": v.keep, "reason": v.reason,
                     "code_size": sizes.get((plan.function_name, v.version), 0),
                     **({"failed": failed[plan.function_name][v.version]}
                        if v.version in failed.get(plan.function_name, {}) else {})}
                    for v in plan.verdicts
                ],
            }
            for plan in plans
        ],
        "kept_bytes": sum(sizes.get((p.function_name, v), 0) for p in plans for v in p.kept),
        "deleted_bytes": sum(sizes.get((p.function_name, v), 0) for p in plans for v in p.deletions
                             if v not in failed.get(p.function_name, {})),
    }
    print_report(report, json_output)
    if failed:
        raise CliError("some versions could not be deleted: " + "; ".join(
            f"{name} {version} ({code})" for name, versions in failed.items() for version, code in versions.items()))


def print_report(report: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(report)
        return
    verb = "would delete" if report["dry_run"] else "deleted"
    table = Table(title=f"{report['stack']}: versions, keeping the last {report['retain']} releases of each function")
    for column in ("function", "version", "code", "", "why"):
        table.add_column(column, no_wrap=column != "why")
    for function in report["functions"]:
        for version in function["versions"]:
            action = "keep" if version["keep"] else ("[red]failed[/]" if version.get("failed") else verb)
            table.add_row(function["function_name"], version["version"], megabytes(version["code_size"]), action,
                          version["reason"] + (f" ({version['failed']})" if version.get("failed") else ""))
    emit_table(table)
    stdout().print(f"kept {megabytes(report['kept_bytes'])} of code; {verb} {megabytes(report['deleted_bytes'])}",
                   markup=False)


versions_app.command(epilog="Example: stepdeploy versions prune sample-prod --dry-run")(prune)
