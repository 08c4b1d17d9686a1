from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.resolve_request import resolve_request

handler = task_handler(resolve_request, "request")
