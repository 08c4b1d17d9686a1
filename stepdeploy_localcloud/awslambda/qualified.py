"""What Lambda keeps per qualifier: each alias (or version) of a function has its own resource policy
and, for an alias, its own function URL (``policies.py``, ``function_urls.py``).

moto 5.2.5 keeps one policy and one URL per function object and resolves an alias to the version
object it points at, so that what was granted on an alias showed on the function and on every other
qualifier of that version. Here the unqualified function keeps moto's own attributes (``policy``,
``url_config``) and whatever belongs to a qualifier is kept on the function's ``$LATEST`` object, by
qualifier name, in a ``Qualified`` record; it goes with the function, and with the alias or version
when that is deleted (the wraps of ``delete_alias`` and ``delete_function`` below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stepdeploy_localcloud.patching import wrap

_ATTRIBUTE = "stepdeploy_qualified"
_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]+:\d{12}:function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")


@dataclass
class Qualified:
    """A function's per-qualifier resources: policies by alias or version, URL configs by alias."""

    policies: dict[str, Any] = field(default_factory=dict)
    url_configs: dict[str, Any] = field(default_factory=dict)


def split_name(name_or_arn: str, qualifier: str | None) -> tuple[str, str | None]:
    """``name``, ``name:qualifier``, an ARN (qualified or not) and an explicit qualifier to (name, qualifier).

    A qualifier in the name wins over the argument, as in moto; ``$LATEST`` means the function itself.
    """
    text = str(name_or_arn)
    match = _ARN.match(text)
    if match:
        name, in_name = match["name"], match["qualifier"]
    else:
        name, _, rest = text.partition(":")
        in_name = rest or None
    chosen = in_name or qualifier
    return name, None if chosen in (None, "", "$LATEST") else chosen


def latest(backend: Any, name: str) -> Any:
    """The function's ``$LATEST`` object; moto's ResourceNotFoundException naming it if there is none."""
    return backend._lambdas.get_function_by_name_forbid_qualifier(name)


def is_alias(backend: Any, name: str, qualifier: str) -> bool:
    return qualifier in backend._lambdas._get_function_aliases(name)


def require_qualifier(backend: Any, name: str, qualifier: str) -> None:
    """An alias or a published version of the function, else ResourceNotFoundException naming the ARN."""
    if is_alias(backend, name, qualifier) or backend._lambdas._get_version(name, qualifier) is not None:
        return
    raise backend._lambdas.construct_unknown_function_exception(name, qualifier)


def of(function: Any) -> Qualified:
    """The per-qualifier record of a function (its ``$LATEST`` object), created on first use."""
    record = vars(function).get(_ATTRIBUTE)
    if record is None:
        record = Qualified()
        setattr(function, _ATTRIBUTE, record)
    return record


def _forget(backend: Any, function_name: str, qualifier: str) -> None:
    name, _ = split_name(function_name, None)
    try:
        record = of(latest(backend, name))
    except Exception:  # noqa: BLE001 - the function itself is gone, and its record with it
        return
    record.policies.pop(qualifier, None)
    record.url_configs.pop(qualifier, None)


def _delete_alias(original: Any) -> Any:
    def delete_alias(self: Any, name: str, function_name: str) -> None:
        original(self, name, function_name)
        _forget(self, function_name, name)

    return delete_alias


def _delete_function(original: Any) -> Any:
    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> None:
        _, qualifier_in_name = split_name(function_name, qualifier)
        original(self, function_name, qualifier)
        if qualifier_in_name is not None:
            _forget(self, function_name, qualifier_in_name)

    return delete_function


def apply() -> None:
    from moto.awslambda.models import LambdaBackend

    wrap(LambdaBackend, "delete_alias", _delete_alias)
    wrap(LambdaBackend, "delete_function", _delete_function)
