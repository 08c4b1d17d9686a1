import json
import os

VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")


def greet(name: str) -> str:
    return f"{os.environ.get('GREETING', 'Hello')}, {name}!"


def record(message_id: str) -> None:
    """Which version processed a queue message (the demo counts these)."""
    import boto3

    boto3.resource("dynamodb").Table(os.environ["PROCESSED_TABLE"]).put_item(
        Item={"pk": f"sqs#{message_id}", "version": VERSION}
    )


def handler(event, context):
    if "Records" in (event or {}):  # the greetings queue
        for message in event["Records"]:
            greet(str(json.loads(message["body"] or "{}").get("name", "world")))
            record(message["messageId"])
        return {"batchItemFailures": []}
    # the HTTP API (GET /greet) or a direct invocation
    name = ((event or {}).get("queryStringParameters") or {}).get("name") or (event or {}).get("name", "world")
    return {"message": greet(str(name)), "version": VERSION}
