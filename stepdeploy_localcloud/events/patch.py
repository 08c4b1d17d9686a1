"""EventBridge adapter: rules really deliver to their targets, with AWS's target input.

moto 5.2.5 raises NotImplementedError from ``Rule.send_to_targets`` for Step Functions, Lambda
and SNS targets (and swallows it for S3 events), ignores ``Input``/``InputPath``, matches
disabled and schedule-only rules, accepts a ``Detail`` that is JSON but not an object, sends S3
"Object Created" events with the wrong shape to every bus, and sends no event for a delete
marker. This adapter replaces:

- ``moto.events.models.Rule.send_to_targets``: pattern check, then per target the AWS input
  (whole event / Input / InputPath / InputTransformer) delivered to Step Functions
  (StartExecution on the backend the config selects, UUID name), Lambda (async invoke through
  ``stepdeploy_localcloud.awslambda.runtime``), SQS and SNS; other target kinds go to moto's
  own code. A failed delivery is logged with rule and target named, recorded (see
  ``recent_delivery_failures``) and sent to the target's dead-letter queue if it has one.
- ``moto.events.models.EventsBackend.put_events``: MalformedDetail for a non-object Detail.
- ``moto.events.models.EventPattern``: arrays of objects match like AWS (flattened), and
  ``numeric`` never matches a boolean.
- ``moto.s3.notifications._send_event_bridge_message``: AWS's S3 event shape, default bus
  only; ``S3Backend._set_delete_marker`` also emits "Object Deleted".
- ``moto.events.notifications._start_sfn_execution`` / ``_invoke_lambda`` (moto's CloudTrail
  style S3 CreateBucket events): the same delivery as above.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import importlib
import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.patching import replace, wrap

log = logging.getLogger(__name__)

# The envelope fields of an event, in the order AWS writes them.
EVENT_FIELDS = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
    "replay-name",
)

_originals: dict[str, Any] = {}


# --------------------------------------------------------------------------- delivery failures


@dataclass(frozen=True)
class DeliveryFailure:
    rule_arn: str
    target_id: str
    target_arn: str
    event_id: str
    error: str


_failures: deque[DeliveryFailure] = deque(maxlen=200)
_failures_lock = threading.Lock()


def recent_delivery_failures() -> list[DeliveryFailure]:
    """Target deliveries that failed since the process started (newest last, at most 200)."""
    with _failures_lock:
        return list(_failures)


# --------------------------------------------------------------------------- event shape


def _iso_time(value: Any) -> str:
    """An event time as AWS writes it: 2021-11-12T00:00:00Z."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        except ValueError:
            return value
    else:
        moment = dt.datetime.now(tz=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target (moto's internal fields dropped)."""
    shaped: dict[str, Any] = {}
    for field in EVENT_FIELDS:
        if field in event:
            shaped[field] = copy.deepcopy(event[field])
    shaped.setdefault("version", "0")
    shaped["time"] = _iso_time(event.get("time"))
    return shaped


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- JSONPath subset

_MISSING = object()
_PATH_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)|\[(?P<index>-?\d+)\]|\[(?P<star>\*)\]|\[['"](?P<quoted>[^'"]+)['"]\]"""
)


def json_path(document: Any, path: str) -> Any:
    """Evaluate the JSONPath subset EventBridge supports ($, dots, dashes, [n], *).

    Returns ``_MISSING`` when nothing matches; a wildcard yields a list of every match.
    """
    path = path.strip()
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$'")
    tokens = []
    position = 1
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"JSON path {path!r} is not supported at {path[position:]!r}")
        tokens.append(match)
        position = match.end()

    current: list[Any] = [document]
    wildcard = False
    for token in tokens:
        selected: list[Any] = []
        name = token.group("name") or token.group("quoted")
        for node in current:
            if token.group("star") or name == "*":
                wildcard = True
                if isinstance(node, dict):
                    selected.extend(node.values())
                elif isinstance(node, list):
                    selected.extend(node)
            elif name is not None:
                if isinstance(node, dict) and name in node:
                    selected.append(node[name])
            else:
                index = int(token.group("index"))
                if isinstance(node, list) and -len(node) <= index < len(node):
                    selected.append(node[index])
        current = selected
    if wildcard:
        return current if current else _MISSING
    return current[0] if current else _MISSING


# --------------------------------------------------------------------------- target input

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _reserved_variables(event: Mapping[str, Any], rule_name: str, rule_arn: str, ingestion_time: Any) -> dict[str, Any]:
    without_detail = {k: v for k, v in event.items() if k != "detail"}
    return {
        "aws.events.rule-name": rule_name,
        "aws.events.rule-arn": rule_arn,
        "aws.events.event.ingestion-time": _iso_time(ingestion_time),
        "aws.events.event": without_detail,
        "aws.events.event.json": dict(event),
    }


def render_input_template(
    template: str,
    paths_map: Mapping[str, str],
    event: Mapping[str, Any],
    *,
    rule_name: str,
    rule_arn: str,
    ingestion_time: Any = None,
) -> str:
    """Fill an InputTemplate the way EventBridge does.

    A template that starts with ``{`` or ``[`` is a JSON template: a placeholder used as a JSON
    value becomes the JSON of its value (a string is quoted), one inside a JSON string becomes
    the bare text of its value. Any other template is text: every placeholder becomes the bare
    text of its value. A variable whose path matches nothing becomes ``null`` as a JSON value
    and nothing inside a string. A JSON result is passed on minified.
    """
    variables: dict[str, Any] = {}
    for name, path in paths_map.items():
        value = json_path(event, path)
        if value is not _MISSING:
            variables[name] = value
    variables.update(_reserved_variables(event, rule_name, rule_arn, ingestion_time))
    declared = set(paths_map) | set(variables)

    json_template = template.lstrip().startswith(("{", "["))
    out: list[str] = []
    in_string = False
    escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        if json_template and in_string and escaped:
            escaped = False
        elif json_template and in_string and char == "\\":
            escaped = True
        elif json_template and char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match is not None and match.group(1) in declared:
                out.append(_substitute(variables.get(match.group(1), _MISSING), json_template, in_string))
                position = match.end()
                continue
        out.append(char)
        position += 1

    rendered = "".join(out)
    if json_template:
        try:
            return _compact(json.loads(rendered))
        except ValueError:
            return rendered
    return rendered


def _substitute(value: Any, json_template: bool, in_string: bool) -> str:
    if json_template and not in_string:
        return "null" if value is _MISSING else _compact(value)
    if value is _MISSING:
        return ""
    text = value if isinstance(value, str) else _compact(value)
    if json_template:
        # Inside a JSON string: escape so the result stays valid JSON (AWS leaves quotes in a
        # value unescaped, which breaks the target's input; nobody relies on that).
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return text


def target_input(
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_name: str,
    rule_arn: str,
    ingestion_time: Any = None,
) -> str:
    """The text EventBridge sends to ``target`` for ``event`` (already in AWS shape)."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        selected = json_path(event, target["InputPath"])
        return "null" if selected is _MISSING else _compact(selected)
    transformer = target.get("InputTransformer")
    if transformer and transformer.get("InputTemplate") is not None:
        return render_input_template(
            transformer["InputTemplate"],
            transformer.get("InputPathsMap") or {},
            event,
            rule_name=rule_name,
            rule_arn=rule_arn,
            ingestion_time=ingestion_time,
        )
    return _compact(event)


# --------------------------------------------------------------------------- target kinds


@dataclass(frozen=True)
class _Arn:
    service: str
    region: str
    account: str
    resource: str


def _parse_arn(arn: str) -> _Arn:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"target ARN {arn!r} is not an ARN (expected arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)")
    return _Arn(service=parts[2], region=parts[3], account=parts[4], resource=parts[5])


def start_state_machine(state_machine_arn: str, execution_input: str) -> str:
    """StartExecution as EventBridge does it (no name given: AWS generates a UUID)."""
    arn = _parse_arn(state_machine_arn)
    backend = backends.backend("stepfunctions", arn.account, arn.region)
    execution = backend.start_execution(
        state_machine_arn=state_machine_arn, name=str(uuid.uuid4()), execution_input=execution_input
    )
    return str(execution.execution_arn)


def invoke_lambda_async(function_arn: str, payload: bytes) -> None:
    """Invoke a function (ARN, maybe qualified) with InvocationType=Event, as EventBridge does."""
    arn = _parse_arn(function_arn)
    # function:NAME or function:NAME:QUALIFIER
    parts = arn.resource.split(":")
    if len(parts) < 2 or parts[0] != "function":
        raise ValueError(f"Lambda target ARN {function_arn!r} does not name a function")
    runtime = _lambda_runtime()
    if runtime is not None:
        runtime.invoke(function_arn, payload, None, account_id=arn.account, region=arn.region, invocation_type="Event")
        return
    qualifier = parts[2] if len(parts) > 2 else None
    backends.backend("lambda", arn.account, arn.region).invoke(
        function_name=function_arn if qualifier is None else function_arn.rsplit(":", 1)[0],
        qualifier=qualifier,
        body=payload.decode("utf-8"),
        headers={"x-amz-invocation-type": "Event"},
        response_headers={},
    )


def _lambda_runtime() -> Any | None:
    try:
        return importlib.import_module("stepdeploy_localcloud.awslambda.runtime")
    except ModuleNotFoundError as error:
        if error.name != "stepdeploy_localcloud.awslambda.runtime":
            raise
        return None


def send_to_queue(
    queue_arn: str,
    body: str,
    *,
    group_id: str | None = None,
    message_attributes: dict[str, Any] | None = None,
) -> None:
    arn = _parse_arn(queue_arn)
    backend = backends.backend("sqs", arn.account, arn.region)
    if arn.resource.endswith(".fifo"):
        attributes = backend.get_queue_attributes(arn.resource, ["ContentBasedDeduplication"])
        if attributes.get("ContentBasedDeduplication") != "true":
            raise ValueError(
                f"FIFO queue {arn.resource} needs ContentBasedDeduplication=true to receive EventBridge events"
            )
    backend.send_message(
        queue_name=arn.resource,
        message_body=body,
        message_attributes=message_attributes,
        group_id=group_id,
    )


def bus_allows(bus: Any, account: str) -> bool:
    """Whether the bus's resource policy lets ``account`` put events on it (its own account always may)."""
    if account == bus.account_id:
        return True
    for statement in list(getattr(bus, "_statements", {}).values()):
        actions = statement.action if isinstance(statement.action, list) else [statement.action]
        if statement.effect != "Allow" or not {"events:PutEvents", "events:*", "*"} & set(actions):
            continue
        principal = statement.principal
        if principal == "*" and not statement.condition:
            return True
        entries = principal.get("AWS", []) if isinstance(principal, dict) else []
        for entry in entries if isinstance(entries, list) else [entries]:
            if str(entry) in ("*", account) or str(entry).endswith(f":iam::{account}:root"):
                return True
    return False


def put_on_another_bus(bus_arn: str, event: Mapping[str, Any], *, source_account: str) -> None:
    """An event bus target: the event as it is (its account, region, resources and id kept), through
    the rules of that bus, which may be another account's; that bus's policy must allow the rule's account."""
    arn = _parse_arn(bus_arn)
    name = arn.resource.split("/", 1)[1]
    bus = backends.backend("events", arn.account, arn.region).event_buses.get(name)
    if bus is None:
        raise ValueError(f"event bus {bus_arn} does not exist")
    if source_account and not bus_allows(bus, source_account):
        raise PermissionError(
            f"the resource policy of event bus {bus_arn} does not allow account {source_account} to put "
            "events (events:PutEvents)"
        )
    put_event_on_bus(event, account_id=arn.account, region=arn.region, bus_name=name)


def publish_to_topic(topic_arn: str, body: str, *, group_id: str | None = None) -> None:
    arn = _parse_arn(topic_arn)
    backends.backend("sns", arn.account, arn.region).publish(message=body, arn=topic_arn, group_id=group_id)


def _deliver(
    rule: Any, target: Mapping[str, Any], event: dict[str, Any], ingestion_time: Any, transform_input: bool
) -> None:
    arn = _parse_arn(target["Arn"])
    rule_arn = str(rule.arn)
    if arn.service in ("states", "lambda", "sqs", "sns"):
        body = target_input(target, event, rule_name=rule.name, rule_arn=rule_arn, ingestion_time=ingestion_time)
        if arn.service == "states":
            execution_arn = start_state_machine(target["Arn"], body)
            log.debug("rule %s started %s for event %s", rule_arn, execution_arn, event.get("id"))
        elif arn.service == "lambda":
            invoke_lambda_async(target["Arn"], body.encode("utf-8"))
        elif arn.service == "sqs":
            group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
            send_to_queue(target["Arn"], body, group_id=group_id)
        else:
            publish_to_topic(target["Arn"], body)
        return
    if arn.service == "events" and arn.resource.startswith("event-bus/"):
        put_on_another_bus(target["Arn"], event, source_account=str(getattr(rule, "account_id", "")))
        return
    if arn.service not in ("logs", "events"):
        raise NotImplementedError(
            f"the local cloud does not deliver EventBridge events to {arn.service} targets (it delivers to "
            "Step Functions, Lambda, SQS, SNS, CloudWatch Logs, event buses, archives and API destinations)"
        )
    # Log groups, archives, other buses, API destinations: moto's own delivery, one target.
    single = copy.copy(rule)
    single.targets = [dict(target)]
    _originals["send_to_targets"](single, _moto_event(event, ingestion_time), transform_input)


def _moto_event(event: Mapping[str, Any], ingestion_time: Any) -> dict[str, Any]:
    """Back to the shape moto's own target code expects (epoch seconds for time)."""
    internal = dict(copy.deepcopy(event))
    try:
        parsed = dt.datetime.strptime(str(event.get("time")), "%Y-%m-%dT%H:%M:%SZ")
        internal["time"] = parsed.replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        internal["time"] = time.time()
    internal["ingestion-time"] = ingestion_time if ingestion_time is not None else time.time()
    return internal


def _record_failure(rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], error: BaseException) -> None:
    rule_arn = str(rule.arn)
    failure = DeliveryFailure(
        rule_arn=rule_arn,
        target_id=str(target.get("Id")),
        target_arn=str(target.get("Arn")),
        event_id=str(event.get("id")),
        error=f"{type(error).__name__}: {error}",
    )
    with _failures_lock:
        _failures.append(failure)
    dead_letter_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    log.warning(
        "EventBridge rule %s could not deliver event %s to target %s (%s): %s%s",
        rule_arn,
        failure.event_id,
        failure.target_id,
        failure.target_arn,
        failure.error,
        f"; sent to dead-letter queue {dead_letter_arn}" if dead_letter_arn else "; dropped (no dead-letter queue)",
    )
    if not dead_letter_arn:
        return
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": failure.target_arn,
        "ERROR_CODE": type(error).__name__,
        "ERROR_MESSAGE": str(error)[:1024],
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "0",
    }
    try:
        send_to_queue(
            dead_letter_arn,
            _compact(event),
            message_attributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
    except Exception as dlq_error:  # noqa: BLE001 - a broken DLQ must not break the caller either
        log.warning(
            "EventBridge rule %s could not send event %s to dead-letter queue %s of target %s: %s",
            rule_arn,
            failure.event_id,
            dead_letter_arn,
            failure.target_id,
            dlq_error,
        )


def _rule_accepts_events(rule: Any) -> bool:
    if str(getattr(rule, "state", "ENABLED")).upper() == "DISABLED":
        return False
    # A schedule rule without a pattern runs on its schedule; it matches no event.
    return not (getattr(rule, "scheduled_expression", None) and not rule.event_pattern.get_pattern())


def send_to_targets(rule: Any, original_event: Mapping[str, Any], transform_input: bool = True) -> None:
    """Replacement for ``moto.events.models.Rule.send_to_targets``."""
    if not _rule_accepts_events(rule) or not rule.event_pattern.matches_event(original_event):
        return
    event = aws_event(original_event)
    ingestion_time = original_event.get("ingestion-time", time.time())
    for target in list(rule.targets):
        try:
            _deliver(rule, target, event, ingestion_time, transform_input)
        except Exception as error:  # noqa: BLE001 - delivery is asynchronous in AWS: never fail the caller
            _record_failure(rule, target, event, error)


def put_event_on_bus(event: Mapping[str, Any], *, account_id: str, region: str, bus_name: str = "default") -> None:
    """Route an AWS-shaped event, emitted by a service, through the rules of one bus."""
    backend = backends.backend("events", account_id, region)
    bus = backend.event_buses.get(bus_name)
    if bus is None:
        return
    internal = dict(event)
    internal.setdefault("ingestion-time", time.time())
    for rule in list(bus.rules.values()):
        rule.send_to_targets(internal)


# --------------------------------------------------------------------------- PutEvents


def _malformed_detail(entry: Mapping[str, Any]) -> dict[str, str] | None:
    """AWS answers MalformedDetail for a Detail that is JSON but not an object."""
    if not entry.get("Source") or not entry.get("DetailType") or not entry.get("Detail"):
        return None  # moto reports these itself
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return None  # moto reports MalformedDetail itself
    if isinstance(detail, dict):
        return None
    return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


def put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replacement for ``EventsBackend.put_events``: the per-entry checks AWS makes."""
    original = _originals["put_events"]
    if len(events) > 10:
        return original(backend, events)  # moto raises AWS's ValidationException
    results: list[dict[str, Any] | None] = [None] * len(events)
    accepted: list[int] = []
    for index, entry in enumerate(events):
        error = _malformed_detail(entry)
        if error is None:
            accepted.append(index)
        else:
            results[index] = error
    if accepted:
        for index, result in zip(accepted, original(backend, [events[i] for i in accepted]), strict=True):
            results[index] = result
    return [result for result in results if result is not None]


# --------------------------------------------------------------------------- event patterns


def _flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
    """moto's flattening, extended to arrays of objects: their leaves collect into lists."""
    if result is None:
        result = {}
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                _flatten(value, path, result)
            elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
                for item in value:
                    if isinstance(item, dict):
                        nested: dict[str, Any] = {}
                        _flatten(item, path, nested)
                        for leaf, leaf_value in nested.items():
                            _append(result, leaf, leaf_value)
                    else:
                        _append(result, path, item)
            else:
                result[path] = value
    return result


def _append(result: dict[str, Any], key: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    existing = result.get(key)
    if existing is None and key not in result:
        result[key] = list(values)
    elif isinstance(existing, list):
        existing.extend(values)
    else:
        result[key] = [existing, *values]


def _numeric_ignores_booleans(original: Callable[[Any, dict[str, Any]], bool]) -> Callable[[Any, dict[str, Any]], bool]:
    def match(item: Any, pattern: dict[str, Any]) -> bool:
        if "numeric" in pattern:
            if isinstance(item, bool):
                return False
            if isinstance(item, list):
                item = [value for value in item if not isinstance(value, bool)]
                if not item:
                    return False
        return original(item, pattern)

    return match


# --------------------------------------------------------------------------- S3 events

_sequence = itertools.count(1)
_sequence_lock = threading.Lock()
_EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"

_CREATED_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}


def _sequencer() -> str:
    """Increasing hex sequencer, like S3's (compare as strings of equal length)."""
    with _sequence_lock:
        count = next(_sequence)
    return f"{(time.time_ns() // 1_000_000) << 16 | (count & 0xFFFF):018X}"


def _request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def _event_name(event_name: Any) -> str:
    """s3:ObjectCreated:Put from moto's S3NotificationEvent (a str Enum) or a plain string."""
    return str(getattr(event_name, "value", event_name))


def s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any] | None:
    """The EventBridge event S3 sends for ``event_name`` on ``key`` (None if S3 sends none)."""
    from moto.s3 import notifications

    event_name = _event_name(event_name)
    try:
        detail_type = notifications._detail_type(event_name)
    except ValueError:
        return None

    is_delete_marker = type(key).__name__ == "FakeDeleteMarker"
    obj: dict[str, Any] = {"key": key.name}  # EventBridge keys are not URL-encoded
    if detail_type != "Object Deleted":
        obj["size"] = key.size
    obj["etag"] = _EMPTY_MD5 if is_delete_marker else str(key.etag).strip('"')
    version_id = getattr(key, "version_id", None)
    if bucket.is_versioned and version_id not in (None, "null"):
        obj["version-id"] = str(version_id)
    obj["sequencer"] = _sequencer()

    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": _request_id(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
    }
    if detail_type == "Object Created":
        detail["reason"] = _CREATED_REASONS.get(event_name, "PutObject")
    elif detail_type == "Object Deleted":
        detail["reason"] = "DeleteObject"
        detail["deletion-type"] = "Delete Marker Created" if is_delete_marker else "Permanently Deleted"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": account_id,
        "time": _iso_time(time.time()),
        "region": bucket.region_name,
        "resources": [f"arn:aws:s3:::{bucket.name}"],
        "detail": detail,
    }


def _marking(flag: threading.local, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` with ``flag.active`` true while it runs in this thread."""

    @functools.wraps(original)
    def marked(*args: Any, **kwargs: Any) -> Any:
        flag.active = True
        try:
            return original(*args, **kwargs)
        finally:
            flag.active = False

    return marked


_tagging_request = threading.local()


def _marks_tagging_request(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap S3Response.put_object_tagging: only that API call adds tags in S3's sense.

    moto's backend also "puts" (empty) tags on every PutObject and CompleteMultipartUpload,
    which would otherwise send an "Object Tags Added" event S3 never sends.
    """
    return _marking(_tagging_request, original)


_completing_multipart = threading.local()


def _complete_multipart_marked(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap S3Backend.complete_multipart_upload: its inner put_object must not notify.

    moto stores the assembled object with put_object, which sends an ObjectCreated:Put
    notification before the CompleteMultipartUpload one; S3 sends only the latter.
    """
    return _marking(_completing_multipart, original)


def _put_object_quiet_in_multipart(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_object(backend: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_completing_multipart, "active", False):
            kwargs["disable_notification"] = True
        return original(backend, *args, **kwargs)

    return put_object


def send_s3_event_to_eventbridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    """Replacement for ``moto.s3.notifications._send_event_bridge_message``."""
    if _event_name(event_name).endswith("ObjectTagging:Put") and not getattr(_tagging_request, "active", False):
        return
    try:
        event = s3_event(account_id, bucket, event_name, key)
        if event is not None:
            put_event_on_bus(event, account_id=account_id, region=bucket.region_name)
    except Exception:  # noqa: BLE001 - S3 must never fail because a notification could not go out
        log.exception(
            "S3 bucket %s could not send its %s event to EventBridge", getattr(bucket, "name", "?"), event_name
        )


def _set_delete_marker_and_notify(original: Callable[..., Any]) -> Callable[..., Any]:
    def set_delete_marker(backend: Any, bucket_name: str, key_name: str) -> Any:
        from moto.s3 import notifications

        marker = original(backend, bucket_name, key_name)
        notifications.send_event(
            backend.account_id,
            notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            backend.get_bucket(bucket_name),
            marker,
        )
        return marker

    return set_delete_marker


# --------------------------------------------------------------------------- moto's CloudTrail-style events


def _start_sfn_for_cloudtrail_event(account_id: str, region: str, sfn_arn: str, event: Any) -> None:
    start_state_machine(sfn_arn, _compact(event))


def _invoke_lambda_for_cloudtrail_event(account_id: str, fn_arn: str, event: Any) -> None:
    invoke_lambda_async(fn_arn, _compact(event).encode("utf-8"))


# --------------------------------------------------------------------------- apply


def apply() -> None:
    """Install the adapter (idempotent)."""
    from moto.events import models as events_models
    from moto.events import notifications as events_notifications
    from moto.s3 import models as s3_models
    from moto.s3 import notifications as s3_notifications
    from moto.s3 import responses as s3_responses

    _originals["send_to_targets"] = replace(events_models.Rule, "send_to_targets", send_to_targets)
    _originals["put_events"] = replace(events_models.EventsBackend, "put_events", put_events)
    replace(events_models.EventPattern, "_flatten_dict", staticmethod(_flatten))
    wrap(
        events_models.EventPattern,
        "_does_item_match_named_filter",
        lambda original: staticmethod(_numeric_ignores_booleans(original)),
    )
    replace(s3_notifications, "_send_event_bridge_message", send_s3_event_to_eventbridge)
    wrap(s3_models.S3Backend, "_set_delete_marker", _set_delete_marker_and_notify)
    wrap(s3_models.S3Backend, "complete_multipart_upload", _complete_multipart_marked)
    wrap(s3_models.S3Backend, "put_object", _put_object_quiet_in_multipart)
    wrap(s3_responses.S3Response, "put_object_tagging", _marks_tagging_request)
    replace(events_notifications, "_start_sfn_execution", _start_sfn_for_cloudtrail_event)
    replace(events_notifications, "_invoke_lambda", _invoke_lambda_for_cloudtrail_event)


__all__ = [
    "DeliveryFailure",
    "apply",
    "aws_event",
    "json_path",
    "put_event_on_bus",
    "recent_delivery_failures",
    "render_input_template",
    "s3_event",
    "target_input",
]
