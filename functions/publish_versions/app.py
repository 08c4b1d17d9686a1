from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.publish_versions import publish_versions

handler = task_handler(publish_versions, "versions")
