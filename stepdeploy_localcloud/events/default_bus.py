"""The events AWS services send to their account's default bus, as the local cloud sends them.

CloudFormation, CloudWatch, CodeBuild, CodeDeploy and Step Functions each announce changes with a
PutEvents entry of the same shape (``service_event``); a service's own operation never fails because
its event could not go out (``put_service_event``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from stepdeploy_localcloud import backends

log = logging.getLogger(__name__)


def service_event(source: str, detail_type: str, detail: dict[str, Any], resources: Iterable[str]) -> dict[str, Any]:
    """The PutEvents entry of a service event (``aws.<service>``) for the default bus."""
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, default=str),
        "Resources": list(resources),
        "EventBusName": "default",
    }


def put_service_event(account_id: str, region: str, entry: dict[str, Any], what: str) -> None:
    """Put ``entry`` on the default bus of the account and region; on failure log a warning naming ``what``."""
    try:
        backends.backend("events", account_id, region).put_events([entry])
    except Exception:  # noqa: BLE001 - the operation that announces itself goes on without its event
        log.warning("could not emit %s", what, exc_info=True)
