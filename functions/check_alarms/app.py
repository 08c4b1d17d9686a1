from stepdeploy.tasks.check_alarms import check_alarms
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_alarms, "bake", polls=True)
