from stepdeploy.runtime import task_handler
from stepdeploy.tasks.check_stack import check_stack

handler = task_handler(check_stack, "stack", polls=True)
