"""boto3 clients, one per service per process, AWS error codes turned into pipeline errors, and the
client tokens that make a retried or redriven step's AWS call idempotent.

boto3 is imported by the first ``client()`` call, not at import: a function's cold start pays for the
SDK's session and service model only when and if the invocation calls AWS. botocore.exceptions is light.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError, ReadTimeoutError

from stepdeploy.errors import ServiceThrottled, ServiceUnavailable

if TYPE_CHECKING:
    from stepdeploy.models import ExecutionContext

CLIENT_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 3}, "connect_timeout": 5,
                                 "read_timeout": 30}

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "RequestThrottled",
        "LimitExceededException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"ServiceUnavailable", "ServiceException", "InternalFailure", "InternalError", "InternalServerError"}
)


def client(service: str) -> Any:
    """A client honouring AWS_ENDPOINT_URL (the local cloud) like every boto3 client does.

    A stage service (``stepdeploy.aws.accounts.STAGE_SERVICES``) called while a step deploys into
    another account or region gets a client there, with the stage role's credentials; every other
    service, and every service outside such a step, gets the orchestrator's own client."""
    from stepdeploy.aws.accounts import STAGE_SERVICES

    return stage_client(service) if service in STAGE_SERVICES else orchestrator_client(service)


def stage_client(service: str) -> Any:
    """A client of ``service`` in the current stage's account and region, with its role's credentials, for
    a step that uses a service outside ``STAGE_SERVICES`` there (S3: the code bucket of a stage's region);
    the orchestrator's own client outside a stage."""
    from stepdeploy.aws.accounts import credentials, current_stage

    stage = current_stage()
    if stage is None:
        return orchestrator_client(service)
    creds = credentials(stage)
    return _stage_client(service, stage.region, creds.access_key, creds.secret_key, creds.token)


def _new_client(service: str, **options: Any) -> Any:
    """boto3's client for a service named at run time (the stubs type only literal names), with CLIENT_CONFIG."""
    import boto3
    from botocore.config import Config

    make: Callable[..., Any] = boto3.client
    return make(service, config=Config(**CLIENT_CONFIG), **options)


@cache
def orchestrator_client(service: str) -> Any:
    """The orchestrator's own client for ``service``: one per process."""
    return _new_client(service)


@lru_cache(maxsize=64)
def _stage_client(service: str, region: str, access_key: str, secret_key: str, token: str) -> Any:
    """A client in a stage's region with its role's credentials: one per credentials and service."""
    return _new_client(
        service,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
    )


def clear_clients() -> None:
    """Forget every client built so far (tests that change the environment)."""
    orchestrator_client.cache_clear()
    _stage_client.cache_clear()


def idempotency_token(execution: ExecutionContext, purpose: str) -> str:
    """A client token for one step of one execution: the same on retry and redrive.

    The same token comes back for a retried or redriven task, so the service answers with the
    same build or change set. CloudFormation tokens match ``[a-zA-Z][-a-zA-Z0-9]*`` and are at most 128 characters.
    """
    digest = hashlib.sha256(f"{execution.id}|{purpose}".encode()).hexdigest()[:40]
    return f"stepdeploy-{re.sub(r'[^A-Za-z0-9]', '-', purpose)[:40]}-{digest}"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in THROTTLING_CODES | UNAVAILABLE_CODES or status >= 500


@contextmanager
def translate_aws_errors(what: str) -> Iterator[None]:
    """Turn AWS's transient faults into the retryable error classes; let the rest through."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in THROTTLING_CODES:
            raise ServiceThrottled(f"{what}: throttled ({code}): {message}") from exc
        if is_transient(exc):
            raise ServiceUnavailable(f"{what}: service error ({code or 'HTTP 5xx'}): {message}") from exc
        raise
    except (EndpointConnectionError, ConnectionError, ReadTimeoutError) as exc:
        raise ServiceUnavailable(f"{what}: cannot reach the service: {exc}") from exc
