"""State machines that CloudFormation creates, registered in moto's executing backend.

moto's ``AWS::StepFunctions::StateMachine`` handler writes to the non-executing backend, so
executions started over the API would never run. The CloudFormation adapter calls these
functions instead; the machines they create are the ones StartExecution and
DescribeStateMachine find over the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions.exceptions import StateMachineDoesNotExist
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION

TagsInput = Mapping[str, str] | Sequence[Mapping[str, str]] | None


class StateMachineAlreadyExists(AWSError):
    TYPE = "StateMachineAlreadyExists"
    STATUS = 400


def executing_backend(account_id: str = ACCOUNT_ID, region: str = REGION) -> StepFunctionsParserBackend:
    return backends.backend("stepfunctions", account_id, region)


def api_tags(tags: TagsInput) -> list[dict[str, str]]:
    """Tags as the Step Functions API takes them, from a mapping or CloudFormation's Key/Value list."""
    if not tags:
        return []
    if isinstance(tags, Mapping):
        return [{"key": str(key), "value": str(value)} for key, value in tags.items()]
    converted = []
    for tag in tags:
        key = tag.get("key", tag.get("Key"))
        value = tag.get("value", tag.get("Value", ""))
        if key is None:
            raise ValueError(f"a state machine tag needs a Key, got {dict(tag)!r}")
        converted.append({"key": str(key), "value": str(value)})
    return converted


def create_executing_state_machine(
    name: str,
    definition: str,
    role_arn: str,
    type_: str = "STANDARD",
    logging: Mapping[str, Any] | None = None,
    tracing: Mapping[str, Any] | None = None,
    tags: TagsInput = None,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> str:
    """Create a state machine whose executions run; return its ARN.

    Creating the same name again with the same definition returns the existing machine (as
    AWS does); with another definition it is an error: update it instead.
    """
    backend = executing_backend(account_id, region)
    arn = backend_arn(backend, name)
    existing = _find(backend, arn)
    if existing is not None:
        if existing.definition != definition or existing.roleArn != role_arn:
            raise StateMachineAlreadyExists(
                f"State Machine Already Exists: '{arn}' (with another definition or role; "
                "use update_executing_state_machine)"
            )
        return arn
    machine = backend.create_state_machine(
        name=name,
        definition=definition,
        roleArn=role_arn,
        tags=api_tags(tags),
        loggingConfiguration=dict(logging) if logging else None,
        tracingConfiguration=dict(tracing) if tracing else None,
        sm_type=type_ or "STANDARD",
    )
    return machine.arn


def update_executing_state_machine(
    arn: str,
    definition: str | None = None,
    role_arn: str | None = None,
    logging: Mapping[str, Any] | None = None,
    tracing: Mapping[str, Any] | None = None,
    tags: TagsInput = None,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> str:
    """Update a machine in place (running executions keep their definition); return its ARN."""
    backend = executing_backend(account_id, region)
    if any(value is not None for value in (definition, role_arn, logging, tracing)):
        backend.update_state_machine(
            arn,
            definition=definition,
            role_arn=role_arn,
            logging_configuration=dict(logging) if logging else None,
            tracing_configuration=dict(tracing) if tracing else None,
        )
    else:
        backend.describe_state_machine(arn)
    if tags:
        backend.tag_resource(arn, {tag["key"]: tag["value"] for tag in api_tags(tags)})
    return arn


def delete_executing_state_machine(arn: str, account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
    executing_backend(account_id, region).delete_state_machine(arn)


def backend_arn(backend: StepFunctionsParserBackend, name: str) -> str:
    return f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}:stateMachine:{name}"


def _find(backend: StepFunctionsParserBackend, arn: str) -> Any:
    try:
        return backend.describe_state_machine(arn)
    except StateMachineDoesNotExist:
        return None
