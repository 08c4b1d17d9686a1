from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.request_approval import request_approval

handler = task_handler(request_approval, "approval")
