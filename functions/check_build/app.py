from stepdeploy.tasks.check_build import check_build
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_build, "build", polls=True)
