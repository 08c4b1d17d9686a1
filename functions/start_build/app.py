from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.start_build import start_build

handler = task_handler(start_build, "build")
