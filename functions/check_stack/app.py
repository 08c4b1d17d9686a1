from stepdeploy.tasks.check_stack import check_stack
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_stack, "stack", polls=True)
