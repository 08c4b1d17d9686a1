"""Step Functions adapter: moto 5.2.5's executing backend, made faithful to AWS.

``apply()`` (idempotent) installs, over ``moto.stepfunctions.parser``:
1. StartExecution without a name gets a UUID name (moto: ``...:None``, then ExecutionAlreadyExists).
2. Virtual time for Wait states, Retry intervals and TimeoutSeconds/HeartbeatSeconds
   (``CLOCK``: virtual seconds / speed).
3. SendTaskFailure keeps ``cause``.
4. StopExecution honours error/cause and really stops running executions.
5. RedriveExecution (not in moto), with ``$$.Execution.RedriveCount``.
6. JSON execution output also for a plain string.
7. 'Step Functions Execution Status Change' events on the default EventBridge bus.
8. ``create_executing_state_machine`` for the CloudFormation adapter.
9. GetExecutionHistory pagination and order, ListExecutions fields, the interpreter's clients
   calling the local cloud, Choice failures as on AWS (States.Runtime for a missing path,
   States.NoChoiceMatched).
10. The Step Functions service integration (``states:startExecution.sync:2``): parameters and answers
   normalised as on AWS (``integrations.py``).

Every piece lives in ``stepdeploy_localcloud.stepfunctions``; this module is the entry point.
"""

from __future__ import annotations

import threading

from stepdeploy_localcloud import patching
from stepdeploy_localcloud.stepfunctions import api, backend, choice, integrations, lifecycle, parse_cache, timing
from stepdeploy_localcloud.stepfunctions.machines import (
    StateMachineAlreadyExists,
    create_executing_state_machine,
    delete_executing_state_machine,
    update_executing_state_machine,
)
from stepdeploy_localcloud.stepfunctions.redrive import ExecutionNotRedrivable
from stepdeploy_localcloud.stepfunctions.status_events import PUBLISHER

__all__ = [
    "ExecutionNotRedrivable",
    "StateMachineAlreadyExists",
    "apply",
    "create_executing_state_machine",
    "delete_executing_state_machine",
    "flush_status_events",
    "update_executing_state_machine",
]

_lock = threading.Lock()


def apply() -> None:
    # The adapter is about the executing backend: without this, the API serves moto's other,
    # non-executing Step Functions backend.
    patching.configure("stepfunctions", "execute_state_machine", True)
    with _lock:
        timing.install()
        choice.install()
        lifecycle.install()
        backend.install()
        api.install()
        parse_cache.install()
        integrations.install()


def flush_status_events(timeout: float = 5.0) -> bool:
    """Wait until every execution status event so far is on the bus (tests, demos)."""
    return PUBLISHER.flush(timeout)
