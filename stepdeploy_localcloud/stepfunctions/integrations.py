"""Optimised service integrations (``arn:aws:states:::states:startExecution.sync:2``).

moto 5.2.5's interpreter left the request and response normalisation of its service integrations
empty: the state's ``Parameters`` (``StateMachineArn``, ``Name``, ``Input``) reached boto3 as written,
which refused them (``KeyError: 'StateMachineArn'``), and boto3's answer (``executionArn``) never
became the ``ExecutionArn``/``Output`` an ASL reads. This adapter does both as AWS does, from the
service's botocore model, for the Step Functions integration (a child execution per stage).
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

from stepdeploy_localcloud.patching import replace

_MODELS: dict[str, Any] = {}


def _service_model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    if service_action_name is None and self._get_boto_service_action() == "start_execution":
        _input_as_text(parameters)
    service = self._get_boto_service_name(boto_service_name)
    action = self._get_boto_service_action(service_action_name)
    model = _service_model(service)
    operation = next(name for name in model.operation_names if _snake(name) == action)
    shape = model.operation_model(operation).input_shape
    if shape is not None:
        self._to_boto_request(parameters, shape)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _input_as_text(parameters: dict[str, Any]) -> None:
    given = parameters.get("Input")
    if not isinstance(given, str):
        parameters["Input"] = json.dumps({} if given is None else given, separators=(",", ":"))


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    """Top-level keys as the ASL reads them (``executionArn`` -> ``ExecutionArn``); an execution's
    ``Input`` and ``Output`` are the user's JSON and stay as they are."""
    if isinstance(response, dict):
        cased = {_pascal(key): value for key, value in response.items()}
        response.clear()
        response.update(cased)


def install() -> None:
    replace(StateTaskServiceSfn, "_normalise_parameters", _normalise_parameters)
    replace(StateTaskServiceSfn, "_normalise_response", _normalise_response)
