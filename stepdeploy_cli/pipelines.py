"""`stepdeploy pipeline` (which commit is in which stage) and `stepdeploy promote` (a recorded artifact,
by hand, into one stage).

A pipeline's parent execution records a release under ``pipeline:<name>`` naming its stages and their
stacks; each stage's child execution records its release on the stage's stack, with its build. A running
parent is read from Step Functions: the stage it promotes into and the gate it waits at.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.markup import escape
from rich.table import Table

from stepdeploy.ingress.naming import execution_name
from stepdeploy.models import iso
from stepdeploy_cli.buildlog import latest_piece
from stepdeploy_cli.commits import FULL_SHA, SHORT_SHA, orchestrator_ghe, resolve_commit
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, aws_error_code
from stepdeploy_cli.executions import JsonOption, operator
from stepdeploy_cli.output import ago, emit_table, print_json, printed_json_or_none, short_commit, stdout
from stepdeploy_cli.watch import ExecutionView

PIPELINE_PREFIX = "pipeline:"
LIVE = ("Deployed", "NoChanges")
MAX_PROMOTIONS = 20
RUNNING_LIMIT = 50
GATE_STATES = ("Check stage gates", "Stage gates open?")


def recorded_pipelines(op: Operator) -> dict[str, dict[str, Any]]:
    """Pipeline name -> its newest run's record (which names the stages and their stacks)."""
    return {str(r["stack"]).removeprefix(PIPELINE_PREFIX): r for r in op.ledger.latest_releases()
            if str(r.get("stack", "")).startswith(PIPELINE_PREFIX) and r.get("stages")}


def pipeline_record(op: Operator, name: str) -> dict[str, Any]:
    """The newest run's record of pipeline ``name`` (its stages and their stacks); CliError if none."""
    known = recorded_pipelines(op)
    if name not in known:
        raise CliError(f"no pipeline {name!r} recorded; pipelines: {', '.join(sorted(known)) or 'none yet'}")
    return known[name]


def stage_rows(op: Operator, name: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stage: what is live there (the newest Deployed release) and the newest attempt."""
    rows = []
    for stage in record["stages"]:
        history = op.ledger.releases_of(str(stage["stack"]), limit=20)
        live = next((r for r in history if r.get("outcome") in LIVE), None)
        latest = history[0] if history else None
        rows.append({
            "pipeline": name, "stage": stage["name"], "stack": stage["stack"], "account": stage.get("account"),
            "commit": live.get("commit") if live else None,
            "digest": live.get("artifact_digest") if live else None,
            "deployed_at": live.get("ended_at") if live else None,
            "release": live.get("execution_name") if live else None,
            "last_outcome": latest.get("outcome") if latest else None,
            "last_commit": latest.get("commit") if latest else None,
        })
    return rows


def _gate(op: Operator, view: ExecutionView, state: str | None, stage: str | None) -> dict[str, Any]:
    """What the parent waits for now: ``kind`` building, checking, window, soak, approval or deploying."""
    if stage is None:
        return {"kind": "building", "state": state}
    if state in GATE_STATES:
        return {"kind": "checking", "state": state}
    gate = (latest_piece(view.events, "checked") or {}).get("gate") or {}
    if state == "Wait at stage gate":
        return {"kind": gate.get("waiting_at") or "gate", "state": state, "reason": gate.get("reason")}
    child_name = str(gate.get("child_name") or "")
    if state != "Deploy stage" or not child_name:
        return {"kind": "deploying", "state": state}
    child_arn = f"{view.execution_arn.rsplit(':', 1)[0]}:{child_name}"
    child = ExecutionView(op.sfn, child_arn)
    try:
        child.refresh()
    except ClientError as exc:
        if aws_error_code(exc) != "ExecutionDoesNotExist":
            raise
        return {"kind": "deploying", "state": state, "child": child_name}
    approval = op.ledger.approval(child_arn)
    if approval is not None:
        return {"kind": "approval", "state": "Wait for approval", "child": child_name,
                "changes": len(approval.get("changes") or [])}
    return {"kind": "deploying", "state": child.current_state(), "child": child_name}


def running_pipelines(op: Operator) -> list[dict[str, Any]]:
    """Each running pipeline execution (a parent): its stages, the stage it promotes into and the gate it
    waits at (window, soak, approval of the stage's child), newest first."""
    page = op.sfn.list_executions(stateMachineArn=op.state_machine_arn, statusFilter="RUNNING",
                                  maxResults=RUNNING_LIMIT)
    out = []
    for item in page["executions"]:
        view = ExecutionView(op.sfn, str(item["executionArn"]))
        described = view.refresh()
        try:
            trigger = json.loads(described.get("input") or "{}")
        except ValueError:
            trigger = {}
        if not isinstance(trigger, dict) or trigger.get("stage"):
            continue  # a stage's child execution (or promote): its parent, if any, is listed instead
        request = latest_piece(view.events, "request") or {}
        plan = request.get("pipeline")
        if not isinstance(plan, dict) or not plan.get("stages"):
            continue
        stages = [{"name": str(s["name"]), "stack": str(s["stack"])} for s in plan["stages"]]
        iterations = [e["mapIterationStartedEventDetails"] for e in view.events
                      if e["type"] == "MapIterationStarted" and e.get("mapIterationStartedEventDetails")]
        index = iterations[-1].get("index") if iterations else None
        stage = stages[int(index)]["name"] if index is not None and 0 <= int(index) < len(stages) else None
        state = view.current_state()
        out.append({
            "pipeline": str(plan.get("name")), "stages": stages, "execution_name": described["name"],
            "execution_arn": described["executionArn"], "commit": request.get("commit"),
            "pusher": request.get("pusher"), "started_at": iso(described.get("startDate")), "stage": stage,
            "gate": _gate(op, view, state, stage),
        })
    return out


def pipeline_views(op: Operator) -> list[dict[str, Any]]:
    """Each pipeline, recorded or running its first run: its stages with what is live in each (`stage_rows`) and
    its running executions with the stage and gate each waits at (`running_pipelines`). What `stepdeploy
    pipeline` prints and the dashboard's pipeline view shows."""
    recorded = recorded_pipelines(op)
    running = running_pipelines(op)
    out = []
    for name in sorted(set(recorded) | {str(r["pipeline"]) for r in running}):
        mine = [r for r in running if r["pipeline"] == name]
        record = {"stages": mine[0]["stages"]} if mine else recorded[name]  # the newest run's stages
        out.append({"name": name, "stages": stage_rows(op, name, record), "running": mine})
    return out


def waiting_here(view: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    """The running executions of a pipeline at ``stage``; one still building is at the first stage, which it
    enters next."""
    first = view["stages"][0]["stage"] if view["stages"] else None
    return [{key: run[key] for key in ("execution_name", "execution_arn", "commit", "pusher", "started_at", "gate")}
            for run in view["running"] if (run["stage"] or first) == stage]


def gate_text(gate: dict[str, Any]) -> str:
    """One line on what a running pipeline waits for, worded as the dashboard's pipeline view words it."""
    kind, reason = str(gate.get("kind")), gate.get("reason") or ""
    if kind == "approval":
        return (f"waiting for approval of {gate.get('child')} ({gate.get('changes')} changes): "
                f"stepdeploy approve {gate.get('child')}")
    if kind == "window":
        return f"waiting for its deployment window: {reason}"
    if kind == "soak":
        return f"waiting for the soak of the stage before: {reason}"
    if kind == "gate":
        return f"waiting at its gates: {reason}"
    if kind == "checking":
        return f"checking the gates ({gate.get('state')})"
    if kind == "building":
        return "building the artifact"
    return f"deploying: {gate.get('state')}" + (f" in {gate['child']}" if gate.get("child") else "")


def pipeline(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(help="The pipeline's name (stepdeploy.yml: name, else its branch).")]
    = None,
    json_output: JsonOption = False,
) -> None:
    """Which commit is live in each stage of a pipeline (or of every pipeline), each stage's last attempt, and the
    running executions at each stage with the gate each waits at (window, soak, approval)."""
    op = operator(ctx)
    views = pipeline_views(op)
    if target:
        views = [view for view in views if view["name"] == target]
        if not views:
            raise CliError(f"no pipeline {target!r} recorded or running; pipelines: "
                           f"{', '.join(view['name'] for view in pipeline_views(op)) or 'none yet'}")
    rows = [{**row, "running": waiting_here(view, str(row["stage"]))} for view in views for row in view["stages"]]
    if printed_json_or_none(rows, json_output=json_output, none="no pipeline recorded yet"):
        return
    table = Table(title=f"pipeline {target}" if target else "pipelines")
    for column in ("pipeline", "stage", "stack", "commit", "deployed", "last attempt", "release", "waiting"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        last = row["last_outcome"] or "-"
        if row["last_outcome"] and row["last_commit"] != row["commit"]:
            last = f"{last} {short_commit(row['last_commit'])}"
        style = "green" if row["last_outcome"] in LIVE else "red" if row["last_outcome"] else "dim"
        waiting = "; ".join(f"{run['execution_name']} ({short_commit(run['commit'])}) {gate_text(run['gate'])}"
                            for run in row["running"]) or "-"
        table.add_row(row["pipeline"], row["stage"], row["stack"], short_commit(row["commit"]),
                      ago(row["deployed_at"]) if row["deployed_at"] else "-", f"[{style}]{last}[/]",
                      str(row["release"] or "-"), escape(waiting))
    emit_table(table)


def _recorded(op: Operator, record: dict[str, Any], commit: str | None, before: str | None) -> dict[str, Any]:
    """A stage release of this pipeline to promote from: of ``commit`` (a full or short SHA), else what is
    live in stage ``before``."""
    releases = [r for stage in record["stages"] for r in op.ledger.releases_of(str(stage["stack"]), limit=50)
                if r.get("outcome") in LIVE]
    if commit is None:
        if before is None:
            raise CliError("--commit: the first stage has no stage before it to promote from; name a commit")
        live = next((r for r in op.ledger.releases_of(before, limit=20) if r.get("outcome") in LIVE), None)
        if live is None:
            raise CliError(f"nothing is live in {before}, the stage before; name a commit with --commit")
        return live
    text = commit.strip().lower()
    if not (FULL_SHA.match(text) or SHORT_SHA.match(text)):
        raise CliError(f"--commit: expected a commit SHA, 40 hex digits or its first 7 or more; got {commit!r}")
    matching = {str(r["commit"]) for r in releases if str(r.get("commit", "")).startswith(text)}
    if len(matching) > 1:
        raise CliError(f"--commit {commit}: more than one recorded commit starts with it; give more digits")
    if not matching:
        repository = next((r.get("repository") for r in releases), None)
        full = resolve_commit(text, repository, lambda: orchestrator_ghe(op))
        raise CliError(f"--commit {commit}: commit {short_commit(full)} was never deployed to a stage of this "
                       "pipeline, so no artifact of it is recorded; push it, or promote a recorded one")
    return next(r for r in releases if r["commit"] in matching)


def promote(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The pipeline's name.")],
    to: Annotated[str, typer.Option("--to", help="The stage to deploy into.")],
    commit: Annotated[str | None, typer.Option(help="A recorded commit (full or short SHA); default: what is live "
                                                     "in the stage before.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Deploy a recorded artifact into one stage by hand: the build that stage's release used, no rebuild.

    An older commit is a rollback of that stage (an operator chose it: it is not refused as outdated)."""
    op = operator(ctx)
    record = pipeline_record(op, target)
    names = [str(s["name"]) for s in record["stages"]]
    if to not in names:
        raise CliError(f"--to {to!r}: pipeline {target} has stages {', '.join(names)}")
    index = names.index(to)
    before = str(record["stages"][index - 1]["stack"]) if index else None
    source = _recorded(op, record, commit, before)
    described = op.sfn.describe_execution(executionArn=str(source["execution_arn"]))
    child = json.loads(described.get("input") or "{}")
    if not child.get("event"):
        raise CliError(f"{source.get('execution_name')}: its input is no longer available to promote from")
    body = {key: child[key] for key in ("source", "event", "build") if key in child}
    body.update({"stage": to, "promoted_by": op.operator_name})
    free = (execution_name(str(source.get("repository") or target), str(source.get("branch") or ""),
                           str(source["commit"]), "", suffix=f"{to[:18]}-p{n}") for n in range(1, MAX_PROMOTIONS + 1))
    started = op.start_execution(free, json.dumps(body, separators=(",", ":")))
    if started is None:
        raise CliError(f"{short_commit(source['commit'])} was promoted to {to} {MAX_PROMOTIONS} times already")
    arn = str(started["executionArn"])
    result = {"event": "promoted", "pipeline": target, "stage": to, "commit": source["commit"],
              "from_release": source.get("execution_name"), "name": arn.rsplit(":", 1)[-1], "execution_arn": arn,
              "started_at": iso(started.get("startDate"))}
    if json_output:
        print_json(result)
        return
    stdout().print(f"started {result['name']}: {short_commit(source['commit'])} into {to} "
                   f"(the artifact of {source.get('execution_name')})")
    stdout().print(f"follow   stepdeploy watch {result['name']}")
