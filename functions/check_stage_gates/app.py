from stepdeploy.tasks.check_stage_gates import check_stage_gates
from stepdeploy.tasks.handler import task_handler

handler = task_handler(check_stage_gates, "gate", holds_lock=False)
