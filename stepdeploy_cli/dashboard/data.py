"""What the dashboard shows, read fresh on every request from Step Functions, the ledger and the services.

The dashboard keeps no state of its own: each function here takes the operator's connection
(`stepdeploy_cli.context.Operator`) and answers a JSON-ready dict.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from stepdeploy_cli import placement
from stepdeploy_cli.approvals import answer, pending_approvals
from stepdeploy_cli.buildlog import latest_piece, read_build_log
from stepdeploy_cli.context import Operator
from stepdeploy_cli.dashboard.graph import layout
from stepdeploy_cli.dora import dora_figures, ledger_records
from stepdeploy_cli.errors import aws_error_message
from stepdeploy_cli.executions import alias_split, summary
from stepdeploy_cli.output import iso
from stepdeploy_cli.pipelines import pipeline_views
from stepdeploy_cli.recovery import redrive_now
from stepdeploy_cli.shift import bake_countdown, new_version_share, shift_schedule
from stepdeploy_cli.steer import progress_of, steer
from stepdeploy_cli.verbs import REDRIVABLE, VERBS, check, execution_verbs, step_verbs, unknown_verb
from stepdeploy_cli.watch import SHIFT_STATES, ExecutionView

RECENT = 15
DORA_WINDOW = timedelta(days=30)
RELEASE_KEYS = ("stack", "account", "region", "environment", "outcome", "commit", "repository", "branch", "pusher",
                "started_at", "ended_at", "duration_seconds", "execution_name", "execution_arn", "versions")


def _release(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in RELEASE_KEYS}


def stacks(op: Operator) -> list[dict[str, Any]]:
    """Each stack and stage with the release it serves, and who deploys it now (its lock)."""
    rows = []
    for record in sorted(op.ledger.latest_releases(), key=lambda r: (str(r.get("stack")), str(r.get("environment")))):
        row = _release(record)
        holder = op.ledger.lock_holder(str(record.get("stack")))
        row["deploying"] = str(holder["owner"]).rsplit(":", 1)[-1] if holder and holder.get("owner") else None
        rows.append(row)
    return rows


def executions(op: Operator, limit: int = RECENT) -> list[dict[str, Any]]:
    page = op.sfn.list_executions(stateMachineArn=op.state_machine_arn, maxResults=limit)
    return [summary(op, dict(op.sfn.describe_execution(executionArn=item["executionArn"])))
            for item in page["executions"]]


def dora(op: Operator, now: datetime) -> list[dict[str, Any]]:
    since = now - DORA_WINDOW
    return [f.as_dict() for f in dora_figures(ledger_records(op.ledger, since=since), since=since, until=now)]


def overview(op: Operator) -> dict[str, Any]:
    now = datetime.now(UTC)
    recent = executions(op)
    return {
        "now": iso(now),
        "orchestrator": op.options.orchestrator,
        "state_machine_arn": op.state_machine_arn,
        "stacks": stacks(op),
        "executions": recent,
        "running": sum(1 for row in recent if row["status"] == "RUNNING"),
        "approvals": pending_approvals(op),
        "dora": dora(op, now),
        "dora_window_days": DORA_WINDOW.days,
    }


def state_status(runs: list[Any]) -> dict[str, str]:
    """State name -> the status of its latest visit, for colouring the drawing."""
    return {run.name: run.status for run in runs}


def traffic(op: Operator, view: ExecutionView, clock_speed: float = 1.0) -> dict[str, Any] | None:
    """The live split of each shifted alias and the shift's schedule, while the execution shifts traffic."""
    if view.current_state() not in SHIFT_STATES:
        return None
    functions = [f for f in view.released_functions() if f.get("changed", True)]
    if not functions:
        return None
    placed = placement.Placement.of(view.target())  # a stage in another account: its aliases are there
    split = alias_split(placement.client(op, "lambda", placed), functions)
    shift = latest_piece(view.events, "shift") or {}
    deployments = {str(d.get("logical_id")): d for d in shift.get("deployments") or []}
    out = []
    for function in functions:
        name = str(function.get("logical_id") or function["function_name"])
        weights = split.get(name, {})
        share = new_version_share(weights, str(function.get("version")))
        row: dict[str, Any] = {"function": name, "alias": function.get("alias"), "new_version": function.get("version"),
                               "old_version": function.get("previous_version"), "split": weights,
                               "new_share": share}
        deployment = deployments.get(name)
        if deployment and deployment.get("deployment_id"):
            try:
                row["schedule"] = shift_schedule(
                    placement.client(op, "codedeploy", placed), deployment["deployment_id"], share, clock_speed
                ).as_dict()
            except ClientError as exc:
                row["schedule_problem"] = aws_error_message(exc)
        out.append(row)
    return {"functions": out}


def execution(op: Operator, reference: str, clock_speed: float = 1.0) -> dict[str, Any]:
    """One execution; ``clock_speed`` times the shift's schedule on the local cloud's faster clock."""
    described = op.describe(reference)
    arn = str(described["executionArn"])
    view = ExecutionView(op.sfn, arn)
    described = view.refresh()
    row = summary(op, described)
    runs = view.runs()
    definition = json.loads(op.sfn.describe_state_machine_for_execution(executionArn=arn)["definition"])
    pending = op.ledger.approval(arn) if row["status"] == "RUNNING" else None
    started = runs[0].entered if runs else None
    out: dict[str, Any] = {
        **row,
        "current_state": view.current_state(),
        "states": [run.as_dict(started) for run in runs],
        "state_status": state_status(runs),
        "graph": layout(definition),
        "traffic": traffic(op, view, clock_speed) if row["status"] == "RUNNING" else None,
        "bake": bake_countdown(latest_piece(view.events, "bake"), datetime.now(UTC))
        if view.current_state() in ("Bake", "Baked?", "Wait while baking") else None,
        "approval": {k: v for k, v in pending.items() if k not in ("task_token", "pk", "sk", "expires_at")}
        if pending else None,
        "verbs": execution_verbs(row["status"], runs[-1].name if runs else None, pending is not None),
        "build_log": None,
    }
    out["release"] = release_of(op, view, out)
    build = latest_piece(view.events, "build")
    if row["status"] in REDRIVABLE and build and build.get("build_id"):
        out["build_log"] = read_build_log(op.client("codebuild"), op.client("logs"), str(build["build_id"])).as_dict()
    return out


# --- operator verbs ------------------------------------------------------------------------------------
def act(op: Operator, verb: str, reference: str, *, comment: str, by: str | None) -> dict[str, Any]:
    """Run ``verb`` (approve, reject, stop, redrive; pause, resume, promote, abort of the release it runs) on an
    execution, if it applies to the execution now (`verbs.check`: VerbRefused says what it is in, and what
    applies); CliError says why not."""
    if verb not in VERBS:
        raise unknown_verb(verb)
    if verb in ("approve", "reject"):  # the same check, in the function `stepdeploy approve|reject` runs
        return answer(op, reference, approved=verb == "approve", comment=comment, by=by)
    described = op.describe(reference)
    found = check(op, verb, described)
    arn, name = found.execution_arn, found.name
    who = by or op.operator_name
    if verb == "stop":
        op.sfn.stop_execution(executionArn=arn, error="StoppedByOperator",
                              cause=f"Stopped from the dashboard by {who}" + (f": {comment}" if comment else ""))
        return {"name": name, "execution_arn": arn, "stopped": True, "by": who}
    if verb == "redrive":
        return {**redrive_now(op, described), "redriven": True, "by": who}
    assert found.stack is not None  # a release verb applies only to an execution that runs its stack's release
    return steer(op, found.stack, verb, by)


# --- a running release's verbs, and pipelines ------------------------------------------------------------
JOURNAL_SHOWN = 12


def release_of(op: Operator, view: ExecutionView, shown: dict[str, Any]) -> dict[str, Any] | None:
    """The release an execution runs, with the operator verbs it offers: a step release of stepdeploy's engine
    (its steps, where it stands, the aliases' live weights, its journal), or a CodeDeploy shift (abort only)."""
    stack, arn, status = shown.get("stack"), str(shown["execution_arn"]), str(shown["status"])
    control = op.ledger.progress(str(stack)) if stack else None
    if not control or control.get("execution_arn") != arn:
        if status == "RUNNING" and shown.get("traffic"):
            return {"engine": "codedeploy", "stack": stack, "verbs": ["abort"]}
        return None
    found = progress_of(op, str(stack))  # what `stepdeploy progress STACK` shows
    functions = [f for f in view.released_functions() if f.get("changed", True)]
    weights: dict[str, dict[str, float]] = {}
    problem = None
    if functions and status == "RUNNING":
        try:
            weights = alias_split(op.client("lambda"), functions)
        except ClientError as exc:  # e.g. a stage in another account: the release is shown without its weights
            problem = f"the aliases' weights could not be read: {aws_error_message(exc)}"
    aliases = []
    for function in functions:
        name = str(function.get("logical_id") or function["function_name"])
        split = weights.get(name)
        aliases.append({"function": name, "alias": function.get("alias"), "new_version": function.get("version"),
                        "old_version": function.get("previous_version"), "split": split,
                        "new_share": new_version_share(split, str(function.get("version"))) if split else None})
    keys = ("status", "paused_reason", "step", "percent", "steps", "command", "started_at", "updated_at")
    return {"engine": "stepdeploy", "stack": stack, **{k: found.get(k) for k in keys},
            "functions": aliases, "weights_problem": problem, "journal": found["journal"][-JOURNAL_SHOWN:],
            "verbs": step_verbs(status, found.get("status"))}


def pipelines(op: Operator) -> dict[str, Any]:
    """Each pipeline: which commit is live in which stage and each stage's last attempt, and its running
    executions with the stage and gate each waits at (as `stepdeploy pipeline`)."""
    return {"now": iso(datetime.now(UTC)), "pipelines": pipeline_views(op)}
