from stepdeploy.tasks.check_traffic_shift import check_traffic_shift
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_traffic_shift, "shift", polls=True)
