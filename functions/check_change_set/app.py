from stepdeploy.tasks.check_change_set import check_change_set
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_change_set, "changeset", polls=True)
