"""Adapter: an event source mapping invokes the function *as named*, so one on an alias stays on it.

moto 5.2.5 resolves an ESM's FunctionName once, at CreateEventSourceMapping/Update, to the function
object the alias points at then, and stores that version's ARN: every later batch runs that version,
whatever the alias's version and routing weights become. On AWS the mapping keeps the alias ARN
and each batch is an invocation of the alias. Here the mapping keeps the qualified ARN it was given
(``...:function:name:live``; an unqualified name stays unqualified), so the delivery path
(``LambdaBackend._send_sqs_message`` -> ``invoke`` -> ``lambda_runtime.invoke``) resolves the alias,
and its weights, per batch. GetEventSourceMapping then shows the alias ARN, as AWS does.

Delivery itself stays moto's: a message sent to an SQS queue with an enabled mapping is handed to
the function synchronously within SendMessage, one record per invocation; a failed batch becomes
visible again (the queue's redrive policy applies on the next receive).
"""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.patching import wrap


def _qualified_arn(backend: Any, function_name: str, resolved_arn: str) -> str:
    """The ARN the caller named, with its qualifier (alias or version) if it had one."""
    name_or_arn = str(function_name)
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        base = ":".join(parts[:7])
        qualifier = parts[7] if len(parts) > 7 else None
    else:
        name, _, qualifier_text = name_or_arn.partition(":")
        base = f"arn:aws:lambda:{backend.region_name}:{backend.account_id}:function:{name}"
        qualifier = qualifier_text or None
    if qualifier is None or qualifier == "$LATEST":
        return resolved_arn.rsplit(":$LATEST", 1)[0] if resolved_arn.endswith(":$LATEST") else base
    return f"{base}:{qualifier}"


def _rekey(esm: Any, old: str, new: str) -> None:
    """Queues and tables index their mappings by function ARN."""
    for service in ("sqs", "dynamodb"):
        backend = backends.backend(service, esm.account_id, esm.region)
        holders = list(getattr(backend, "queues", {}).values()) + list(getattr(backend, "tables", {}).values())
        for holder in holders:
            mappings = getattr(holder, "lambda_event_source_mappings", None)
            if isinstance(mappings, dict) and mappings.get(old) is esm:
                del mappings[old]
                mappings[new] = esm


def _keep_name(esm: Any, backend: Any, function_name: str) -> Any:
    old = esm.function_arn
    new = _qualified_arn(backend, function_name, old)
    if new != old:
        esm.function_arn = new
        _rekey(esm, old, new)
    return esm


def _create(original: Any) -> Any:
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        function_name = spec.get("FunctionName", "")
        return _keep_name(original(self, spec), self, function_name)

    return create_event_source_mapping


def _update(original: Any) -> Any:
    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        esm = original(self, uuid, spec)
        if esm is not None and "FunctionName" in spec:
            _keep_name(esm, self, spec["FunctionName"])
        return esm

    return update_event_source_mapping


def apply() -> None:
    from moto.awslambda.models import LambdaBackend

    wrap(LambdaBackend, "create_event_source_mapping", _create)
    wrap(LambdaBackend, "update_event_source_mapping", _update)
