"""`stepdeploy executions list|show` and `stepdeploy watch`: what ran, what it did, and what is running now."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from stepdeploy_cli import placement
from stepdeploy_cli.buildlog import TAIL_LINES, latest_piece, read_build_log
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError
from stepdeploy_cli.output import (
    ago,
    duration,
    emit_table,
    iso,
    parse_time,
    print_json,
    printed_json_or_none,
    short_commit,
    stdout,
    to_json,
    versions_text,
)
from stepdeploy_cli.shift import Schedule, bake_countdown, new_version_share, shift_schedule
from stepdeploy_cli.watch import SHIFT_STATES, ExecutionView, StateRun, follow_execution, traffic_line

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

executions_app = typer.Typer(no_args_is_help=True, help="Executions of the deployment state machine.")

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
BAKE_STATES = frozenset({"Bake", "Baked?", "Wait while baking"})
SCAN_LIMIT = 1000
"""`executions list` looks at this many of the newest executions at most (each costs a DescribeExecution)."""
SINCE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
ExecutionArgument = Annotated[
    str, typer.Argument(help="Execution ARN, name, or the unique start of a name.", show_default=False)
]


def operator(ctx: typer.Context) -> Operator:
    found = ctx.find_object(Operator)
    if found is None:  # a command invoked without the top-level callback (not through `stepdeploy`)
        from stepdeploy_cli.context import Options

        found = Operator(Options())
    return found


# --- what an execution is about --------------------------------------------------------------------
def trigger_of(input_text: str | None) -> dict[str, Any]:
    """Source, repository, branch, commit and pusher from an execution's input."""
    try:
        trigger = json.loads(input_text or "{}")
    except ValueError:
        trigger = {}
    if not isinstance(trigger, dict):
        trigger = {}
    event: dict[str, Any] = trigger["event"] if isinstance(trigger.get("event"), dict) else {}
    detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
    out: dict[str, Any] = {"source": trigger.get("source"), "replay_of": trigger.get("replay_of")}
    if trigger.get("source") == "ghe":
        ref = str(detail.get("ref", ""))
        out.update(
            repository=detail.get("repository"),
            branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ref or None,
            commit=detail.get("after"),
            pusher=detail.get("pusher") or detail.get("sender"),
        )
    elif trigger.get("source") == "s3":
        key = str((detail.get("object") or {}).get("key", ""))
        parts = key.split("/")
        out.update(repository="/".join(parts[-3:-1]) if len(parts) >= 3 else None, upload=key or None)
    return out


def summary(op: Operator, described: dict[str, Any]) -> dict[str, Any]:
    """One execution as the list and the other commands show it."""
    arn = str(described["executionArn"])
    status = str(described["status"])
    started, stopped = parse_time(described.get("startDate")), parse_time(described.get("stopDate"))
    out: dict[str, Any] = {
        "name": described["name"],
        "execution_arn": arn,
        "status": status,
        **trigger_of(described.get("input")),
        "stack": None,
        "outcome": None,
        "error": described.get("error"),
        "cause": described.get("cause"),
        "started_at": iso(started),
        "stopped_at": iso(stopped),
        "duration_seconds": round((stopped - started).total_seconds(), 3) if started and stopped else None,
        "redrive_count": described.get("redriveCount", 0),
        "console_url": op.console_url(arn),
    }
    if status == "SUCCEEDED":
        try:
            document = json.loads(described.get("output") or "{}")
        except ValueError:
            document = {}
        request = document.get("request") or {}
        release = document.get("release") or {}
        out["stack"] = release.get("stack") if release.get("stack") not in (None, "(none)") else None
        out["stack"] = out["stack"] or (request.get("target") or {}).get("stack")
        out["outcome"] = release.get("outcome") or ("Skipped" if request.get("skip") else "Succeeded")
        out["commit"] = out.get("commit") or request.get("commit")
        out["branch"] = out.get("branch") or request.get("branch")
        if request.get("skip"):
            out["reason"] = request.get("reason")
    else:
        known = op.ledger.stack_of_execution(arn) or {}
        out["stack"] = known.get("stack")
        out["commit"] = out.get("commit") or known.get("commit")
        out["outcome"] = described.get("error") or status.title()
    return out


# --- executions list -------------------------------------------------------------------------------
def parse_since(text: str) -> datetime:
    match = SINCE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    moment = parse_time(text.strip())
    if moment is None:
        raise CliError(
            f"--since: expected a duration like 30m, 2h or 7d, or an ISO time like 2024-05-01T12:00Z; got {text!r}"
        )
    return moment


def repository_matches(wanted: str, repository: str | None) -> bool:
    if not repository:
        return False
    return wanted == repository or ("/" not in wanted and repository.rsplit("/", 1)[-1] == wanted)


@executions_app.command("list", epilog="Example: stepdeploy executions list --status failed --since 2d | cut -f1")
def list_executions(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.")] = None,
    repository: Annotated[str | None, typer.Option(help="owner/repo, or just repo.")] = None,
    stack: Annotated[str | None, typer.Option(help="The application stack the execution deploys.")] = None,
    since: Annotated[str | None, typer.Option(help="Started within (30m, 2h, 7d) or after an ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many executions.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The latest executions, newest first."""
    op = operator(ctx)
    status_filter = status.upper() if status else None
    if status_filter and status_filter not in STATUSES:
        raise CliError(f"--status: expected one of {', '.join(STATUSES)}; got {status!r}")
    after = parse_since(since) if since else None
    kwargs: dict[str, Any] = {"stateMachineArn": op.state_machine_arn}
    if status_filter:
        kwargs["statusFilter"] = status_filter
    found: list[dict[str, Any]] = []
    examined = 0
    for page in op.sfn.get_paginator("list_executions").paginate(**kwargs):
        for item in page["executions"]:
            started = parse_time(item.get("startDate"))
            examined += 1
            if (after and started and started < after) or examined > SCAN_LIMIT:
                break
            described = dict(op.sfn.describe_execution(executionArn=item["executionArn"]))
            row = summary(op, described)
            if repository and not repository_matches(repository, row.get("repository")):
                continue
            if stack and row.get("stack") != stack:
                continue
            found.append(row)
            if len(found) >= limit:
                break
        else:
            continue
        break
    none = "no executions match" + (f" among the latest {SCAN_LIMIT}" if examined > SCAN_LIMIT else "")
    if printed_json_or_none(found, json_output=json_output, none=none):
        return
    table = Table(title=f"executions of {op.state_machine_arn.rsplit(':', 1)[-1]}")
    for column in ("name", "status", "outcome", "stack", "repository", "branch", "commit", "started", "took"):
        table.add_column(column, no_wrap=True)
    styles = {"SUCCEEDED": "green", "FAILED": "red", "RUNNING": "cyan", "TIMED_OUT": "red", "ABORTED": "yellow"}
    for row in found:
        table.add_row(
            row["name"],
            Text(row["status"], style=styles.get(row["status"], "")),
            str(row.get("outcome") or "-"),
            row.get("stack") or "-",
            row.get("repository") or "-",
            row.get("branch") or "-",
            short_commit(row.get("commit")),
            ago(row.get("started_at")),
            duration(row.get("duration_seconds")),
        )
    emit_table(table)


# --- executions show -------------------------------------------------------------------------------
def next_steps(row: dict[str, Any], runs: list[StateRun], approval: dict[str, Any] | None) -> list[str]:
    name = row["name"]
    if row["status"] == "RUNNING":
        if approval:
            return [f"stepdeploy approve {name}", f"stepdeploy reject {name} --comment WHY"]
        return [f"stepdeploy watch {name}"]
    if row["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
        if runs and runs[-1].name == "Deployment failed":
            return [f"stepdeploy replay {name}  (after fixing the cause)"]
        return [f"stepdeploy redrive {name}", f"stepdeploy replay {name}"]
    return []


@executions_app.command("show", epilog="Example: stepdeploy executions show sample-app-main-1a2b3c4 --log")
def show_execution(
    ctx: typer.Context,
    execution: ExecutionArgument,
    log: Annotated[bool, typer.Option("--log", help="The whole build log, not its last lines.")] = False,
    json_output: JsonOption = False,
) -> None:
    """One execution: trigger, stack, a timeline of its states, the error and its cause, the build log's tail."""
    op = operator(ctx)
    described = op.describe(execution)
    view = ExecutionView(op.sfn, str(described["executionArn"]))
    described = view.refresh()
    row = summary(op, described)
    runs = view.runs()
    release = op.ledger.release_of_execution(row["execution_arn"])
    if release:
        row["environment"] = release.get("environment")
        row["outcome"] = release.get("outcome") or row["outcome"]
        row["versions"] = release.get("versions") or []
        row["build_logs_url"] = release.get("build_logs_url")
    pending = op.ledger.approval(row["execution_arn"]) if row["status"] == "RUNNING" else None
    if pending:
        hidden = ("task_token", "pk", "sk", "expires_at")
        row["approval_pending"] = {k: v for k, v in pending.items() if k not in hidden}
    row["next"] = next_steps(row, runs, pending)
    build = latest_piece(view.events, "build")
    build_log = None
    if row["status"] in ("FAILED", "TIMED_OUT", "ABORTED") and build and build.get("build_id"):
        build_log = read_build_log(op.client("codebuild"), op.client("logs"), str(build["build_id"]),
                                   tail=None if log else TAIL_LINES)
        row["build_log"] = build_log.as_dict()
    started = runs[0].entered if runs else None
    if json_output:
        print_json({**row, "states": [run.as_dict(started) for run in runs]})
        return
    out = stdout()
    status_style = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(row["status"], "red")
    out.print(Text.assemble(("Execution ", "bold"), row["name"], "  ", (row["status"], f"bold {status_style}")))
    lines: list[tuple[str, str]] = [("ARN", row["execution_arn"]), ("Console", row["console_url"])]
    trigger = f"{row.get('source') or '?'}"
    if row.get("repository"):
        trigger += f" {row['repository']}"
    if row.get("branch"):
        trigger += f" {row['branch']}"
    if row.get("commit"):
        trigger += f" @ {short_commit(row['commit'])}"
    if row.get("upload"):
        trigger += f" upload {row['upload']}"
    if row.get("pusher"):
        trigger += f" by {row['pusher']}"
    if row.get("replay_of"):
        trigger += f" (replay of {str(row['replay_of']).rsplit(':', 1)[-1]})"
    lines.append(("Trigger", trigger))
    if row.get("stack"):
        where = row["stack"] + (f" ({row['environment']})" if row.get("environment") else "")
        lines.append(("Stack", f"{where}, outcome {row.get('outcome') or '-'}"))
    elif row.get("reason"):
        lines.append(("Skipped", str(row["reason"])))
    took = f", took {duration(row['duration_seconds'])}" if row.get("duration_seconds") is not None else ""
    redriven = f", redriven {row['redrive_count']}x" if row.get("redrive_count") else ""
    lines.append(("Started", f"{row['started_at']} ({ago(row['started_at'])}){took}{redriven}"))
    if row.get("versions"):
        lines.append(("Versions", versions_text(row["versions"])))
    for label, value in lines:
        out.print(Text.assemble((f"{label:<10}", "bold"), value), soft_wrap=True)
    if runs:
        stopped = parse_time(described.get("stopDate"))
        from stepdeploy_cli.watch import timeline_table

        out.print(timeline_table(runs, now=stopped or datetime.now(UTC)))
    if row.get("error"):
        out.print(Text.assemble(("Error     ", "bold"), (str(row["error"]), "red")), soft_wrap=True)
        out.print(Text.assemble(("Cause     ", "bold"), str(row.get("cause") or "")), soft_wrap=True)
    if build_log is not None:
        if build_log.problem:
            out.print(Text.assemble(("Build log ", "bold"), build_log.problem), soft_wrap=True)
        else:
            shown = "all" if len(build_log.lines) == build_log.total else f"last {len(build_log.lines)}"
            more = "" if shown == "all" else "; --log for all"
            out.print(Text.assemble(("Build log ", "bold"), f"{build_log.group} {build_log.stream} "
                                    f"({shown} of {build_log.total} lines{more})"), soft_wrap=True)
            for line in build_log.lines:
                out.print(Text("  " + line), soft_wrap=True)
    if pending:
        out.print(Text.assemble(("Waiting   ", "bold"), "for approval"), soft_wrap=True)
    for step in row["next"]:
        out.print(Text.assemble(("Next      ", "bold"), step), soft_wrap=True)


# --- watch -----------------------------------------------------------------------------------------
def alias_split(lambda_client: LambdaClient, functions: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Logical id -> {version: share of traffic} of each released function's alias, now."""
    split: dict[str, dict[str, float]] = {}
    for function in functions:
        alias = lambda_client.get_alias(FunctionName=function["function_name"], Name=function["alias"])
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        name = function.get("logical_id") or function["function_name"]
        split[name] = {str(alias["FunctionVersion"]): round(1 - sum(weights.values()), 3), **weights}
    return split


class ShiftTraffic:
    """The traffic source of a watched execution: the aliases' split while the execution shifts traffic."""

    def __init__(self, op: Operator, view: ExecutionView) -> None:
        self.op = op
        self.view = view

    def __call__(self) -> dict[str, dict[str, float]]:
        if self.view.current_state() not in SHIFT_STATES:
            return {}
        functions = [f for f in self.view.released_functions() if f.get("changed", True)]
        if not functions:
            return {}
        return alias_split(placement.client(self.op, "lambda", placement.Placement.of(self.view.target())), functions)


class JsonLines:
    """`watch --json`: one JSON object a line, as states start and end and as the traffic split moves."""

    def __init__(self, view: ExecutionView) -> None:
        self.view = view
        self.seen: dict[int, str] = {}
        self.last_split: dict[str, dict[str, float]] = {}

    def __call__(self, described: dict[str, Any]) -> None:
        runs = self.view.runs()
        started = runs[0].entered if runs else None
        for index, run in enumerate(runs):
            if self.seen.get(index) != run.status:
                self.seen[index] = run.status
                print(to_json({"event": "state", **run.as_dict(started)}, indent=None), flush=True)
        split = self.view.traffic() if self.view.traffic else {}
        if split and split != self.last_split:
            self.last_split = split
            print(to_json({"event": "traffic", "state": self.view.current_state(), "split": split}, indent=None),
                  flush=True)


def choice_states(op: Operator, execution_arn: str) -> frozenset[str]:
    """The Choice states of the definition the execution runs (internal branching, hidden by `watch`)."""
    definition = json.loads(op.sfn.describe_state_machine_for_execution(executionArn=execution_arn)["definition"])
    return frozenset(name for name, state in (definition.get("States") or {}).items() if state.get("Type") == "Choice")


class ShiftNotes:
    """`watch`'s lines about a shift (each function's step now, the next one and when) and the bake's countdown."""

    def __init__(self, op: Operator, view: ExecutionView) -> None:
        self.op = op
        self.view = view

    def __call__(self) -> list[str]:
        state = self.view.current_state()
        if state in BAKE_STATES:
            bake = bake_countdown(latest_piece(self.view.events, "bake"), datetime.now(UTC))
            if bake:
                watching = f", watching {', '.join(bake['alarms'])}" if bake["alarms"] else ""
                return [f"bake      {duration(bake['remaining_seconds'])} left as of {bake['checked_at'] or '?'} "
                        f"(until {bake['until']}){watching}"]
            return []
        if state not in SHIFT_STATES:
            return []
        shift = latest_piece(self.view.events, "shift") or {}
        functions = {str(f.get("logical_id")): f for f in self.view.released_functions()}
        split = self.view.traffic() if self.view.traffic else {}
        lines = []
        for deployment in shift.get("deployments") or []:
            name = str(deployment.get("logical_id"))
            share = new_version_share(split.get(name, {}), str((functions.get(name) or {}).get("version")))
            codedeploy = placement.client(self.op, "codedeploy", placement.Placement.of(self.view.target()))
            schedule = shift_schedule(codedeploy, str(deployment["deployment_id"]), share)
            lines.append(f"schedule  {name}: {schedule_text(schedule)}")
        return lines


def schedule_text(schedule: Schedule) -> str:
    """`LambdaCanary10Percent5Minutes: step 1/2 now (10%); next 100% at +5m (12:05:00Z)`."""
    now = "not started" if schedule.current is None else (
        f"step {schedule.current + 1}/{len(schedule.steps)} now ({schedule.steps[schedule.current].percent}%)")
    step = schedule.next_step()
    if step is None:
        return f"{schedule.config}: {now}; last step"
    when = iso(schedule.next_at())
    return f"{schedule.config}: {now}; next {step.percent}% at +{step.offset_minutes}m" + (f" ({when})" if when else "")


class PlainLines:
    """`watch` when the output is not a terminal: a line per state change and per traffic split."""

    def __init__(self, view: ExecutionView) -> None:
        self.view = view
        self.seen: dict[int, str] = {}
        self.last_split: dict[str, dict[str, float]] = {}
        self.last_notes: list[str] = []

    def __call__(self, described: dict[str, Any]) -> None:
        out = stdout()
        for index, run in enumerate(self.view.visible_runs()):
            if self.seen.get(index) != run.status:
                self.seen[index] = run.status
                timing = f" {run.seconds(datetime.now(UTC)):.2f}s" if run.status != "running" else ""
                out.print(f"{run.entered:%H:%M:%S} {run.name}: {run.result()}{timing}", soft_wrap=True)
        split = self.view.traffic() if self.view.traffic else {}
        if split and split != self.last_split:
            self.last_split = split
            out.print(f"traffic  {traffic_line(split)}", soft_wrap=True)
        notes = self.view.notes() if self.view.notes else []
        if notes and [n.split(" left as of")[0] for n in notes] != [n.split(" left as of")[0] for n in self.last_notes]:
            self.last_notes = notes
            for line in notes:
                out.print(line, soft_wrap=True, markup=False)


def follow(
    op: Operator, arn: str, *, json_output: bool, timeout: float, interval: float, show_all: bool = True
) -> dict[str, Any]:
    """Follow an execution to its end in the chosen output mode; returns its summary."""
    view = ExecutionView(op.sfn, arn)
    view.traffic = ShiftTraffic(op, view)
    view.notes = ShiftNotes(op, view)
    if not show_all:
        view.hidden = choice_states(op, arn)
    out = stdout()
    if json_output:
        described = follow_execution(view, JsonLines(view), timeout=timeout, interval=interval)
    elif out.is_terminal:
        from rich.live import Live

        with Live(console=out, refresh_per_second=4, transient=False) as screen:
            described = follow_execution(view, lambda d: screen.update(view.render(d)), timeout=timeout,
                                         interval=interval)
    else:
        described = follow_execution(view, PlainLines(view), timeout=timeout, interval=interval)
    row = summary(op, described)
    if json_output:
        print(to_json({"event": "end", **row}, indent=None), flush=True)
    elif described["status"] != "RUNNING":
        ending = f"{row['name']} {row['status']}"
        if row.get("outcome") and row["outcome"] not in (row["status"].title(), row.get("error")):
            ending += f" ({row['outcome']})"
        if row.get("error"):
            ending += f": {row['error']}: {row.get('cause') or ''}"
        out.print(Text(ending.rstrip(": "), style="green" if row["status"] == "SUCCEEDED" else "red"), soft_wrap=True)
        out.print(f"console  {row['console_url']}", soft_wrap=True)
    return row


def watch(
    ctx: typer.Context,
    execution: ExecutionArgument,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object a line (states, traffic, end).")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds (exit 1).")] = 3600.0,
    interval: Annotated[float, typer.Option(help="Seconds between two looks.")] = 1.0,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show the internal Choice states too (Build finished?, ...).")
    ] = False,
) -> None:
    """Follow a running execution to its end: its states, the traffic split and schedule of a shift, the bake.

    Exits 0 if the execution succeeded, 1 otherwise.
    """
    op = operator(ctx)
    described = op.describe(execution)
    row = follow(op, str(described["executionArn"]), json_output=json_output, timeout=timeout, interval=interval,
                 show_all=show_all)
    if row["status"] == "RUNNING":
        raise CliError(f"{row['name']} is still running after {timeout:.0f}s; watch it again to go on")
    if row["status"] != "SUCCEEDED":
        raise typer.Exit(1)
