"""Step Functions look-ups the tasks need, and the link to an execution's page."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code

LOCAL_DASHBOARD_PATH = "/dashboard/"
"""Where `stepdeploy local up` serves the dashboard, on the local cloud's own port."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def execution_is_running(execution_arn: str) -> bool:
    try:
        status = client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return bool(status == "RUNNING")


def local_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint if it is a local cloud on this machine (a loopback address), else None."""
    if not endpoint_url:
        return None
    parts = urlsplit(endpoint_url)
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return f"{parts.scheme}://{parts.netloc}"
    return None


def console_url(execution_arn: str, endpoint_url: str | None = None) -> str:
    """The execution's page: the local dashboard when the endpoint (the settings' AWS_ENDPOINT_URL by default)
    is a local cloud, else the Step Functions console of the ARN's region."""
    from stepdeploy.settings import settings

    endpoint = local_endpoint(endpoint_url if endpoint_url is not None else settings().endpoint_url)
    if endpoint:
        return f"{endpoint}{LOCAL_DASHBOARD_PATH}#execution={quote(execution_arn.rsplit(':', 1)[-1], safe='')}"
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
