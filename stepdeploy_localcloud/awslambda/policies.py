"""Adapter: each qualifier of a function has its own resource policy, as on AWS.

moto 5.2.5 adds a permission granted with ``Qualifier=live`` to the policy of the version object the
alias points at, which is the one policy every qualifier and the function itself then answer:
``GetPolicy`` without a qualifier listed the alias's statement and ``GetPolicy Qualifier=live`` the
function's own; ``RemovePermission`` ignored its ``Qualifier``. Here:

- ``AddPermission``, ``GetPolicy`` and ``RemovePermission`` act on the policy of the qualifier named
  (``Qualifier`` or a qualified name or ARN; none, or ``$LATEST``, is the function's own policy);
- a qualifier that is neither an alias nor a published version answers ResourceNotFoundException
  naming the qualified ARN; a qualifier with no statement answers ResourceNotFoundException on
  ``GetPolicy``, as a function without one does;
- a statement id already in that policy answers ResourceConflictException (moto added a duplicate).

The local CloudFormation's ``AWS::Lambda::Permission`` (``FunctionName`` an alias ARN: how SAM grants API
Gateway, SNS and others on an alias) goes through ``add_permission`` and ``remove_permission`` here.
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.exceptions import LambdaClientError

from stepdeploy_localcloud.awslambda import qualified
from stepdeploy_localcloud.patching import replace


class StatementIdConflict(LambdaClientError):
    code = 409

    def __init__(self, statement_id: str):
        super().__init__(
            "ResourceConflictException",
            f"The statement id ({statement_id}) provided already exists. Please provide a new statement id, "
            "or remove the existing statement.",
        )


def policy_of(backend: Any, function_name: str, qualifier: str | None) -> Any:
    """The moto ``Policy`` of the function, or of one of its aliases or versions."""
    from moto.awslambda.policy import Policy

    name, qualifier = qualified.split_name(function_name, qualifier)
    function = qualified.latest(backend, name)
    if qualifier is None:
        return function.policy
    qualified.require_qualifier(backend, name, qualifier)
    policies = qualified.of(function).policies
    if qualifier not in policies:
        policies[qualifier] = Policy(function)
    return policies[qualifier]


def add_permission(backend: Any, function_name: str, qualifier: str | None, raw: str) -> dict[str, Any]:
    """AddPermission: ``raw`` is the request body (StatementId, Action, Principal, SourceArn...)."""
    policy = policy_of(backend, function_name, qualifier)
    _, qualifier = qualified.split_name(function_name, qualifier)
    statement_id = json.loads(raw).get("StatementId")
    if statement_id and any(s.get("Sid") == statement_id for s in policy.statements):
        raise StatementIdConflict(statement_id)
    statement, _revision = policy.add_statement(raw, qualifier)
    return dict(statement)


def remove_permission(
    backend: Any, function_name: str, statement_id: str, revision: str = "", qualifier: str | None = None
) -> None:
    policy_of(backend, function_name, qualifier).del_statement(statement_id, revision)


def get_policy(backend: Any, function_name: str, qualifier: str | None = None) -> str:
    return str(policy_of(backend, function_name, qualifier).wire_format())


def _response_remove_permission(self: Any) -> tuple[int, dict[str, Any], str]:
    from urllib.parse import unquote

    path = self.path.split("?", 1)[0]
    function_name = unquote(path.split("/")[-3])
    statement_id = unquote(path.split("/")[-1])
    revision = (self.querystring.get("RevisionId") or [""])[0]
    qualifier = (self.querystring.get("Qualifier") or [None])[0]
    remove_permission(self.backend, function_name, statement_id, revision, qualifier)
    return 204, {"status": 204}, "{}"


def apply() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    qualified.apply()
    # Each takes the backend first, then moto's own arguments in moto's order: they are its methods.
    replace(LambdaBackend, "add_permission", add_permission)
    replace(LambdaBackend, "remove_permission", remove_permission)
    replace(LambdaBackend, "get_policy", get_policy)
    replace(LambdaResponse, "remove_permission", _response_remove_permission)
