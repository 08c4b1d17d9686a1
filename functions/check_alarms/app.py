from stepdeploy.runtime import task_handler
from stepdeploy.tasks.check_alarms import check_alarms

handler = task_handler(check_alarms, "bake", polls=True)
