def count_words(text: str) -> int:
    return len(text.split())


def handler(event, context):
    return {"words": count_words(str((event or {}).get("text", "")))}
