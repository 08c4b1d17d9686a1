"""AssumeRole honours the role's trust policy, as AWS does.

moto's AssumeRole hands out credentials for any role ARN, even one that does not exist, and the
credentials then act in the role's account. On AWS the role must exist and its trust policy must allow
the caller. This adapter refuses (``AccessDenied``, HTTP 403) unless:

- the role exists in its account;
- an ``Allow`` statement of its trust policy has ``sts:AssumeRole`` (or ``sts:*``, ``*``) and names the
  caller in ``Principal.AWS``: its account (``123456789012`` or ``arn:aws:iam::123456789012:root``),
  its role ARN, or ``*``;
- the statement's conditions hold. Understood: ``sts:ExternalId`` (the ExternalId given),
  ``aws:PrincipalArn`` (the caller's role ARN) and ``aws:PrincipalAccount``, with ``StringEquals``,
  ``StringLike``, ``ArnEquals``, ``ArnLike``. Any other condition does not hold here (named in the
  refusal).

- with session tags (``Tags``), a statement allowing ``sts:TagSession`` (or ``sts:*``, ``*``) names the
  caller too; the tags are then kept for the session's access key (sessions.py) and a bucket policy
  reads them as ``aws:PrincipalTag/<key>`` over the role's own tags.

What it cannot know: the local cloud's functions run with dummy credentials of the default account,
not as their execution role. A caller whose key is not an assumed role's counts as every role of its
account: ``aws:PrincipalArn`` conditions on roles of its account hold for it.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.patching import wrap
from stepdeploy_localcloud.sts import sessions

ACTIONS = frozenset({"sts:AssumeRole", "sts:*", "*"})
TAG_SESSION = frozenset({"sts:TagSession", "sts:*", "*"})
STRING_MATCHERS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": lambda pattern, value: fnmatch.fnmatchcase(value, pattern),
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": lambda pattern, value: fnmatch.fnmatchcase(value, pattern),
}


class TrustRefused(Exception):
    """Why the role's trust policy does not let the caller assume it."""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _document(role: Any) -> dict[str, Any]:
    raw = role.assume_role_policy_document
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    try:
        return dict(json.loads(text))
    except ValueError:
        return dict(json.loads(unquote(text)))


def _names_caller(principal: Any, account: str, caller_arn: str | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _listed(principal.get("AWS", [])):
        text = str(entry)
        if text in ("*", account) or text.endswith(f":iam::{account}:root"):
            return True
        if caller_arn is not None and text == caller_arn:
            return True
        if caller_arn is None and f":iam::{account}:role/" in text:
            return True  # dummy credentials: the caller may be any role of its account
    return False


def _condition_holds(condition: dict[str, Any], context: dict[str, str], account: str, unknown_role: bool) -> str:
    """'' when every condition holds, else what does not."""
    for operator, tests in condition.items():
        matcher = STRING_MATCHERS.get(operator)
        for key, expected in dict(tests).items():
            if matcher is None:
                return f"condition operator {operator} is not evaluated by the local cloud"
            # dummy credentials: any role of the caller's account
            if (key == "aws:PrincipalArn" and unknown_role
                    and any(f":iam::{account}:role/" in str(p) for p in _listed(expected))):
                continue
            value = context.get(key)
            if value is None:
                return f"condition {operator} {key}: the request has no {key}"
            if not any(matcher(str(p), value) for p in _listed(expected)):
                return f"condition {operator} {key}: {value!r} is not {expected!r}"
    return ""


def check_trust(role: Any, *, account: str, caller_arn: str | None, external_id: str | None,
                actions: frozenset[str] = ACTIONS) -> None:
    """TrustRefused unless a statement of the role's trust policy lets the caller assume it (or, with
    ``actions=TAG_SESSION``, tag its session)."""
    context = {"aws:PrincipalAccount": account}
    if caller_arn is not None:
        context["aws:PrincipalArn"] = caller_arn
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    reasons = []
    for statement in _listed(_document(role).get("Statement", [])):
        if statement.get("Effect") != "Allow" or not set(_listed(statement.get("Action", []))) & actions:
            continue
        if not _names_caller(statement.get("Principal"), account, caller_arn):
            reasons.append(f"statement {statement.get('Sid') or ''} does not name account {account}".replace("  ", " "))
            continue
        failed = _condition_holds(statement.get("Condition") or {}, context, account, caller_arn is None)
        if not failed:
            return
        reasons.append(failed)
    wanted = "sts:AssumeRole" if actions is ACTIONS else "sts:TagSession"
    raise TrustRefused("; ".join(reasons) or f"its trust policy has no Allow statement for {wanted}")


def _caller_arn(response: Any) -> str | None:
    """The role ARN of the caller's credentials, when they are an assumed role's."""
    key = response.get_access_key()
    for backend in backends.existing("iam"):
        found = backend.access_keys.get(key)
        if found is not None:
            return getattr(found, "role_arn", None)
    return None


def _session_tags(param: Any) -> dict[str, str]:
    """AssumeRole's ``Tags`` (``[{"Key": ..., "Value": ...}]``) as a dict."""
    if not param:
        return {}
    entries = list(param.values()) if isinstance(param, dict) else list(param)
    return {str(e.get("Key") or e.get("key")): str(e.get("Value") or e.get("value") or "") for e in entries}


def apply() -> None:
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse

    class AccessDenied(STSClientError):
        code = "AccessDenied"

        def __init__(self, message: str) -> None:
            super().__init__("AccessDenied", message)

    def make(original: Any) -> Any:
        def assume_role(self: TokenResponse) -> Any:
            role_arn = str(self._get_param("RoleArn") or "")
            caller = _caller_arn(self)
            account = self.current_account
            who = caller or f"arn:{self.partition}:iam::{account}:root"

            def denied(action: str = "sts:AssumeRole") -> str:
                return f"User: {who} is not authorized to perform: {action} on resource: {role_arn}"

            parts = role_arn.split(":")
            if len(parts) < 6 or parts[2] != "iam":
                raise AccessDenied(f"{denied()} (not a role ARN)")
            try:
                role = backends.backend("iam", parts[4], parts[1]).get_role_by_arn(role_arn)  # [1]: the partition
            except Exception:  # noqa: BLE001 - moto's NoSuchEntity: AWS answers AccessDenied
                raise AccessDenied(f"{denied()} (no such role in account {parts[4]})") from None
            tags = _session_tags(self._get_param("Tags"))
            for action, actions in (("sts:AssumeRole", ACTIONS), ("sts:TagSession", TAG_SESSION)):
                if action == "sts:TagSession" and not tags:
                    continue
                try:
                    check_trust(role, account=account, caller_arn=caller, external_id=self._get_param("ExternalId"),
                                actions=actions)
                except TrustRefused as refused:
                    raise AccessDenied(f"{denied(action)} ({refused})") from None
            answer = original(self)
            if tags:
                sessions.record(str(answer.result["Credentials"].access_key_id), tags)
            return answer

        return assume_role

    wrap(TokenResponse, "assume_role", make)
