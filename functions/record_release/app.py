from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.record_release import record_release

handler = task_handler(record_release, "release", holds_lock=False)
