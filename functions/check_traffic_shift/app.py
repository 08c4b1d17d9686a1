from stepdeploy.runtime import task_handler
from stepdeploy.tasks.check_traffic_shift import check_traffic_shift

handler = task_handler(check_traffic_shift, "shift", polls=True)
