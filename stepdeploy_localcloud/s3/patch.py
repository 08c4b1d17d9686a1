"""Bucket policies evaluated for the request's caller, as S3 does.

moto evaluates a bucket policy with no caller and no request context, ignores ``NotResource``, policy
variables and every condition operator but StringEquals (a statement whose condition does not hold
even counts as an explicit Deny, so the usual TLS-only Deny refused every request), and checks
nothing of a browser POST upload. This adapter evaluates the bucket policy of every object request
(GET, HEAD, PUT, POST, DELETE on a key, a multi-object delete, a POST upload) with ``policy.py``, for
the principal that signed it (``callers.py``: its role or user, its account and its tags, so that
``${aws:PrincipalTag/...}`` resolves). A Deny answers ``AccessDenied`` (HTTP 403) in AWS's words,
naming the caller, the action, the object and the statement.

The action is the one IAM names for the request: ``s3:PutObject`` for a put, a copy's destination and
every step of a multipart upload; ``s3:GetObject`` for GET and HEAD; ``s3:DeleteObject``; the
``...Tagging``/``...Acl`` actions of those sub-resources. AWS's endpoints are HTTPS; the loopback
endpoint stands in for them, so requests count as secure transport (``aws:SecureTransport``).
Only bucket policies are evaluated: the caller's own IAM policies are not (docs/local-cloud.md).

moto also finds a bucket of any account by its name and lets every account read its objects
(``S3Backend.get_object``: GetObject, HeadObject, the source of CopyObject, and moto's own readers such
as Lambda's code). Here an account reads another account's object only when that bucket's policy lets it
(``another_account_may_read``), else ``AccessDenied``, as on AWS.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from stepdeploy_localcloud.patching import replace, wrap
from stepdeploy_localcloud.s3.callers import access_key_of, caller_of
from stepdeploy_localcloud.s3.policy import Caller, Decision, Verdict, evaluate

_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("s3_caller", default=None)
# moto's names for what it checks -> IAM's
_MOTO_ACTIONS = {"s3:HeadObject": "s3:GetObject", "s3:PostObject": "s3:PutObject"}
_SUBRESOURCES = {"tagging": "Tagging", "acl": "Acl", "retention": "Retention", "legal-hold": "LegalHold"}


def object_action(method: str, query: Mapping[str, Any]) -> str:
    """The IAM action of an object request."""
    method = method.upper()
    for name, suffix in _SUBRESOURCES.items():
        if name in query and method in ("GET", "PUT", "DELETE"):
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}[method]
            return f"s3:{verb}Object{suffix}"
    if method == "DELETE":
        return "s3:AbortMultipartUpload" if "uploadId" in query else (
            "s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject")
    if method in ("PUT", "POST"):
        return "s3:RestoreObject" if "restore" in query else "s3:PutObject"
    if "uploadId" in query:
        return "s3:ListMultipartUploadParts"
    return "s3:GetObjectVersion" if "versionId" in query else "s3:GetObject"


def bucket_verdict(bucket: Any, action: str, resource: str, caller: Caller) -> Verdict:
    if getattr(bucket, "policy", None) is None:
        return Verdict(Decision.NEUTRAL)
    return evaluate(bucket.policy, action, resource, caller)


def current_caller() -> Caller:
    """The caller of the S3 request being served (the default account's root outside one)."""
    from moto.core import DEFAULT_ACCOUNT_ID

    return _CALLER.get() or Caller(arn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root", account=DEFAULT_ACCOUNT_ID)


def apply() -> None:
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
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

    results = {Decision.ALLOWED: PermissionResult.PERMITTED, Decision.DENIED: PermissionResult.DENIED,
               Decision.NEUTRAL: PermissionResult.NEUTRAL}

    def get_permission(self: Any, action: str, resource: str) -> Any:
        verdict = bucket_verdict(self, _MOTO_ACTIONS.get(action, action), resource, current_caller())
        return results[verdict.decision]

    replace(FakeBucket, "get_permission", get_permission)
    _serve_with_caller()


def _serve_with_caller() -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    class AccessDenied(S3ClientError):
        def __init__(self, message: str) -> None:
            super().__init__("AccessDenied", message)

    def check(response: Any, bucket_name: str, key_name: str, action: str) -> None:
        try:
            bucket = response.backend.get_bucket(bucket_name)
        except S3ClientError:
            return  # no such bucket: moto answers NoSuchBucket
        resource = f"arn:{bucket.partition}:s3:::{bucket_name}/{key_name}"
        caller = current_caller()
        verdict = bucket_verdict(bucket, action, resource, caller)
        if verdict.decision is Decision.DENIED:
            raise AccessDenied(verdict.message(caller, action, resource))

    def serving(original: Any, method: Any) -> Any:
        def serve(self: Any, request: Any, *args: Any) -> Any:
            token = _CALLER.set(caller_of(access_key_of(self.headers, self.querystring)))
            try:
                return method(self, original, request, *args)
            finally:
                _CALLER.reset(token)

        return serve

    def key_response(self: Any, original: Any, request: Any, full_url: str) -> Any:
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(full_url).query, keep_blank_values=True)
        if request.method.upper() != "OPTIONS":
            check(self, self.parse_bucket_name_from_url(request, full_url), self.parse_key_name(),
                  object_action(request.method, query))
        return original(self, request, full_url)

    def bucket_post(self: Any, original: Any, request: Any, bucket_name: str) -> Any:
        if not self.is_delete_keys() and self.querystring.get("key"):  # a browser POST upload
            check(self, bucket_name, str(self.querystring["key"][0]), "s3:PutObject")
        return original(self, request, bucket_name)

    wrap(S3Response, "_key_response", lambda original: serving(original, key_response))
    wrap(S3Response, "_bucket_response_post", lambda original: serving(original, bucket_post))

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
