"""Bucket policies see the request's transport as AWS does; another account reads an object only when
the bucket's policy lets it.

moto evaluates a bucket policy with no request context and ignores every condition operator but
StringEquals; worse, a statement whose condition does not hold counts as an explicit Deny
(instead of not applying). So the usual TLS-only Deny (``Bool: aws:SecureTransport: false``)
refuses every request. This adapter adds the ``Bool`` operator, makes a statement whose condition
does not hold neutral, and evaluates bucket policies with a request context. AWS's endpoints are
HTTPS; the loopback endpoint stands in for them, so requests count as secure transport here.
A policy that denies something else still denies it.

moto also finds a bucket of any account by its name and lets every account read its objects
(``S3Backend.get_object``: GetObject, HeadObject, the source of CopyObject, and moto's own readers such
as Lambda's code). Here an account reads another account's object only when that bucket's policy lets it
(``another_account_may_read``), else ``AccessDenied``, as on AWS.
"""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.patching import replace, wrap

REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def apply() -> None:
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    def bool_equals(expected: list[str] | str, actual: str) -> bool:
        values = [expected] if isinstance(expected, str) else expected
        return any(str(v).lower() == str(actual).lower() for v in values)

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", bool_equals)

    def neutral_when_condition_fails(statement_permits: Any) -> Any:
        def is_action_permitted(
            self: Any, action: str, resource: str = "*", principal: str | None = None,
            incoming_condition_values: dict[str, str] | None = None,
        ) -> Any:
            result = statement_permits(self, action, resource, principal, incoming_condition_values)
            if (
                result == PermissionResult.DENIED
                and self._statement.get("Condition")
                and not self._check_conditions(incoming_condition_values)
            ):
                return PermissionResult.NEUTRAL  # the condition does not hold: the statement does not apply
            return result

        return is_action_permitted

    wrap(IAMPolicyStatement, "is_action_permitted", neutral_when_condition_fails)

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = IAMPolicy(self.policy.decode())
        return policy.is_action_permitted(action, resource, incoming_condition_values=dict(REQUEST_CONTEXT))

    replace(FakeBucket, "get_permission", get_permission)

    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.models import S3Backend

    def only_what_the_bucket_policy_shares(get_object: Any) -> Any:
        def checked(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
            bucket = self.get_bucket(bucket_name)
            owner = getattr(bucket, "account_id", self.account_id)
            if owner != self.account_id and not another_account_may_read(bucket, self.account_id, key_name):
                raise S3AccessDeniedError()
            return get_object(self, bucket_name, key_name, *args, **kwargs)

        return checked

    wrap(S3Backend, "get_object", only_what_the_bucket_policy_shares)


def another_account_may_read(bucket: Any, account: str, key: str) -> bool:
    """Whether ``bucket``'s policy lets ``account`` (not the bucket's own) GetObject ``key``: an Allow
    statement naming the account (``123456789012``, ``arn:aws:iam::123456789012:root`` or a role ARN of
    it) for ``s3:GetObject`` on a matching resource. Conditions are not evaluated (the caller's role is
    not known here); a Deny statement naming the account refuses."""
    import fnmatch
    import json

    raw = getattr(bucket, "policy", None)
    if not raw:
        return False
    policy = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    resource = f"arn:aws:s3:::{bucket.name}/{key}"

    def listed(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    def names_account(principal: Any) -> bool:
        entries = listed(principal.get("AWS", [])) if isinstance(principal, dict) else listed(principal)
        return any(str(e) in ("*", account) or f":iam::{account}:" in str(e) for e in entries)

    allowed = False
    for statement in listed(policy.get("Statement", [])):
        actions = listed(statement.get("Action", []))
        if not any(fnmatch.fnmatchcase("s3:GetObject", str(a)) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, str(r)) for r in listed(statement.get("Resource", []))):
            continue
        if not names_account(statement.get("Principal")):
            continue
        if statement.get("Effect") == "Deny" and not statement.get("Condition"):
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
