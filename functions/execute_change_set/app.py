from stepdeploy.runtime import task_handler
from stepdeploy.tasks.execute_change_set import execute_change_set

handler = task_handler(execute_change_set, "stack")
