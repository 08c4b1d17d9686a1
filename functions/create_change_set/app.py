from stepdeploy.tasks.create_change_set import create_change_set
from stepdeploy.tasks.handler import task_handler

handler = task_handler(create_change_set, "changeset")
