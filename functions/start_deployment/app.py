from typing import Any

from stepdeploy.start import logger, start_deployment


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return start_deployment(event)
