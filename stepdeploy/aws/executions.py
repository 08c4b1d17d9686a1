"""Step Functions look-ups the tasks need."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code


def execution_is_running(execution_arn: str, sfn: Any = None) -> bool:
    try:
        status = (sfn or client("stepfunctions")).describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return bool(status == "RUNNING")
