from typing import Any

from stepdeploy.ingress.start_deployment import start_deployment
from stepdeploy.observability import logger


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return start_deployment(event)
