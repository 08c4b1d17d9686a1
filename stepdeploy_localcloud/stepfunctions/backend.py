"""Fixes inside moto's executing backend that every execution relies on.

- The interpreter's AWS clients (Lambda tasks, SQS/SNS/EventBridge tasks ...) call
  ``http://localhost:$MOTO_PORT`` (5000 by default) in server mode; they must call the local
  cloud's own endpoint.
  One client per service and region serves every task (boto3's default session is not
  thread-safe, and executions start together under load); its Lambda requests carry the task's
  token (``queueing``), so that time waiting for a local worker does not count as the task's.
- SendTaskSuccess/Failure/Heartbeat look at every running execution and crash on one whose
  interpreter has not built its environment yet (the moment right after StartExecution).
- A task that fails (and is retried or caught), a path that IsPresent finds missing: normal
  flow, not errors worth log lines of several kilobytes at ERROR level. moto's interpreter
  logs them at DEBUG here; what ends an execution is in its history and DescribeExecution.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from moto.core.models import botocore_stubber
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from stepdeploy_localcloud import endpoint, queueing
from stepdeploy_localcloud.patching import replace, wrap

LOG = logging.getLogger("moto.stepfunctions.parser.asl")

# A task's own TimeoutSeconds bounds its calls, as moto's clients assume.
_NO_TIMEOUT_SECONDS = 99999999

# Every module of moto's interpreter that imported boto_client_for by name.
_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


_clients: dict[tuple[str, str, str], BaseClient] = {}
_clients_lock = threading.Lock()
# Many executions call the same service at once; a client is thread-safe and pools its connections.
_MAX_POOL_CONNECTIONS = 64


def local_cloud_client(region: str, service: str) -> BaseClient:
    """One client per service, region and endpoint, made once under a lock and shared by every task.

    boto3's default session is not thread-safe: executions starting together created clients from it
    at once (and each client cost a service model load).
    """
    key = (service, region, endpoint.endpoint_url())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.session.Session().client(
                service_name=service,
                region_name=region,
                endpoint_url=key[2],
                aws_access_key_id="ak",
                aws_secret_access_key="sk",
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=_NO_TIMEOUT_SECONDS,
                    read_timeout=_NO_TIMEOUT_SECONDS,
                    max_pool_connections=_MAX_POOL_CONNECTIONS,
                ),
            )
            client.meta.events.register("before-sign.lambda", _tag_with_task)
            _clients[key] = client
        return client


def _tag_with_task(request: Any, **_: Any) -> None:
    token = queueing.current_task()
    if token is not None:
        request.headers[queueing.HEADER] = token


def _client_for_local_cloud(moto_client_for: Any) -> Any:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        if botocore_stubber.enabled or not endpoint.is_running():
            # in-process mock_aws, or moto's own server on MOTO_PORT
            return moto_client_for(region=region, service=service, state_credentials=state_credentials)
        return local_cloud_client(region, service)

    return boto_client_for


def _executions_with_environment(original: Any) -> Any:
    def get_executions(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
        return [
            execution
            for execution in original(self, execution_status)
            if execution.exec_worker is not None and execution.exec_worker.env is not None
        ]

    return get_executions


def _log_failure_at_debug(_original: Any) -> Any:
    def log_failure_event_exception(self: EvalComponent, failure_event_exception: Any) -> None:
        if LOG.isEnabledFor(logging.DEBUG):
            error_name = failure_event_exception.failure_event.error_name
            LOG.debug(
                "%s failed with %s",
                type(self).__name__,
                error_name.error_name if error_name else "an unnamed error",
            )

    return log_failure_event_exception


def _log_exception_at_debug(_original: Any) -> Any:
    def log_exception(self: EvalComponent, exception: Exception) -> None:
        LOG.debug("%s raised %s: %s", type(self).__name__, type(exception).__name__, exception)

    return log_exception


def install() -> None:
    wrap(boto_client_module, "boto_client_for", _client_for_local_cloud)
    patched = boto_client_module.boto_client_for
    for name in _CLIENT_MODULES:
        replace(importlib.import_module(name), "boto_client_for", patched)
    wrap(StepFunctionsParserBackend, "_get_executions", _executions_with_environment)
    wrap(EvalComponent, "_log_failure_event_exception", _log_failure_at_debug)
    wrap(EvalComponent, "_log_exception", _log_exception_at_debug)
