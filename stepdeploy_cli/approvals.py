"""`stepdeploy approvals|approve|reject`: answer executions waiting at "Wait for approval".

The state stores its task token in the ledger (approval / <execution arn>); an answer resumes the
execution (SendTaskSuccess with {approved, by, identity, by_text, comment}, or SendTaskFailure with
ApprovalRejected) and removes the stored token. ``by`` is the caller's AWS identity (STS), with any
``--by`` text beside it, never instead of it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, aws_error_code, aws_error_message
from stepdeploy_cli.executions import ExecutionArgument, JsonOption, operator
from stepdeploy_cli.output import emit_table, print_json, printed_json_or_none, short_commit, stdout
from stepdeploy_cli.verbs import check

LAPSED_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
HIDDEN = frozenset({"task_token", "pk", "sk", "expires_at"})
CommentOption = Annotated[str, typer.Option(help="Why; kept in the execution and the ledger.")]
ByOption = Annotated[
    str | None,
    typer.Option(help="A note on who answers, recorded beside your AWS identity (never instead of it)."),
]


def _status(op: Operator, execution_arn: str) -> str:
    try:
        return str(op.sfn.describe_execution(executionArn=execution_arn)["status"])
    except ClientError as exc:
        if aws_error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return "GONE"
        raise


def pending_approvals(op: Operator) -> list[dict[str, Any]]:
    """The approval requests of executions still running (the task token left out)."""
    pending: list[dict[str, Any]] = []
    for item in op.ledger.approvals():
        arn = str(item.get("execution_arn") or item["sk"])
        if _status(op, arn) != "RUNNING":
            continue  # answered by a time-out, or stopped: nothing waits any more
        pending.append({
            **{k: v for k, v in item.items() if k not in HIDDEN},
            "execution_arn": arn,
            "name": arn.rsplit(":", 1)[-1],
            "changes": len(item.get("changes") or []),
            "console_url": op.console_url(arn),
        })
    return pending


def approvals(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Executions waiting for a person to approve their change set."""
    pending = pending_approvals(operator(ctx))
    if printed_json_or_none(pending, json_output=json_output, none="no execution waits for approval"):
        return
    table = Table(title="waiting for approval")
    for column in ("execution", "stack", "repository", "branch", "commit", "changes"):
        table.add_column(column, no_wrap=True)
    for row in pending:
        table.add_row(row["name"], str(row.get("stack") or "-"), str(row.get("repository") or "-"),
                      str(row.get("branch") or "-"), short_commit(row.get("commit")), str(row["changes"]))
    emit_table(table)
    if stdout().is_terminal:  # piped: the rows only
        stdout().print("answer with: stepdeploy approve NAME  |  stepdeploy reject NAME --comment WHY")


def approver(identity: str, by: str | None) -> str:
    """The caller's AWS identity, with the ``--by`` text beside it: ``arn:... (grace)``."""
    note = " ".join((by or "").split())[:100]
    return f"{identity} ({note})" if note else identity


def answer(op: Operator, reference: str, *, approved: bool, comment: str, by: str | None) -> dict[str, Any]:
    described = op.describe(reference)
    arn, name, status = str(described["executionArn"]), str(described["name"]), str(described["status"])
    pending = op.ledger.approval(arn)
    if pending is not None and status != "RUNNING":
        op.ledger.remove_approval(arn)
        raise CliError(f"{name} is {status}: its approval request lapsed ({described.get('error') or 'ended'})")
    check(op, "approve" if approved else "reject", described)  # VerbRefused: not waiting, and what it is in
    if pending is None:  # answered meanwhile
        raise CliError(f"{name} is not waiting for approval any more")
    identity = op.caller_arn
    who = approver(identity, by)
    try:
        if approved:
            op.sfn.send_task_success(
                taskToken=pending["task_token"],
                output=json.dumps({
                    "approved": True, "by": who, "identity": identity, "by_text": by or None,
                    "comment": comment or None,
                }),
            )
        else:
            cause = f"Rejected by {who}: {comment}" if comment else f"Rejected by {who}"
            op.sfn.send_task_failure(taskToken=pending["task_token"], error="ApprovalRejected", cause=cause[:32768])
    except ClientError as exc:
        if aws_error_code(exc) in LAPSED_TOKEN_CODES:
            op.ledger.remove_approval(arn)
            raise CliError(
                f"the approval request of {name} is no longer open ({aws_error_code(exc)}: {aws_error_message(exc)}); "
                "it timed out or the execution moved on"
            ) from None
        raise
    op.ledger.remove_approval(arn)
    return {
        "name": name,
        "execution_arn": arn,
        "approved": approved,
        "by": who,
        "identity": identity,
        "by_text": by or None,
        "comment": comment or None,
        "stack": pending.get("stack"),
        "commit": pending.get("commit"),
        "console_url": op.console_url(arn),
    }


def _print_answer(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    verb = "approved" if result["approved"] else "rejected"
    stdout().print(
        f"{verb} {result['name']} ({result.get('stack') or '?'} at {short_commit(result.get('commit'))}) "
        f"as {result['by']}",
        soft_wrap=True, markup=False,
    )
    stdout().print(f"follow   stepdeploy watch {result['name']}", soft_wrap=True, markup=False)


def approve(
    ctx: typer.Context,
    execution: ExecutionArgument,
    comment: CommentOption = "",
    by: ByOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve the change set of an execution waiting for approval: it goes on to execute it."""
    _print_answer(answer(operator(ctx), execution, approved=True, comment=comment, by=by), json_output)


def reject(
    ctx: typer.Context,
    execution: ExecutionArgument,
    comment: CommentOption = "",
    by: ByOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reject the change set of an execution waiting for approval: it fails with ApprovalRejected."""
    _print_answer(answer(operator(ctx), execution, approved=False, comment=comment, by=by), json_output)
