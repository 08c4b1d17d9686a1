from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.wait_for_lock import wait_for_lock

handler = task_handler(wait_for_lock, "lock_wait", holds_lock=False)
