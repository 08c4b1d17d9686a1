from stepdeploy.runtime import task_handler
from stepdeploy.tasks.build import start_build

handler = task_handler(start_build, "build")
