from stepdeploy.runtime import task_handler
from stepdeploy.tasks.build import check_build

handler = task_handler(check_build, "build", polls=True)
