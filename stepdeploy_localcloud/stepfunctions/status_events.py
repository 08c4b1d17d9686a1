"""'Step Functions Execution Status Change' events on the account's default EventBridge bus.

AWS sends one for every status change of a Standard workflow execution (RUNNING, SUCCEEDED,
FAILED, TIMED_OUT, ABORTED, and RUNNING again on a redrive), best effort and asynchronously.
Here they go through moto's events backend ``put_events`` so that rules match as they do on AWS;
one publisher thread keeps them in order and a failing target never stops an execution.
"""

from __future__ import annotations

import datetime
import json
import logging
import queue
import threading
from typing import Any

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.events.default_bus import service_event
from stepdeploy_localcloud.stepfunctions.extras import extras_of

LOG = logging.getLogger(__name__)

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"

NOT_REDRIVABLE = "NOT_REDRIVABLE"
REDRIVABLE = "REDRIVABLE"
REDRIVABLE_STATUSES = frozenset({"FAILED", "ABORTED", "TIMED_OUT"})


def redrive_status(status: str) -> tuple[str, str | None]:
    """(redriveStatus, redriveStatusReason) of a Standard execution in ``status``."""
    if status in REDRIVABLE_STATUSES:
        return REDRIVABLE, None
    return NOT_REDRIVABLE, f"Execution is {status} and cannot be redriven"


def epoch_millis(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def output_json(output: Any) -> str:
    """An execution's output as AWS shows it: compact JSON, also for a plain string."""
    return json.dumps(output, separators=(",", ":"), ensure_ascii=False)


def is_standard(execution: Any) -> bool:
    return getattr(execution.state_machine, "type", "STANDARD") != "EXPRESS"


def status_detail(execution: Any, status: str) -> dict[str, Any]:
    """The event's ``detail`` for ``execution`` as it is now, reported with ``status``."""
    extras = extras_of(execution)
    terminal = status != "RUNNING"
    output = output_json(execution.output) if status == "SUCCEEDED" else None
    status_value, reason = redrive_status(status)
    return {
        "executionArn": execution.execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": epoch_millis(execution.start_date),
        "stopDate": epoch_millis(execution.stop_date) if terminal else None,
        "input": execution.execution_input,
        "output": output,
        "stateMachineVersionArn": None,
        "stateMachineAliasArn": None,
        "redriveCount": extras.redrive_count,
        "redriveDate": epoch_millis(extras.redrive_date),
        "redriveStatus": status_value,
        "redriveStatusReason": reason,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error if terminal else None,
        "cause": execution.cause if terminal else None,
    }


class StatusEventPublisher:
    """Puts status events on the default bus from one background thread, in order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0

    def publish(self, execution: Any, status: str) -> None:
        if not is_standard(execution):
            return  # Express workflows send no status events.
        detail = status_detail(execution, status)
        with self._idle:
            self._pending += 1
        self._queue.put((execution.account_id, execution.region_name, detail))
        self._ensure_thread()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event published so far was put on the bus; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sfn-status-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            account_id, region, detail = item
            try:
                put_status_event(account_id, region, detail)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


def put_status_event(account_id: str, region: str, detail: dict[str, Any]) -> None:
    entry = service_event(SOURCE, DETAIL_TYPE, detail, [detail["executionArn"]])
    try:
        results = backends.backend("events", account_id, region).put_events([entry])
    except NotImplementedError as error:
        LOG.warning(
            "a rule target for the %s event of %s is not supported by the local cloud: %s",
            detail["status"],
            detail["executionArn"],
            error,
        )
        return
    except Exception:
        LOG.exception("could not put the %s event of %s", detail["status"], detail["executionArn"])
        return
    for result in results:
        if "ErrorCode" in result:
            LOG.warning("EventBridge refused the %s event of %s: %s", detail["status"], detail["executionArn"], result)


PUBLISHER = StatusEventPublisher()
