"""A bucket policy evaluated for one request, as S3 evaluates it: who asks, for what, on which key.

moto's evaluator has no caller, no ``NotResource``, no policy variables and no operator but
``StringEquals``; a ``NotResource`` Deny even counts as an Allow there. This one is pure (no moto):

- ``Principal`` (``*``, ``{"AWS": ...}`` naming an account, ``arn:...:root``, a role, a user or an
  assumed-role session; a ``Service`` principal never matches a caller) and ``NotPrincipal``;
- ``Action``/``NotAction`` (wildcards, case-insensitive), ``Resource``/``NotResource`` (wildcards);
- policy variables ``${aws:PrincipalTag/K}``, ``${aws:PrincipalArn}``... in resources and condition
  values, with a default (``${key, 'value'}``) and the escapes ``${*}``, ``${?}``, ``${$}``. A
  variable's value counts literally (a ``*`` in a tag is no wildcard); a variable without a value
  matches nothing, so a ``Resource`` with it names no key and a ``NotResource`` with it excludes none;
- conditions: ``StringEquals``/``NotEquals``/``EqualsIgnoreCase``/``NotEqualsIgnoreCase``,
  ``StringLike``/``NotLike``, ``ArnEquals``/``ArnLike``/``ArnNotEquals``/``ArnNotLike``, ``Bool`` and
  ``Null``, each with ``...IfExists``. A key the request lacks fails a positive operator and satisfies
  a negated one, as on AWS. Any other operator is not evaluated: a Deny with it applies (named in
  the refusal), an Allow with it does not.

An explicit Deny wins over any Allow; with neither the answer is NEUTRAL (the caller's own IAM
policies decide, which the local cloud does not enforce).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Decision(Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Caller:
    """Who signed the request. ``arn``: ``arn:aws:iam::<account>:root``, a user's or a role's ARN
    (for an assumed-role session, its role's); ``tags``: ``aws:PrincipalTag`` (a session's tags over
    its role's, or a user's tags)."""

    arn: str
    account: str
    tags: Mapping[str, str] = field(default_factory=dict)
    session_arn: str | None = None  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    anonymous: bool = False

    def context(self) -> dict[str, str]:
        """The request context keys a bucket policy can read (names lower-cased: they are case-insensitive)."""
        keys = {"aws:securetransport": "true"}  # the loopback endpoint stands in for AWS's HTTPS endpoints
        if not self.anonymous:
            keys.update({"aws:principalarn": self.arn, "aws:principalaccount": self.account})
            for key, value in self.tags.items():
                keys[f"aws:principaltag/{key.lower()}"] = value
        return keys


ANONYMOUS = Caller(arn="*", account="", anonymous=True)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    statement: str = ""  # the Sid (or position) of the statement that decided
    note: str = ""  # what the local cloud could not evaluate in it, if anything

    def message(self, caller: Caller, action: str, resource: str) -> str:
        """AWS's wording of a refusal."""
        who = "anonymous" if caller.anonymous else (caller.session_arn or caller.arn)
        how = "with an explicit deny in a resource-based policy" if self.decision is Decision.DENIED else (
            "because no resource-based policy allows the action")
        text = f"User: {who} is not authorized to perform: {action} on resource: \"{resource}\" {how}"
        if self.statement:
            text += f" (statement {self.statement})"
        return text + (f"; {self.note}" if self.note else "")


class PolicyError(ValueError):
    """The bucket policy is not a policy document (names what is wrong)."""


class _NotEvaluated(Exception):
    """A condition operator the local cloud does not evaluate."""


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = frozenset("*?$")  # ${*}, ${?}, ${$}: the character itself


def evaluate(policy: Mapping[str, Any] | str | bytes, action: str, resource: str, caller: Caller) -> Verdict:
    """What ``policy`` says about ``caller`` doing ``action`` on ``resource`` (an ARN)."""
    document = _document(policy)
    context = caller.context()
    allowed: Verdict | None = None
    for index, statement in enumerate(_listed(document.get("Statement", []))):
        if not isinstance(statement, dict):
            raise PolicyError(f"statement {index} is not an object")
        name = str(statement.get("Sid") or index)
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"statement {name}: Effect must be Allow or Deny, not {effect!r}")
        if not (_principal_matches(statement, caller) and _action_matches(statement, action)
                and _resource_matches(statement, resource, context)):
            continue
        try:
            holds = _conditions_hold(statement.get("Condition") or {}, context)
        except _NotEvaluated as unknown:
            if effect == "Deny":  # fail closed: the local cloud does not let through what AWS might refuse
                return Verdict(Decision.DENIED, name, f"{unknown} is not evaluated by the local cloud")
            continue
        if not holds:
            continue
        if effect == "Deny":
            return Verdict(Decision.DENIED, name)
        allowed = allowed or Verdict(Decision.ALLOWED, name)
    return allowed or Verdict(Decision.NEUTRAL)


def _document(policy: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(policy, (str, bytes)):
        try:
            loaded = json.loads(policy)
        except ValueError as exc:
            raise PolicyError(f"the policy is not JSON: {exc}") from None
    else:
        loaded = policy
    if not isinstance(loaded, Mapping):
        raise PolicyError("the policy is not a JSON object with a Statement")
    return loaded


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(statement: Mapping[str, Any], caller: Caller) -> bool:
    if "NotPrincipal" in statement:
        return not _names(statement["NotPrincipal"], caller)
    return "Principal" in statement and _names(statement["Principal"], caller)


def _names(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for entry in (str(e) for e in _listed(principal.get("AWS", []))):
        if entry == "*":
            return True
        if caller.anonymous:
            continue
        if entry in (caller.account, f"arn:aws:iam::{caller.account}:root", caller.arn, caller.session_arn):
            return True
    return False  # Service, Federated, CanonicalUser: not the caller of a signed request here


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    def any_matches(patterns: Any) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _listed(patterns))

    if "NotAction" in statement:
        return not any_matches(statement["NotAction"])
    return any_matches(statement.get("Action", []))


def _resource_matches(statement: Mapping[str, Any], resource: str, context: Mapping[str, str]) -> bool:
    def any_matches(patterns: Any) -> bool:
        return any(_wildcard_match(str(p), resource, context) for p in _listed(patterns))

    if "NotResource" in statement:
        return not any_matches(statement["NotResource"])
    return any_matches(statement.get("Resource", []))


def _substituted(pattern: str, context: Mapping[str, str], *, glob: bool) -> str | None:
    """``pattern`` with its variables replaced; None when a variable has no value (and no default).

    As a glob (``glob=True``) only ``*`` and ``?`` of the policy's own text are wildcards: a ``[`` of
    the text and every character of a variable's value count literally."""
    escape = _escape if glob else (lambda text: text)
    out: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(pattern):
        out.append(pattern[position:found.start()].replace("[", "[[]") if glob else pattern[position:found.start()])
        position = found.end()
        inner = found.group(1).strip()
        if inner in _ESCAPES:
            out.append(escape(inner))
            continue
        name, _, default = inner.partition(",")
        value = context.get(name.strip().lower())
        if value is None:
            default = default.strip()
            if not (len(default) >= 2 and default[0] == default[-1] == "'"):
                return None
            value = default[1:-1]
        out.append(escape(value))
    rest = pattern[position:]
    out.append(rest.replace("[", "[[]") if glob else rest)
    return "".join(out)


def _escape(literal: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in literal)


def _wildcard_match(pattern: str, value: str, context: Mapping[str, str]) -> bool:
    glob = _substituted(pattern, context, glob=True)
    return glob is not None and fnmatch.fnmatchcase(value, glob)


def _arn_match(pattern: str, value: str, context: Mapping[str, str]) -> bool:
    """ArnLike: the six colon-separated parts compared one by one."""
    wanted, actual = pattern.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(_wildcard_match(part, got, context) for part, got in zip(wanted, actual, strict=True))


Matcher = Callable[[str, str, Mapping[str, str]], bool]


def _equals(pattern: str, value: str, context: Mapping[str, str]) -> bool:
    return _substituted(pattern, context, glob=False) == value


def _equals_ignore_case(pattern: str, value: str, context: Mapping[str, str]) -> bool:
    literal = _substituted(pattern, context, glob=False)
    return literal is not None and literal.lower() == value.lower()


def _bool(pattern: str, value: str, context: Mapping[str, str]) -> bool:
    return pattern.lower() == value.lower()


# operator -> (matcher, negated)
_OPERATORS: dict[str, tuple[Matcher, bool]] = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringEqualsIgnoreCase": (_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_equals_ignore_case, True),
    "StringLike": (_wildcard_match, False),
    "StringNotLike": (_wildcard_match, True),
    "ArnEquals": (_equals, False),
    "ArnNotEquals": (_equals, True),
    "ArnLike": (_arn_match, False),
    "ArnNotLike": (_arn_match, True),
    "Bool": (_bool, False),
}


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Every operator's every key holds (AND); a key holds when any of its values matches (OR).
    False as soon as one evaluated test fails; _NotEvaluated when the rest hold but one could not be
    evaluated."""
    unknown: list[str] = []
    for operator, tests in condition.items():
        if not isinstance(tests, Mapping):
            raise PolicyError(f"condition {operator} must map keys to values")
        for key, expected in tests.items():
            try:
                if not _holds(str(operator), str(key), [str(e) for e in _listed(expected)], context):
                    return False
            except _NotEvaluated as exc:
                unknown.append(str(exc))
    if unknown:
        raise _NotEvaluated(", ".join(unknown))
    return True


def _holds(operator: str, key: str, expected: list[str], context: Mapping[str, str]) -> bool:
    value = context.get(key.lower())
    if operator == "Null":
        return (value is None) == (expected[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if base not in _OPERATORS:
        raise _NotEvaluated(f"condition operator {operator}")
    matcher, negated = _OPERATORS[base]
    if value is None:
        return if_exists or negated
    matched = any(matcher(pattern, value, context) for pattern in expected)
    return not matched if negated else matched
