from stepdeploy.tasks.execute_change_set import execute_change_set
from stepdeploy.tasks.handler import task_handler

handler = task_handler(execute_change_set, "stack")
