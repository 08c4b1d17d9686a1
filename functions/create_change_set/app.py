from stepdeploy.runtime import task_handler
from stepdeploy.tasks.create_change_set import create_change_set

handler = task_handler(create_change_set, "changeset")
