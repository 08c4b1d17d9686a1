"""What an operator sees when something goes wrong: one line naming the problem, a non-zero exit, no traceback.

Exit codes: 1 when the request itself failed (no such execution, not redrivable, refused), 2 when the
environment is wrong (no credentials, no region, endpoint unreachable, no orchestrator stack), and
2 for usage errors (click's own).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import TyperException

if TYPE_CHECKING:  # the context type TyperGroup.invoke declares (typer's bundled click)
    from typer._click import Context as ClickContext

REQUEST_FAILED = 1
ENVIRONMENT_WRONG = 2

CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)


class CliError(Exception):
    """A problem the operator can act on; the message says what was wrong and what was expected."""

    def __init__(self, message: str, code: int = REQUEST_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class VerbRefused(CliError):
    """An operator verb that does not apply to what it was asked of now: says what was asked, the state found, and
    the verbs that do apply (the dashboard's API answers it as 409 with these fields)."""

    def __init__(self, verb: str, subject: str, state: str, offered: list[str] | tuple[str, ...],
                 details: dict[str, Any] | None = None) -> None:
        verbs = ", ".join(offered)
        super().__init__(f"cannot {verb} {subject}: it is {state}; "
                         + (f"what applies now: {verbs}" if verbs else "no verb applies to it now"))
        self.verb, self.subject, self.state, self.offered = verb, subject, state, list(offered)
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.message, "asked": self.verb, "subject": self.subject, "state": self.state,
                "verbs": self.offered, **self.details}


def aws_error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def aws_error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or str(error)


def explain(error: BaseException) -> CliError:
    """Turn an exception from boto3 (or anything else) into the line an operator reads."""
    if isinstance(error, CliError):
        return error
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials found: set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or log in (aws sso login); for the local cloud any dummy values do",
            ENVIRONMENT_WRONG,
        )
    if isinstance(error, NoRegionError):
        return CliError("no AWS region: set AWS_REGION (or --region, or a region in your profile)", ENVIRONMENT_WRONG)
    if isinstance(error, ProfileNotFound):
        return CliError(f"{error}: check --profile / AWS_PROFILE against ~/.aws/config", ENVIRONMENT_WRONG)
    if isinstance(error, EndpointConnectionError | BotoConnectionError):
        where = getattr(error, "kwargs", {}).get("endpoint_url") or endpoint or "the AWS endpoint"
        hint = (
            "is the local cloud running (stepdeploy local up) and AWS_ENDPOINT_URL right?"
            if endpoint
            else "check the network and the region"
        )
        return CliError(f"cannot reach {where}: {hint}", ENVIRONMENT_WRONG)
    if isinstance(error, ClientError):
        code = aws_error_code(error)
        operation = getattr(error, "operation_name", "") or "the request"
        if code in CREDENTIAL_CODES:
            return CliError(f"AWS refused the credentials ({code}): {aws_error_message(error)}", ENVIRONMENT_WRONG)
        if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
            return CliError(f"not allowed to call {operation}: {aws_error_message(error)}")
        return CliError(f"{operation} failed ({code}): {aws_error_message(error)}")
    if isinstance(error, BotoCoreError):
        return CliError(f"AWS SDK error: {error}")
    return CliError(
        f"unexpected {type(error).__name__}: {error} (STEPDEPLOY_DEBUG=1 shows the traceback)"
    )


def print_error(message: str) -> None:
    err = Console(stderr=True, highlight=False)
    err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def quiet_flags(command: Any) -> None:
    """Flags show no ``<bool>`` in the help: an on/off option takes no value to describe."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False):
            param.metavar = ""
    made = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = made(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        quiet_flags(sub)


class OperatorGroup(TyperGroup):
    """The top-level group: every exception below it ends as one `error: ...` line and an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        quiet_flags(self)

    def get_params(self, ctx: ClickContext) -> list[Any]:
        params = list(super().get_params(ctx))
        for param in params:  # typer adds --install-completion and --show-completion late
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the point: no traceback for a user
            if os.environ.get("STEPDEPLOY_DEBUG"):
                raise
            problem = explain(exc)
            print_error(problem.message)
            raise typer.Exit(problem.code) from None
