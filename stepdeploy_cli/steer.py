"""`stepdeploy pause|resume|promote|abort STACK` and `stepdeploy progress STACK`: steer a running release.

For stepdeploy's step engine (``strategy: {steps: [...]}``) a command is written to the release's
control record in the ledger (with who asked), then the execution's "Wait for release step" is woken
(its task token, stored under the stack): Advance release carries the command out within seconds and
journals it. A command written while no wait is stored (Advance release is running) is found by the
next wait, which resumes at once.

For a CodeDeploy release, ``abort`` stops its deployments with automatic rollback (StopDeployment);
CodeDeploy has no pause, resume or promote of a Lambda traffic shift, so those are refused, saying so.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from stepdeploy_cli import placement
from stepdeploy_cli.approvals import ByOption
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError, VerbRefused, aws_error_code
from stepdeploy_cli.executions import JsonOption, operator
from stepdeploy_cli.output import emit_table, print_json, stdout
from stepdeploy_cli.verbs import release_state, step_verbs

GONE_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
StackArgument = Annotated[str, typer.Argument(help="The application's stack whose release to steer.")]
CODEDEPLOY_CANNOT = (
    "CodeDeploy cannot pause, resume or promote a Lambda traffic shift (it only stops one, rolling it back: "
    "stepdeploy abort {stack}). Use deployment.strategy: {{steps: [...]}} in stepdeploy.yml for a release you "
    "can steer."
)


def _running(op: Operator, execution_arn: str) -> bool:
    try:
        return str(op.sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING"
    except ClientError as exc:
        if aws_error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise


def wake(op: Operator, stack: str, output: dict[str, Any]) -> bool:
    """Resume the release's "Wait for release step", if it sleeps now; False if nothing sleeps."""
    wait = op.ledger.resolve_wait("release", stack, ends_wait=True)
    if wait is None:
        return False
    try:
        op.sfn.send_task_success(taskToken=wait["task_token"], output=json.dumps(output))
    except ClientError as exc:
        if aws_error_code(exc) in GONE_TOKEN_CODES:
            return False
        raise
    return True


def _codedeploy_abort(op: Operator, stack: str, by: str) -> dict[str, Any]:
    from stepdeploy.tasks.finalize_execution import last_document

    holder = op.ledger.lock_holder(stack)
    owner = str((holder or {}).get("owner") or "")
    if not owner or not _running(op, owner):
        raise CliError(f"no release of {stack} is running: nothing to abort")
    document = last_document(owner, sfn=op.sfn)
    shift = document.shift if document else None
    if shift is None or shift.done:
        raise CliError(f"{owner.rsplit(':', 1)[-1]} deploys {stack} but is not shifting traffic now "
                       "(nothing to roll back yet: stop the execution instead, or wait)")
    request = document.request if document is not None else None
    target = request.target if request is not None else None
    where = placement.Placement(target.account, target.region) if target else placement.Placement()
    codedeploy = placement.client(op, "codedeploy", where)
    stopped = []
    for deployment in shift.deployments:
        try:
            codedeploy.stop_deployment(deploymentId=deployment.deployment_id, autoRollbackEnabled=True)
            stopped.append(deployment.deployment_id)
        except ClientError as exc:
            if aws_error_code(exc) not in ("DeploymentAlreadyCompletedException",
                                           "DeploymentIsNotInReadyStateException"):
                raise
    return {"stack": stack, "verb": "abort", "engine": "codedeploy", "by": by, "execution_arn": owner,
            "stopped_deployments": stopped, "console_url": op.console_url(owner)}


def steer(op: Operator, stack: str, verb: str, by: str | None = None) -> dict[str, Any]:
    """Carry an operator's command to the stack's running release; what was done, for the output."""
    who = by or op.operator_name
    control = op.ledger.progress(stack)
    running = bool(control and control.get("status") != "done" and _running(op, str(control["execution_arn"])))
    if not running:
        if verb == "abort":
            return _codedeploy_abort(op, stack, who)
        holder = op.ledger.lock_holder(stack)
        if holder and _running(op, str(holder.get("owner") or "")):
            raise CliError(f"{stack} is being deployed with CodeDeploy. " + CODEDEPLOY_CANNOT.format(stack=stack))
        raise CliError(f"no release of {stack} is running (stepdeploy's step engine): nothing to {verb}")
    assert control is not None
    offered = step_verbs("RUNNING", str(control.get("status")))
    if verb not in offered:
        raise VerbRefused(verb, f"the release of {stack}", release_state(control), offered)
    arn = str(control["execution_arn"])
    command = {"verb": verb, "by": who, "at": _now()}
    if not op.ledger.command_progress(stack, arn, command):
        raise CliError(f"the release of {stack} ended meanwhile: nothing to {verb}")
    woken = wake(op, stack, {"resumed_by": "operator", **command})
    return {"stack": stack, "verb": verb, "engine": "stepdeploy", "by": who, "execution_arn": arn,
            "execution": arn.rsplit(":", 1)[-1], "woken": woken, "status": control.get("status"),
            "percent": control.get("percent"), "console_url": op.console_url(arn)}


def _now() -> str:
    from stepdeploy.models import iso

    return iso()


def progress_of(op: Operator, stack: str) -> dict[str, Any]:
    control = op.ledger.progress(stack)
    if control is None:
        raise CliError(f"{stack} has had no release with stepdeploy's step engine (strategy: {{steps: [...]}})")
    name = str(control.get("execution_name") or str(control["execution_arn"]).rsplit(":", 1)[-1])
    hidden = ("pk", "sk", "expires_at")
    return {**{k: v for k, v in control.items() if k not in hidden},
            "journal": [{k: v for k, v in e.items() if k not in hidden} for e in op.ledger.journal_of(stack, name)]}


def _print(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    if result["engine"] == "codedeploy":
        stdout().print(f"stopped {len(result['stopped_deployments'])} CodeDeploy deployment(s) of {result['stack']} "
                       f"with rollback, as {result['by']}", soft_wrap=True, markup=False)
        return
    stdout().print(f"{result['verb']} sent to the release of {result['stack']} ({result['execution']}, at "
                   f"{result.get('percent')}%) as {result['by']}"
                   f"{'' if result['woken'] else '; it acts on it when its current step ends its work'}",
                   soft_wrap=True, markup=False)
    stdout().print(f"follow   stepdeploy progress {result['stack']}", soft_wrap=True, markup=False)


def pause(ctx: typer.Context, stack: StackArgument, by: ByOption = None, json_output: JsonOption = False) -> None:
    """Pause the stack's running release where it is (the aliases keep their weights)."""
    _print(steer(operator(ctx), stack, "pause", by), json_output)


def resume(ctx: typer.Context, stack: StackArgument, by: ByOption = None, json_output: JsonOption = False) -> None:
    """Resume a paused release (after an Inconclusive judgement: approve it, go to the next step)."""
    _print(steer(operator(ctx), stack, "resume", by), json_output)


def promote(ctx: typer.Context, stack: StackArgument, by: ByOption = None, json_output: JsonOption = False) -> None:
    """Skip the remaining steps and waits: every alias to 100 % of its new version now."""
    _print(steer(operator(ctx), stack, "promote", by), json_output)


def abort(ctx: typer.Context, stack: StackArgument, by: ByOption = None, json_output: JsonOption = False) -> None:
    """Roll the running release back now: every alias to its previous version (CodeDeploy: stop with rollback)."""
    _print(steer(operator(ctx), stack, "abort", by), json_output)


def progress(ctx: typer.Context, stack: StackArgument, json_output: JsonOption = False) -> None:
    """The stack's latest step release: where it stands, each step, judgement (with its numbers) and command."""
    found = progress_of(operator(ctx), stack)
    if json_output:
        print_json(found)
        return
    stdout().print(f"{stack}: {found.get('status')} at {found.get('percent')}% (steps {found.get('steps')}), "
                   f"{found.get('execution_name')}"
                   + (f", paused: {found['paused_reason']}" if found.get("paused_reason") else ""),
                   soft_wrap=True, markup=False)
    table = Table(title="journal")
    for column in ("at", "what", "detail"):
        table.add_column(column)
    for entry in found["journal"]:
        kind = str(entry.get("type"))
        if kind == "step":
            detail = f"every alias at {entry.get('percent')}%"
        elif kind == "judgement":
            detail = str(entry.get("summary"))
        elif kind == "command":
            detail = f"{entry.get('verb')} by {entry.get('by')} at {entry.get('percent')}%"
        else:
            detail = f"{entry.get('reason')}: {', '.join(entry.get('aliases') or [])}"
        table.add_row(str(entry.get("at")), kind, detail)
    emit_table(table)
