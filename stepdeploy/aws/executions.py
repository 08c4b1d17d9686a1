"""Step Functions look-ups the tasks need, and the console link of an execution."""

from __future__ import annotations

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code


def execution_is_running(execution_arn: str) -> bool:
    try:
        status = client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return bool(status == "RUNNING")


def console_url(execution_arn: str) -> str:
    """The execution's page in the Step Functions console (its region is the ARN's)."""
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
