"""moto's request routing under concurrent first requests.

moto 5.2.5 builds a service's router on the first request for it (``ServiceOperationRouter``), from
one ``ServiceModel`` shared by every thread. ``ServiceModel.operation_model`` is cached with
botocore's ``instance_cache`` and calls botocore's own ``operation_model``, which is cached under
the same key: for a moment the cache holds botocore's ``OperationModel`` (no ``http_trait``) before
moto's replaces it. A second thread building a router in that moment gets botocore's model and
fails with ``'OperationModel' object has no attribute 'http_trait'``; the request answers HTTP 500
without a request id, and the ASL interpreter's Lambda task then fails with
``KeyError('RequestId')`` instead of a Lambda error its Retry could handle.

Here the lookup holds a lock, so no thread ever sees the half-built cache entry.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.model import ServiceModel

from stepdeploy_localcloud.patching import wrap

_OPERATION_MODEL_LOCK = threading.RLock()


def _locked_operation_model(original: Any) -> Any:
    def operation_model(self: ServiceModel, operation_name: str) -> Any:
        with _OPERATION_MODEL_LOCK:
            return original(self, operation_name)

    return operation_model


def apply() -> None:
    wrap(ServiceModel, "operation_model", _locked_operation_model)
