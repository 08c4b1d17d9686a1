"""`stepdeploy redrive` and `stepdeploy replay`: resume a failed execution, or run a trigger again."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError

from stepdeploy.ingress.naming import execution_name
from stepdeploy_cli.commits import orchestrator_ghe, resolve_commit
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, aws_error_code, aws_error_message
from stepdeploy_cli.executions import ExecutionArgument, JsonOption, follow, operator, trigger_of
from stepdeploy_cli.output import iso, print_json, short_commit, stdout, to_json
from stepdeploy_cli.verbs import FAILURE_PATH_END, REDRIVABLE
from stepdeploy_cli.watch import ExecutionView

COMMIT_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
MAX_REPLAYS = 100
CAUSE_CHARS = 160
WatchOption = Annotated[bool, typer.Option("--watch", help="Then follow the execution to its end.")]


def _emit(result: dict[str, Any], *, json_output: bool, watching: bool, lines: list[str]) -> None:
    if json_output:
        if watching:  # one JSON object a line, like `watch --json`
            print(to_json(result, indent=None), flush=True)
        else:
            print_json(result)
        return
    out = stdout()
    for line in lines:
        out.print(line, soft_wrap=True, highlight=False, markup=False)


def _running(op: Operator, execution_arn: str) -> bool:
    try:
        status: str = op.sfn.describe_execution(executionArn=execution_arn)["status"]
        return status == "RUNNING"
    except ClientError as exc:
        if aws_error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise


def _finish(op: Operator, arn: str, *, json_output: bool, timeout: float) -> None:
    row = follow(op, arn, json_output=json_output, timeout=timeout, interval=1.0)
    if row["status"] != "SUCCEEDED":
        raise typer.Exit(1)


def refuse_a_stale_redrive(op: Operator, described: dict[str, Any]) -> None:
    """The check the redriven execution would make when it takes the stack's lock back (newer code live, or a
    newer push registered): refused here, with the reason, rather than a redrive that ends Superseded."""
    from stepdeploy.release.recovery import newer_than_this
    from stepdeploy.tasks.finalize_execution import last_document

    arn, name = str(described["executionArn"]), str(described["name"])
    document = last_document(arn, sfn=op.sfn)
    if document is None:
        return
    started = described.get("startDate")
    newer = newer_than_this(document, arn, started.isoformat() if isinstance(started, datetime) else None, op.ledger)
    if newer is not None:
        raise CliError(
            f"{name} is not worth redriving: {newer}. The redrive would end Superseded without deploying; "
            f"to deploy its commit over the newer one on purpose: `stepdeploy replay {name}`"
        )


def redrive_now(op: Operator, described: dict[str, Any]) -> dict[str, Any]:
    """Redrive an execution (RedriveExecution) after the checks that it is worth it; CliError says why not. What
    `stepdeploy redrive` and the dashboard's Redrive both run."""
    arn, name, status = str(described["executionArn"]), str(described["name"]), str(described["status"])
    if status not in REDRIVABLE:
        hint = {
            "RUNNING": "it is still running; `stepdeploy watch` follows it",
            "SUCCEEDED": "it succeeded; `stepdeploy replay` runs its trigger again",
        }.get(status, "")
        raise CliError(
            f"{name} is not redrivable: it is {status}; only FAILED, TIMED_OUT or ABORTED executions are"
            + (f" ({hint})" if hint else "")
        )
    if described.get("redriveStatus") == "NOT_REDRIVABLE":
        reason = described.get("redriveStatusReason") or "Step Functions refuses it"
        raise CliError(f"{name} is not redrivable: {reason}")
    view = ExecutionView(op.sfn, arn)
    view.refresh()
    runs = view.runs()
    if runs and runs[-1].name == FAILURE_PATH_END:
        cause = str(described.get("cause") or "").strip()
        cause = cause if len(cause) <= CAUSE_CHARS else cause[: CAUSE_CHARS - 3].rstrip() + "..."
        raise CliError(
            f"{name} is not worth redriving: it ended in the pipeline's failure path with {described.get('error')}"
            f"{' (' + cause + ')' if cause else ''}; a redrive would fail the same way. Fix the cause, then "
            f"`stepdeploy replay {name}`"
        )
    known = op.ledger.stack_of_execution(arn)
    if known:
        holder = op.ledger.lock_holder(str(known["stack"]))
        if holder and holder.get("owner") != arn and _running(op, str(holder["owner"])):
            raise CliError(
                f"{name} is not redrivable now: stack {known['stack']} is being deployed by "
                f"{str(holder['owner']).rsplit(':', 1)[-1]} (commit {short_commit(holder.get('commit'))}); "
                "redrive after it ends"
            )
    refuse_a_stale_redrive(op, described)
    resumes_at = next((run.name for run in reversed(runs) if run.status in ("failed", "stopped")), None)
    try:
        answer = op.sfn.redrive_execution(executionArn=arn, clientToken=str(uuid.uuid4()))
    except ClientError as exc:
        code = aws_error_code(exc)
        if code == "ExecutionNotRedrivable":
            raise CliError(f"{name} is not redrivable: {aws_error_message(exc)}") from None
        if code == "ExecutionLimitExceeded":
            raise CliError(
                f"cannot redrive {name} now: too many executions are running ({aws_error_message(exc)})"
            ) from None
        raise
    return {
        "event": "redriven",
        "name": name,
        "execution_arn": arn,
        "redrive_date": iso(answer.get("redriveDate")),
        "redrive_count": int(described.get("redriveCount") or 0) + 1,
        "resumes_at": resumes_at,
        "previous_error": described.get("error"),
        "console_url": op.console_url(arn),
    }


def redrive(
    ctx: typer.Context,
    execution: ExecutionArgument,
    watch: WatchOption = False,
    json_output: JsonOption = False,
    timeout: Annotated[float, typer.Option(help="With --watch: give up after this many seconds.")] = 3600.0,
) -> None:
    """Resume a failed execution at the state that failed, with that state's input (RedriveExecution).

    Successful states are not run again; every task is safe to run twice.
    """
    op = operator(ctx)
    described = op.describe(execution)
    result = redrive_now(op, described)
    name, arn, resumes_at = result["name"], result["execution_arn"], result["resumes_at"]
    _emit(result, json_output=json_output, watching=watch, lines=[
        f"redriven {name} (redrive {result['redrive_count']}); resumes at {resumes_at or 'the failed state'}",
        f"console  {result['console_url']}",
        *([] if watch else [f"follow   stepdeploy watch {name}"]),
    ])
    if watch:
        _finish(op, arn, json_output=json_output, timeout=timeout)


def replay_input(described: dict[str, Any], commit: str | None, now: datetime) -> dict[str, Any]:
    """The original trigger, at another commit if asked, stamped now so it is the newest request for its target."""
    name = str(described["name"])
    try:
        trigger = json.loads(described.get("input") or "")
    except ValueError:
        raise CliError(f"{name} has no JSON input to replay") from None
    if not isinstance(trigger, dict) or not isinstance(trigger.get("event"), dict):
        raise CliError(f"{name} was not started by stepdeploy's triggers (its input has no event); nothing to replay")
    event = trigger["event"]
    if commit is not None:
        if not COMMIT_SHA.match(commit):
            raise CliError(f"--commit: expected a full 40-hex-digit commit SHA; got {commit!r}")
        if trigger.get("source") != "ghe":
            raise CliError(
                f"--commit: {name} deployed an uploaded artifact (source {trigger.get('source')}), which has no commit "
                "to change; upload another artifact instead"
            )
        detail = dict(event.get("detail") or {})
        detail["after"] = commit.lower()
        for stale in ("head_commit_message", "head_commit_timestamp", "before"):
            detail.pop(stale, None)
        event = {**event, "detail": detail}
    # Superseded mode keeps the newest request per target: a replay is requested now.
    event = {**event, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {**trigger, "event": event, "replay_of": described["executionArn"]}


def replay(
    ctx: typer.Context,
    execution: ExecutionArgument,
    commit: Annotated[
        str | None, typer.Option(help="Deploy this commit of the same branch instead (a SHA, or its first 7+ digits).")
    ] = None,
    watch: WatchOption = False,
    json_output: JsonOption = False,
    timeout: Annotated[float, typer.Option(help="With --watch: give up after this many seconds.")] = 3600.0,
) -> None:
    """Start a new execution with the same input (the same push or upload), or the same push at another commit."""
    op = operator(ctx)
    described = op.describe(execution)
    if commit is not None and trigger_of(described.get("input")).get("source") == "ghe":
        commit = resolve_commit(commit, trigger_of(described.get("input")).get("repository"),
                                lambda: orchestrator_ghe(op))
    new_input = replay_input(described, commit, datetime.now(UTC))
    about = trigger_of(json.dumps(new_input))
    release = op.ledger.release_of_execution(str(described["executionArn"])) or {}
    repository = str(about.get("repository") or release.get("repository") or "replay")
    branch = str(about.get("branch") or release.get("branch") or "")
    sha = str(about.get("commit") or release.get("commit") or described["name"])
    body = json.dumps(new_input, separators=(",", ":"))
    names = (execution_name(repository, branch, sha, "", suffix=f"replay-{n}") for n in range(1, MAX_REPLAYS + 1))
    started = op.start_execution(names, body)
    if started is None:
        raise CliError(f"{described['name']} was replayed {MAX_REPLAYS} times already at {short_commit(sha)}")
    arn = str(started["executionArn"])
    result = {
        "event": "replayed",
        "name": arn.rsplit(":", 1)[-1],
        "execution_arn": arn,
        "replay_of": described["executionArn"],
        "commit": about.get("commit"),
        "started_at": iso(started.get("startDate")),
        "console_url": op.console_url(arn),
    }
    _emit(result, json_output=json_output, watching=watch, lines=[
        f"started {result['name']}, a replay of {described['name']}"
        + (f" at {short_commit(about.get('commit'))}" if about.get("commit") else ""),
        f"console  {result['console_url']}",
        *([] if watch else [f"follow   stepdeploy watch {result['name']}"]),
    ])
    if watch:
        _finish(op, arn, json_output=json_output, timeout=timeout)

