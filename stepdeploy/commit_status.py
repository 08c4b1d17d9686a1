"""Commit statuses on GHE: pending when a deployment starts, its outcome at the end.

A GHE outage never fails a deployment: the status is logged as not posted, counted (metric
GheUnavailable, or GheRejected for a 4xx answer) and the step goes on.
"""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger

from stepdeploy.aws.secrets import secret_value
from stepdeploy.ghe_api import GheApi
from stepdeploy.metrics import ghe_failure
from stepdeploy.settings import settings

logger = Logger(service="stepdeploy", child=True)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
STATE_BY_OUTCOME = {"Deployed": "success", "NoChanges": "success", "Superseded": "error"}


def console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def post_commit_status(
    *, repository: str | None, commit: str | None, environment: str, state: str, description: str,
    execution_arn: str,
) -> bool:
    """True when GHE recorded the status; False (logged) when it could not be posted."""
    if not repository or not commit or not _COMMIT.match(commit):
        return False
    try:
        api = GheApi(settings().ghe_api_url, secret_value(settings().ghe_token_secret_arn) or "")
        api.create_status(
            repository, commit, state, description, console_url(execution_arn), context=f"stepdeploy/{environment}"
        )
    except Exception as exc:  # noqa: BLE001 - GHE being down must never fail a deployment
        logger.warning("commit status not posted", extra={"state": state, "reason": str(exc)[:300]})
        ghe_failure("commit status", exc, repository=repository)
        return False
    return True


def outcome_state(outcome: str) -> str:
    return STATE_BY_OUTCOME.get(outcome, "failure")
