"""Where the operator commands find the orchestrator: one boto3 session and the orchestrator stack's outputs.

The same code works against AWS (profile, region and credentials from the usual chain) and the local
cloud (AWS_ENDPOINT_URL, which every boto3 client honours).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader, create_loader

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli.errors import ENVIRONMENT_WRONG, CliError, aws_error_code, aws_error_message

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

DEFAULT_ORCHESTRATOR = "stepdeploy"
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
EXECUTION_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:[^:]+:[^:]+$")
NOT_FOUND_CODES = frozenset({"ExecutionDoesNotExist", "InvalidArn", "ResourceNotFound"})
PREFIX_SEARCH_LIMIT = 1000


@cache
def _shared_loader() -> Loader:
    """One model loader per process: several commands in one process (tests) parse the API models once."""
    return create_loader()


@dataclass
class Options:
    """The options every operator command shares (set on `stepdeploy` itself)."""

    orchestrator: str = DEFAULT_ORCHESTRATOR
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    """An endpoint for every client (the local cloud's, when `local up` serves the dashboard); else the usual."""


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.partition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


@dataclass
class Operator:
    options: Options
    _clients: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    """What a command reads once per connection: the orchestrator stack, clients in stage accounts
    (stepdeploy_cli/placement.py)."""

    @cached_property
    def session(self) -> boto3.Session:
        # botocore reads AWS_DEFAULT_REGION; AWS_REGION is what most tools (and Lambda) set.
        region = self.options.region or os.environ.get("AWS_REGION") or None
        core = botocore.session.Session()
        core.register_component("data_loader", _shared_loader())
        session = boto3.Session(botocore_session=core, profile_name=self.options.profile, region_name=region)
        paths = _shared_loader().search_paths  # boto3 appends its data directory on every session
        paths[:] = list(dict.fromkeys(paths))
        return session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.new_client(service)
        return self._clients[service]

    def new_client(self, service: str, **options: Any) -> Any:
        """A client of the operator's session for a service named at run time (the stubs type only literal
        names), with the CLI's retries and time-outs and --endpoint-url; ``options``: region and credentials."""
        make: Callable[..., Any] = self.session.client
        return make(service, config=CLIENT_CONFIG, endpoint_url=self.options.endpoint_url, **options)

    @property
    def sfn(self) -> SFNClient:
        return cast("SFNClient", self.client("stepfunctions"))

    def console_url(self, execution_arn: str) -> str:
        """The execution's page as seen from where this operator's Step Functions client talks (--endpoint-url,
        AWS_ENDPOINT_URL or AWS itself): the local cloud's dashboard, or the AWS console."""
        from stepdeploy.aws.executions import console_url

        return console_url(execution_arn, self.sfn.meta.endpoint_url)

    @cached_property
    def outputs(self) -> dict[str, str]:
        from botocore.exceptions import ClientError

        name = self.options.orchestrator
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if aws_error_code(exc) == "ValidationError" and "does not exist" in aws_error_message(exc):
                region = self.session.region_name or "(no region)"
                raise CliError(
                    f"no orchestrator stack {name!r} in {region}: pass --orchestrator NAME or set STEPDEPLOY_STACK "
                    "to the stack `sam deploy` created",
                    ENVIRONMENT_WRONG,
                ) from None
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        missing = [key for key in ("StateMachineArn", "TableName") if key not in outputs]
        if missing:
            raise CliError(
                f"stack {name!r} has no output {', '.join(missing)}: is it a stepdeploy orchestrator "
                f"(status {stacks[0].get('StackStatus')})?",
                ENVIRONMENT_WRONG,
            )
        return outputs

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    def start_execution(self, names: Iterable[str], body: str) -> dict[str, Any] | None:
        """StartExecution of the orchestrator's state machine under the first of ``names`` no execution has
        taken yet (a name is used once per state machine); None when every one is taken."""
        from botocore.exceptions import ClientError

        for name in names:
            try:
                return dict(self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=body))
            except ClientError as exc:
                if aws_error_code(exc) != "ExecutionAlreadyExists":
                    raise
        return None

    @cached_property
    def ledger(self) -> Ledger:
        resource = self.session.resource("dynamodb", config=CLIENT_CONFIG, endpoint_url=self.options.endpoint_url)
        return Ledger(self.outputs["TableName"], dynamodb_resource=resource)

    @cached_property
    def caller_arn(self) -> str:
        """The caller's AWS identity (STS GetCallerIdentity's ARN): what an approval records."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as exc:
            raise CliError(
                f"cannot tell who you are to AWS (sts:GetCallerIdentity: {exc}); an approval records the "
                "caller's AWS identity, so it needs credentials that identify you"
            ) from None

    @cached_property
    def operator_name(self) -> str:
        """Who runs the command, as AWS knows them (for approvals and rollbacks)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            arn = str(self.client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError):
            arn = ""
        local = os.environ.get("USER") or getpass.getuser()
        name = arn.rsplit("/", 1)[-1] if "/" in arn else ""
        return name if name and not os.environ.get("AWS_ENDPOINT_URL") else local

    # --- executions ---------------------------------------------------------------------------
    def describe(self, reference: str) -> dict[str, Any]:
        """The execution an ARN, a name, or a unique start of a name refers to (DescribeExecution's answer)."""
        from botocore.exceptions import ClientError

        reference = reference.strip()
        if not reference:
            raise CliError("no execution given: pass an execution ARN or name")
        given_arn = reference.startswith("arn:")
        if given_arn and not EXECUTION_ARN.match(reference):
            raise CliError(
                f"{reference!r} is not an execution ARN; expected arn:aws:states:<region>:<account>:execution:"
                "<state machine>:<name>, or an execution name"
            )
        arn = reference if given_arn else execution_arn_for(self.state_machine_arn, reference)
        try:
            return dict(self.sfn.describe_execution(executionArn=arn))
        except ClientError as exc:
            if aws_error_code(exc) not in NOT_FOUND_CODES:
                raise
        if not given_arn:
            matches = self._names_starting_with(reference)
            if len(matches) == 1:
                return dict(self.sfn.describe_execution(executionArn=matches[0]))
            if len(matches) > 1:
                names = ", ".join(m.rsplit(":", 1)[-1] for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
                raise CliError(f"{reference!r} matches {len(matches)} executions ({names}); give more of the name")
        machine = self.state_machine_arn.rsplit(":", 1)[-1]
        raise CliError(
            f"no such execution: {reference} (looked in state machine {machine} of orchestrator stack "
            f"{self.options.orchestrator!r}; `stepdeploy executions list` shows the recent ones)"
        )

    def _names_starting_with(self, prefix: str) -> list[str]:
        found: list[str] = []
        seen = 0
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            for item in page["executions"]:
                seen += 1
                if str(item["name"]).startswith(prefix):
                    found.append(str(item["executionArn"]))
            if seen >= PREFIX_SEARCH_LIMIT:
                break
        return found
