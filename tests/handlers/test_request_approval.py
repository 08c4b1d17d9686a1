"""Wait for approval (request_approval) against moto: the task token kept in the ledger table where
`stepdeploy approve|reject` finds it, and the approval request sent to the notification topic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stepdeploy.models import Document, dump

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:demo-1"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAbYb2k4e0Qdq7X0dExampleTaskToken"


@pytest.fixture()
def inbox(orchestrator: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The notification topic, with a queue subscribed to it: yields the queue's URL."""
    from stepdeploy.settings import settings

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="stepdeploy-notifications")["TopicArn"]
    url = sqs.create_queue(QueueName="approvers")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic)
    settings.cache_clear()
    yield url
    settings.cache_clear()


def approval_event(changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The document after Check change set, and the context the ASL passes with $$.Task.Token."""
    event = load_event("execute_change_set")
    if changes is not None:
        event["document"]["changeset"]["changes"] = changes
    event["execution"].update(state="Wait for approval", task_token=TOKEN)
    return event


def notifications(url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def request_approval(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("request_approval").handler(copy.deepcopy(event), Context())


def test_the_task_token_is_kept_and_the_approval_request_sent(inbox):
    from stepdeploy.aws.ledger import ledger

    event = approval_event()
    out = request_approval(event)
    assert out == dump(Document.model_validate(event["document"]))  # the decision comes with the token

    kept = ledger().approval(EXECUTION)
    assert kept is not None
    assert (kept["execution_arn"], kept["task_token"]) == (EXECUTION, TOKEN)
    assert (kept["stack"], kept["repository"], kept["branch"]) == ("sample-prod", "platform/sample-app", "main")
    assert kept["commit"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert kept["changes"] == event["document"]["changeset"]["changes"]
    assert [a["execution_arn"] for a in ledger().approvals()] == [EXECUTION]

    (notification,) = notifications(inbox)
    assert notification["Subject"] == "stepdeploy: approve sample-prod at 6113728?"
    message = json.loads(notification["Message"])
    assert f"Run: stepdeploy approve {EXECUTION}" in message["message"]
    assert "platform/sample-app@6113728 wants to update sample-prod" in message["message"]
    assert message["changes"] == kept["changes"] and message["execution_arn"] == EXECUTION
    assert "task_token" not in message and TOKEN not in notification["Message"]  # the token stays in the table


def test_at_most_fifty_changes_are_kept(inbox):
    from stepdeploy.aws.ledger import ledger

    changes = [
        {"action": "Modify", "logical_id": f"Function{i}", "resource_type": "AWS::Lambda::Function"} for i in range(60)
    ]
    request_approval(approval_event(changes))
    kept = ledger().approval(EXECUTION)["changes"]
    assert kept == changes[:50]


def test_without_a_topic_the_token_is_kept_and_nothing_sent(orchestrator):
    from stepdeploy.aws.ledger import ledger

    request_approval(approval_event())
    assert ledger().approval(EXECUTION)["task_token"] == TOKEN
    assert boto3.client("sns").list_topics()["Topics"] == []


def test_without_a_task_token_nothing_is_kept_or_sent(inbox):
    from stepdeploy.aws.ledger import ledger

    event = approval_event()
    del event["execution"]["task_token"]
    with pytest.raises(ValueError, match=r"must pass \$\$.Task.Token as execution.task_token"):
        request_approval(event)
    assert ledger().approvals() == [] and notifications(inbox) == []
