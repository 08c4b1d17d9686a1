from stepdeploy.tasks.handler import task_handler
from stepdeploy.tasks.prune_versions import prune_versions

handler = task_handler(prune_versions, "pruned", holds_lock=False)
