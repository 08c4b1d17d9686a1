"""Commit statuses on GHE: pending when a deployment starts, its outcome at the end.

A GHE outage never fails a deployment: the status is logged as not posted, counted (metric
GheUnavailable, or GheRejected for a 4xx answer) and the step goes on.
"""

from __future__ import annotations

import re

from stepdeploy.aws.executions import console_url
from stepdeploy.ghe.api import ghe_api
from stepdeploy.observability import ghe_failure, logger

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
STATE_BY_OUTCOME = {"Deployed": "success", "NoChanges": "success", "Superseded": "error"}


def post_commit_status(
    *, repository: str | None, commit: str | None, environment: str, state: str, description: str,
    execution_arn: str,
) -> bool:
    """True when GHE recorded the status; False (logged) when it could not be posted."""
    if not repository or not commit or not _COMMIT.match(commit):
        return False
    try:
        api = ghe_api()
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
