"""`stepdeploy local push` and `local statuses`: the local GHE, driven from another terminal.

`local up` (up.py) runs the local cloud; `local fault` (faults.py) makes one of its functions fail.

`local up` keeps its GHE (bare repositories and the statuses it received) under its state folder and
says where at ``<endpoint>/_localcloud``; these commands ask it there, so they work from any directory,
and talk to the running server over HTTP, as GHE would. The endpoint is ``--endpoint-url``, else
``AWS_ENDPOINT_URL``, else ``http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

import boto3
import requests
import typer
from rich.console import Console
from rich.table import Table

from stepdeploy.ingress.naming import execution_name
from stepdeploy_cli.errors import CliError

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
console = Console()

PortOption = Annotated[int, typer.Option(help="Port of `stepdeploy local up` (when no endpoint URL is given).")]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="The local cloud's endpoint (default: AWS_ENDPOINT_URL, else the port's).",
                 show_default=False),
]


def _endpoint(endpoint_url: str | None, port: int) -> str:
    return (endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port}").rstrip("/")


def _ghe(endpoint: str) -> Any:
    from urllib.parse import urlsplit

    from stepdeploy_localcloud.ghe.server import LocalGHE

    try:
        info = requests.get(f"{endpoint}/_localcloud", timeout=10).json()
    except (requests.RequestException, ValueError) as exc:
        raise CliError(f"no local cloud answers at {endpoint} ({exc}); start it with `stepdeploy local up`, "
              "or pass --endpoint-url / set AWS_ENDPOINT_URL") from None
    if not info.get("ghe_root"):
        raise CliError(
            f"the local cloud at {endpoint} has no GHE yet: wait until `stepdeploy local up` says it is ready"
        )
    return LocalGHE(Path(info["ghe_root"]), urlsplit(endpoint).netloc)


def _session() -> Any:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def _stack_outputs(endpoint: str, stack: str) -> dict[str, str]:
    try:
        described = _session().client("cloudformation", endpoint_url=endpoint).describe_stacks(StackName=stack)
    except Exception as exc:  # noqa: BLE001 - shown to the user
        raise CliError(f"no local cloud answers at {endpoint} with a stack {stack!r} ({exc}); "
              "start it with `stepdeploy local up`") from None
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def _webhook_secret(endpoint: str, outputs: dict[str, str]) -> str:
    secret = _session().client("secretsmanager", endpoint_url=endpoint).get_secret_value(
        SecretId=outputs["WebhookSecretArn"]
    )
    return str(secret["SecretString"])


def _message(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get("message") if isinstance(parsed, dict) else None


def _repository_of(path: Path) -> str:
    try:
        remote = subprocess.run(["git", "-C", str(path), "remote", "get-url", "origin"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError:
        remote = ""
    match = re.search(r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?$", remote)
    return match.group(1) if match else f"local/{path.resolve().name}"


def push(
    path: Annotated[Path, typer.Argument(help="A git working tree; its newest commit is pushed.")] = Path("."),
    branch: Annotated[str, typer.Option(help="Branch to push to.")] = "main",
    repository: Annotated[str | None, typer.Option(help="owner/repo on the local GHE (default: from origin).")] = None,
    port: PortOption = 4566,
    endpoint_url: EndpointOption = None,
    stack: Annotated[str, typer.Option(help="The orchestrator's stack on the local cloud.")] = "stepdeploy",
    json_output: Annotated[bool, typer.Option("--json", help="Print the delivery as JSON.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Then follow the execution to its end (exit 1 unless "
                                        "it succeeds).")] = False,
) -> None:
    """Push PATH's newest commit to the local GHE, deliver the signed push webhook, name the execution."""
    path = path.resolve()
    if not (path / ".git").exists():
        raise CliError(f"{path} is not a git working tree (no .git); commit your change there first")
    repository = repository or _repository_of(path)
    if not _REPOSITORY.match(repository):
        raise CliError(f"repository {repository!r}: expected owner/repo")
    owner, repo = repository.split("/")
    endpoint = _endpoint(endpoint_url, port)
    outputs = _stack_outputs(endpoint, stack)
    secret = _webhook_secret(endpoint, outputs)
    ghe = _ghe(endpoint)
    record = ghe.push(path, owner, repo, branch)
    status, body, delivery = ghe.deliver(f"{endpoint}/webhook", ghe.push_payload(record), secret)
    accepted = status == 202 and _message(body) == "accepted"
    execution = execution_name(repository, branch, record.after, "") if accepted else None
    result = {"repository": repository, "branch": branch, "commit": record.after, "delivery": delivery,
              "status": status, "response": body, "execution": execution}
    if json_output:
        print(json.dumps(result))
    else:
        console.print(f"pushed {repository}@{record.after[:7]} to {branch}: webhook answered {status} {body}")
        if execution:
            prefix = "" if os.environ.get("AWS_ENDPOINT_URL") == endpoint else f"AWS_ENDPOINT_URL={endpoint} "
            console.print(f"execution {execution}; watch it with:\n  {prefix}stepdeploy watch {execution}")
    if status >= 300:
        raise typer.Exit(1)
    if watch and execution:
        _watch(endpoint, stack, execution)


def _watch(endpoint: str, stack: str, execution: str) -> None:
    """Follow the execution the push started (EventBridge starts it a moment after the webhook answers)."""
    import time

    from stepdeploy_cli.context import Operator, Options, execution_arn_for
    from stepdeploy_cli.executions import follow

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    op = Operator(Options(orchestrator=stack))
    arn = execution_arn_for(op.state_machine_arn, execution)
    deadline = time.monotonic() + 60
    while True:
        try:
            op.sfn.describe_execution(executionArn=arn)
            break
        except op.sfn.exceptions.ExecutionDoesNotExist:
            if time.monotonic() > deadline:
                raise CliError(f"execution {execution} did not start within a minute of the push") from None
            time.sleep(0.5)
    row = follow(op, arn, json_output=False, timeout=3600.0, interval=1.0)
    if row["status"] != "SUCCEEDED":
        raise typer.Exit(1)


def statuses(
    repository: Annotated[str, typer.Argument(help="owner/repo on the local GHE.")],
    ref: Annotated[str, typer.Argument(help="Commit or branch.")] = "main",
    port: PortOption = 4566,
    endpoint_url: EndpointOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The commit statuses the pipeline posted to the local GHE, newest first."""
    if not _REPOSITORY.match(repository):
        raise CliError(f"repository {repository!r}: expected owner/repo")
    owner, repo = repository.split("/")
    ghe = _ghe(_endpoint(endpoint_url, port))
    if not ghe.has_repo(owner, repo):
        raise CliError(f"the local GHE has no repository {repository}; push it with `stepdeploy local push`")
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
    from stepdeploy_cli.local.faults import fault
    from stepdeploy_cli.local.up import up

    local_app.command("up", epilog="Example: stepdeploy local up --port 4566")(up)
    local_app.command("push")(push)
    local_app.command("statuses")(statuses)
    local_app.command("fault")(fault)
