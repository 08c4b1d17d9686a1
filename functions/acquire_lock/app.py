from stepdeploy.runtime import task_handler
from stepdeploy.tasks.acquire_lock import acquire_lock

handler = task_handler(acquire_lock, "lock")
