from stepdeploy.tasks.advance_release import advance_release
from stepdeploy.tasks.handler import task_handler

handler = task_handler(advance_release, "progress")
