"""Commits as operators type them: a full SHA, or its first digits resolved through the orchestrator's GHE.

The GHE API URL is the orchestrator stack's (parameters GheApiUrl, else GheProtocol://GheHost/api/v3, as
template.yaml computes it), the token its GheTokenSecretArn output's secret.
"""

from __future__ import annotations

import re
from typing import Any

from stepdeploy.ghe.api import GheApi, GheError
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError

FULL_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
SHORT_SHA = re.compile(r"^[0-9a-fA-F]{7,39}$")


def ghe_api_url(parameters: dict[str, str]) -> str:
    if parameters.get("GheApiUrl"):
        return parameters["GheApiUrl"]
    host = parameters.get("GheHost")
    if not host:
        raise CliError("the orchestrator stack has no GheHost parameter: cannot ask GHE which commit is meant")
    return f"{parameters.get('GheProtocol') or 'https'}://{host}/api/v3"


def orchestrator_ghe(op: Operator) -> GheApi:
    stack = op.client("cloudformation").describe_stacks(StackName=op.options.orchestrator)["Stacks"][0]
    parameters = {p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    secret_arn = op.outputs.get("GheTokenSecretArn")
    token = ""
    if secret_arn:
        token = str(op.client("secretsmanager").get_secret_value(SecretId=secret_arn).get("SecretString") or "")
    return GheApi(ghe_api_url(parameters), token)


def resolve_commit(text: str, repository: str | None, ghe: Any) -> str:
    """The full SHA ``text`` names in ``repository``; a short SHA is asked of GHE (``ghe()`` builds the client).

    Refuses what is not 7 to 40 hex digits, and a short SHA GHE cannot resolve to one commit.
    """
    value = text.strip()
    if FULL_SHA.match(value):
        return value.lower()
    if not SHORT_SHA.match(value):
        raise CliError(f"--commit: expected a commit SHA, 40 hex digits or its first 7 or more; got {text!r}")
    if not repository:
        raise CliError(f"--commit {value}: the execution names no repository to look the commit up in; "
                       "give all 40 hex digits")
    try:
        sha: str = ghe().commit_sha(repository, value.lower())
    except GheError as exc:
        if exc.status in (404, 422):
            raise CliError(
                f"--commit {value}: no single commit of {repository} starts with it ({exc}); "
                "an ambiguous short SHA needs more digits"
            ) from None
        raise CliError(f"--commit {value}: {exc}") from None
    if not FULL_SHA.match(sha) or not sha.lower().startswith(value.lower()):
        raise CliError(f"--commit {value}: GHE resolved it to {sha!r}, which is not a commit starting with it")
    return sha.lower()
