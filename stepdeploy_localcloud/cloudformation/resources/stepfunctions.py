"""AWS::StepFunctions::StateMachine, in the executing Step Functions backend."""

from __future__ import annotations

import json
from typing import Any

from stepdeploy_localcloud.backends import backend
from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
    as_bool,
    camel_keys,
    required_property,
    s3_object_text,
    tags_to_dict,
    tags_to_list,
)


def _sfn_adapter() -> Any:
    try:
        from stepdeploy_localcloud.stepfunctions import patch as stepfunctions
    except ImportError:
        return None
    return stepfunctions


def create_state_machine(
    name: str,
    definition: str,
    role_arn: str,
    type_: str,
    logging: dict[str, Any] | None,
    tracing: dict[str, Any] | None,
    tags: list[dict[str, str]],
    account_id: str,
    region: str,
) -> str:
    """Create a state machine in the executing Step Functions backend and return its ARN.

    The Step Functions adapter provides ``create_executing_state_machine``; without it, the
    state machine goes straight into moto's parser (executing) backend.
    """
    create = getattr(_sfn_adapter(), "create_executing_state_machine", None)
    if create is not None:
        return str(create(name, definition, role_arn, type_, logging, tracing, tags, account_id, region))
    machine = backend("stepfunctions", account_id, region).create_state_machine(
        name=name,
        definition=definition,
        roleArn=role_arn,
        tags=tags,
        loggingConfiguration=logging,
        tracingConfiguration=tracing,
        sm_type=type_,
    )
    return str(machine.arn)


def update_state_machine(
    arn: str,
    definition: str,
    role_arn: str | None,
    logging: dict[str, Any] | None,
    tracing: dict[str, Any] | None,
    account_id: str,
    region: str,
) -> None:
    update = getattr(_sfn_adapter(), "update_executing_state_machine", None)
    if update is not None:
        update(arn, definition, role_arn, logging, tracing, None, account_id, region)
        return
    backend("stepfunctions", account_id, region).update_state_machine(
        arn, definition=definition, role_arn=role_arn, logging_configuration=logging, tracing_configuration=tracing
    )


def delete_state_machine(arn: str, account_id: str, region: str) -> None:
    delete = getattr(_sfn_adapter(), "delete_executing_state_machine", None)
    if delete is not None:
        delete(arn, account_id, region)
        return
    backend("stepfunctions", account_id, region).delete_state_machine(arn)


def scalar_text(value: Any) -> str:
    """A scalar as CloudFormation writes it into a string (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute(definition: str, substitutions: dict[str, Any]) -> str:
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", scalar_text(value))
    return definition


class StateMachineHandler(ResourceHandler):
    resource_type = "AWS::StepFunctions::StateMachine"
    replace_on = frozenset({"StateMachineName", "StateMachineType"})
    name_property = "StateMachineName"

    def definition(self, ctx: ResourceContext, props: dict[str, Any]) -> str:
        if "DefinitionString" in props:
            text = str(props["DefinitionString"])
        elif "Definition" in props:
            text = json.dumps(props["Definition"])
        elif "DefinitionS3Location" in props:
            location = props["DefinitionS3Location"]
            text = s3_object_text(ctx, location["Bucket"], location["Key"], location.get("Version"))
        else:
            raise ResourceFailure(
                f"{ctx.logical_id}: one of Definition, DefinitionString or DefinitionS3Location is required"
            )
        return _substitute(text, props.get("DefinitionSubstitutions") or {})

    @staticmethod
    def _logging(props: dict[str, Any]) -> dict[str, Any] | None:
        config = props.get("LoggingConfiguration")
        return camel_keys(config) if config else None

    @staticmethod
    def _tracing(props: dict[str, Any]) -> dict[str, Any] | None:
        config = props.get("TracingConfiguration")
        return {"enabled": bool(as_bool(config.get("Enabled")))} if config else None

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        # CloudFormation names state machines <LogicalId>-<random> (no stack name).
        name = self.physical_name(ctx, props, max_length=80, with_stack=False)
        tags = tags_to_list({**ctx.system_tags(), **tags_to_dict(props.get("Tags"))}, "key", "value")
        arn = create_state_machine(
            name=name,
            definition=self.definition(ctx, props),
            role_arn=required_property(props, "RoleArn", ctx),
            type_=props.get("StateMachineType", "STANDARD"),
            logging=self._logging(props),
            tracing=self._tracing(props),
            tags=tags,
            account_id=ctx.account_id,
            region=ctx.region,
        )
        return Provisioned(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        update_state_machine(
            current.physical_id,
            self.definition(ctx, new),
            new.get("RoleArn"),
            self._logging(new),
            self._tracing(new),
            ctx.account_id,
            ctx.region,
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        delete_state_machine(current.physical_id, ctx.account_id, ctx.region)
