from stepdeploy.runtime import task_handler
from stepdeploy.tasks.check_change_set import check_change_set

handler = task_handler(check_change_set, "changeset", polls=True)
