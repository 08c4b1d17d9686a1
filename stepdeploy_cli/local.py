"""`stepdeploy local push` and `local statuses`: the local GHE, driven from another terminal.

`local fault` (local_faults.py) makes a function of the running local cloud fail.

`local up` keeps its GHE (bare repositories and the statuses it received) under .stepdeploy-local/ghe;
these commands work on the same folder and talk to the running server over HTTP, as GHE would.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.console import Console
from rich.table import Table

STATE_DIR = Path(".stepdeploy-local")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
console = Console()
errors = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _ghe(port: int) -> Any:
    from stepdeploy_localcloud.ghe.server import LocalGHE

    return LocalGHE(STATE_DIR / "ghe", f"127.0.0.1:{port}")


def _webhook_secret(endpoint: str, stack: str) -> str:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    try:
        outputs = session.client("cloudformation", endpoint_url=endpoint).describe_stacks(StackName=stack)
    except Exception as exc:  # noqa: BLE001 - shown to the user
        _fail(f"no local cloud answers at {endpoint} with a stack {stack!r} ({exc}); "
              "start it with `stepdeploy local up`")
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs["Stacks"][0].get("Outputs", [])}
    secret = session.client("secretsmanager", endpoint_url=endpoint).get_secret_value(
        SecretId=values["WebhookSecretArn"]
    )
    return str(secret["SecretString"])


def _repository_of(path: Path) -> str:
    try:
        remote = subprocess.run(["git", "-C", str(path), "remote", "get-url", "origin"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError:
        remote = ""
    match = re.search(r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?$", remote)
    return match.group(1) if match else f"local/{path.resolve().name}"


def push(
    path: Annotated[Path, typer.Argument(help="A git working tree; its newest commit is pushed.")],
    branch: Annotated[str, typer.Option(help="Branch to push to.")] = "main",
    repository: Annotated[str | None, typer.Option(help="owner/repo on the local GHE (default: from origin).")] = None,
    port: Annotated[int, typer.Option(help="Port of `stepdeploy local up`.")] = 4566,
    stack: Annotated[str, typer.Option(help="The orchestrator's stack on the local cloud.")] = "stepdeploy",
    json_output: Annotated[bool, typer.Option("--json", help="Print the delivery as JSON.")] = False,
) -> None:
    """Push PATH's newest commit to the local GHE and deliver the signed push webhook."""
    if not (path / ".git").exists():
        _fail(f"{path} is not a git working tree (no .git); commit your change there first")
    repository = repository or _repository_of(path)
    if not _REPOSITORY.match(repository):
        _fail(f"repository {repository!r}: expected owner/repo")
    owner, repo = repository.split("/")
    endpoint = f"http://127.0.0.1:{port}"
    secret = _webhook_secret(endpoint, stack)
    ghe = _ghe(port)
    record = ghe.push(path, owner, repo, branch)
    status, body, delivery = ghe.deliver(f"{endpoint}/webhook", ghe.push_payload(record), secret)
    result = {"repository": repository, "branch": branch, "commit": record.after, "delivery": delivery,
              "status": status, "response": body}
    if json_output:
        print(json.dumps(result))
    else:
        console.print(f"pushed {repository}@{record.after[:7]} to {branch}: webhook answered {status} {body}")
    if status >= 300:
        raise typer.Exit(1)


def statuses(
    repository: Annotated[str, typer.Argument(help="owner/repo on the local GHE.")],
    ref: Annotated[str, typer.Argument(help="Commit or branch.")] = "main",
    port: Annotated[int, typer.Option(help="Port of `stepdeploy local up`.")] = 4566,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The commit statuses the pipeline posted to the local GHE, newest first."""
    if not _REPOSITORY.match(repository):
        _fail(f"repository {repository!r}: expected owner/repo")
    owner, repo = repository.split("/")
    ghe = _ghe(port)
    if not ghe.has_repo(owner, repo):
        _fail(f"the local GHE has no repository {repository}; push it with `stepdeploy local push`")
    found = ghe.statuses(owner, repo, ref)
    if json_output:
        print(json.dumps(found))
        return
    table = Table(title=f"{repository}@{ref}")
    for column in ("when", "context", "state", "description"):
        table.add_column(column)
    for status in found:
        table.add_row(str(status.get("created_at", "")), status.get("context", ""), status.get("state", ""),
                      status.get("description", ""))
    console.print(table)


def register(local_app: typer.Typer) -> None:
    from stepdeploy_cli.local_faults import fault

    local_app.command("push")(push)
    local_app.command("statuses")(statuses)
    local_app.command("fault")(fault)
