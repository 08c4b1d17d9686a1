"""Real traffic through an app's event sources on the local cloud, counted by the version that served it.

Each helper sends requests the way a user's clients would (HTTP through the local API Gateway,
messages to the SQS queue, a schedule firing) and counts what each version *answered or processed*:
the API's answer names the version that ran (``AWS_LAMBDA_FUNCTION_VERSION``); a queue consumer or a
scheduled function records its version next to the message id it processed, and the records are
read back. Nothing is inferred from the alias's weights.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepdeploy_localcloud.apigateway.invoke import PATH_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient

Split = Counter[str]


def api_url(cloud_url: str, api_id: str, path: str, stage: str | None = None) -> str:
    """``https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>`` on the local cloud."""
    middle = f"{api_id}/{stage}" if stage else api_id
    return f"{cloud_url.rstrip('/')}{PATH_PREFIX}{middle}/{path.lstrip('/')}"


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the local endpoint
        return json.loads(response.read())


def through_api(url: str, requests: int, field: str = "version") -> Split:
    """GET ``url`` ``requests`` times; count the versions the answers name."""
    return Counter(str(get_json(url)[field]) for _ in range(requests))


def processed(table: Table, keys: list[str], field: str = "version") -> Split:
    """The versions recorded for ``keys`` (items ``{pk, version}``) in a DynamoDB table resource."""
    split: Split = Counter()
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        found = table.meta.client.batch_get_item(
            RequestItems={table.name: {"Keys": [{"pk": k} for k in chunk], "ConsistentRead": True}}
        )["Responses"][table.name]
        split.update(str(item[field]) for item in found)
    return split


def through_queue(sqs: SQSClient, queue_url: str, table: Table, messages: int, kind: str = "sqs") -> Split:
    """Send ``messages`` to the queue; count the versions that processed them (records ``<kind>#<messageId>``)."""
    ids = [
        str(sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"order": str(uuid.uuid4())}))["MessageId"])
        for _ in range(messages)
    ]
    return processed(table, [f"{kind}#{i}" for i in ids])


def through_schedule(fire: Callable[[], Any], table: Table, ticks: int, kind: str, wait: float = 60.0) -> Split:
    """Fire a schedule ``ticks`` times; count the versions of the records ``<kind>#...`` that appeared
    (an asynchronous target is waited for, up to ``wait`` seconds)."""
    before = _keys(table, kind)
    for _ in range(ticks):
        fire()
    deadline = time.monotonic() + wait
    fresh = _keys(table, kind) - before
    while len(fresh) < ticks and time.monotonic() < deadline:
        time.sleep(0.1)
        fresh = _keys(table, kind) - before
    return processed(table, sorted(fresh))


def _keys(table: Table, kind: str) -> set[str]:
    items: set[str] = set()
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        items.update(str(i["pk"]) for i in page["Items"] if str(i["pk"]).startswith(f"{kind}#"))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def share(split: Split, version: str) -> float:
    total = sum(split.values())
    return split[version] / total if total else 0.0


def tolerance(weight: float, samples: int, sigmas: float = 5.0) -> float:
    """How far a measured share may be from ``weight`` by chance alone (``sigmas`` binomial deviations)."""
    return sigmas * math.sqrt(weight * (1 - weight) / max(samples, 1))
