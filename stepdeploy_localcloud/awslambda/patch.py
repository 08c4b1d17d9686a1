"""Adapter: Lambda Invoke runs the function's real handler (lambda_runtime) instead of moto's
canned reply.

Patched places (moto 5.2.5):
- ``LambdaBackend.invoke`` and ``LambdaSimpleBackend.invoke``: what the Invoke API calls, in
  server mode and under ``mock_aws`` alike (``moto.awslambda.utils.get_backend`` picks the simple
  backend when ``lambda.use_docker`` is False). moto's Step Functions interpreter invokes through
  a boto3 client, so its Lambda tasks land here too.
- ``LambdaResponse.invoke``: moto reads the qualifier as ``qualifier`` (lower case) from the
  query string or, failing that, from the event payload; the Invoke API sends ``?Qualifier=``.
- ``LambdaFunction.invoke``: what moto's SNS, SQS, InvokeAsync and log subscriptions call.
- ``LambdaFunction._get_layers_data``: a layer version ARN that the local cloud does not have but
  ``stepdeploy local up --layer ARN=PATH`` provides is accepted; one it neither has nor is given fails
  CreateFunction naming the ARN and how to provide it (moto says "One or more LayerVersion does not exist").
- ``StateTaskLambda._from_error``: a Task whose Resource is a plain function ARN names an Invoke
  API error ``Exception``; AWS names it ``Lambda.<error code>`` (e.g.
  ``Lambda.TooManyRequestsException``), as moto already does for ``arn:aws:states:::lambda:invoke``.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

from stepdeploy_localcloud import backends, queueing
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.awslambda import versions
from stepdeploy_localcloud.patching import replace, wrap

MAX_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024
STATUS_BY_INVOCATION_TYPE = {"Event": 202, "DryRun": 204}


def _header(headers: Any, name: str) -> str | None:
    """A request header, whatever the case of its name (moto's internal callers pass plain dicts)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _backend_invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes:
    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    with queueing.serving(_header(headers, queueing.HEADER)):  # a Step Functions task's request
        result = lambda_runtime.invoke(
            function_name,
            body if isinstance(body, bytes) else (body or "").encode("utf-8"),
            qualifier,
            account_id=self.account_id,
            region=self.region_name,
            invocation_type=invocation_type,
        )
    response_headers["x-amz-executed-version"] = result.executed_version
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    if (_header(headers, "X-Amz-Log-Type") or "").lower() == "tail":
        response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
    response_headers["Content-Length"] = str(len(result.payload))
    return result.payload


def _response_invoke(self: Any) -> tuple[int, dict[str, str], bytes]:
    function_name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = (self.querystring.get("Qualifier") or [None])[0]
    response_headers: dict[str, str] = {}
    payload = self.backend.invoke(function_name, qualifier, self.body, self.headers, response_headers)
    invocation_type = _header(self.headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "RequestResponse" and len(payload) > MAX_SYNC_RESPONSE_BYTES:
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(
            {
                "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed "
                f"payload size ({MAX_SYNC_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        ).encode()
        response_headers["Content-Length"] = str(len(payload))
    status = STATUS_BY_INVOCATION_TYPE.get(invocation_type, 200)
    response_headers["content-type"] = "application/json"
    response_headers["status"] = str(status)  # moto's dispatcher takes the status from this header
    return status, response_headers, payload


def _function_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    result = lambda_runtime.invoke_function_object(self, body)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = result.executed_version
    return result.payload


def _layers_data(self: Any, layers_versions_arns: list[str]) -> list[dict[str, Any]]:
    from moto.awslambda.exceptions import InvalidParameterValueException
    backend = backends.backend("lambda", self.account_id, self.region)
    data = []
    for arn in layers_versions_arns:
        layer_version = backend.layers_versions_by_arn(arn)
        if layer_version is not None:
            data.append({"Arn": layer_version.arn, "CodeSize": layer_version.code_size})
        elif (provided := lambda_runtime.provided_layer(arn)) is not None:
            files = provided.rglob("*") if provided.is_dir() else [provided]
            size = sum(p.stat().st_size for p in files if p.is_file())
            data.append({"Arn": arn, "CodeSize": size})
        else:
            raise InvalidParameterValueException(lambda_runtime.missing_layer_message(arn))
    return data


def _patch_sfn_lambda_errors() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (  # noqa: E501
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    def _from_error_as_aws(original: Any) -> Any:
        def _from_error(self: Any, env: Any, ex: Exception) -> Any:
            if not isinstance(ex, ClientError):
                return original(self, env, ex)
            error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.LambdaFunctionFailed,
                event_details=EventDetails(
                    lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
                ),
            )

        return _from_error

    wrap(StateTaskLambda, "_from_error", _from_error_as_aws)


def apply() -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.awslambda.responses import LambdaResponse
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.utilities.aws_headers import amz_crc32

    replace(LambdaBackend, "invoke", _backend_invoke)
    replace(LambdaSimpleBackend, "invoke", _backend_invoke)
    replace(LambdaResponse, "invoke", amz_crc32(_response_invoke))
    replace(LambdaFunction, "invoke", _function_invoke)
    replace(LambdaFunction, "_get_layers_data", _layers_data)
    _patch_sfn_lambda_errors()
    versions.apply()
