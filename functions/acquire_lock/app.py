from stepdeploy.tasks.acquire_lock import acquire_lock
from stepdeploy.tasks.handler import task_handler

handler = task_handler(acquire_lock, "lock")
