from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.package_artifact import package_artifact

handler = task_handler(package_artifact, "artifact")
