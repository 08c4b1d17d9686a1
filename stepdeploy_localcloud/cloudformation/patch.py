"""Route moto's CloudFormation operations through the local cloud's engine (see api.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from moto.cloudformation.responses import CloudFormationResponse

from stepdeploy_localcloud.cloudformation.api import (
    create_change_set,
    create_stack,
    delete_change_set,
    delete_stack,
    describe_change_set,
    describe_stack_resource,
    describe_stack_resources,
    execute_change_set,
    get_template,
    list_change_sets,
    list_stack_resources,
    update_stack,
)
from stepdeploy_localcloud.patching import replace

_OPERATIONS: dict[str, Callable[[CloudFormationResponse], Any]] = {
    "create_stack": create_stack,
    "update_stack": update_stack,
    "create_change_set": create_change_set,
    "describe_change_set": describe_change_set,
    "delete_change_set": delete_change_set,
    "list_change_sets": list_change_sets,
    "execute_change_set": execute_change_set,
    "delete_stack": delete_stack,
    "describe_stack_resource": describe_stack_resource,
    "describe_stack_resources": describe_stack_resources,
    "list_stack_resources": list_stack_resources,
    "get_template": get_template,
}


def _operation(function: Callable[[CloudFormationResponse], Any]) -> Callable[[CloudFormationResponse], Any]:
    def operation(self: CloudFormationResponse) -> Any:
        return function(self)

    operation.__name__ = function.__name__
    operation.__doc__ = function.__doc__
    return operation


def apply() -> None:
    """Route the CloudFormation operations above through this engine (idempotent)."""
    for name, function in _OPERATIONS.items():
        replace(CloudFormationResponse, name, _operation(function))
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
