import os


def greet(name: str) -> str:
    return f"{os.environ.get('GREETING', 'Hello')}, {name}!"


def handler(event, context):
    return {"message": greet(str((event or {}).get("name", "world")))}
