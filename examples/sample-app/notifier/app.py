def subject(event: dict) -> str:
    return f"stepdeploy sample: {event.get('what', 'something happened')}"


def handler(event, context):
    return {"subject": subject(event or {})}
