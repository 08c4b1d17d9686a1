from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.start_traffic_shift import start_traffic_shift

handler = task_handler(start_traffic_shift, "shift")
