from typing import Any

from stepdeploy.observability import logger
from stepdeploy.tasks.finalize_execution import finalize


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return finalize(event.get("detail") or {})
