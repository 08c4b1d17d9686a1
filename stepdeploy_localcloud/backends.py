"""One way to find moto's backend of a service, for every module of the local cloud.

``backend("sqs", account_id, region)`` is moto's ``sqs_backends[account_id][region]``, found through
moto's own registry (``moto.backends.get_backend``). Three services differ from that pattern:

- ``lambda``: the backend moto's Invoke API uses (the simple one when ``lambda.use_docker`` is off,
  as on the local cloud, which runs no containers);
- ``stepfunctions``: the executing (ASL interpreter) backend, which the local cloud always serves;
- ``iam`` and ``s3``: global services, kept by partition rather than region.
"""

from __future__ import annotations

from typing import Any

_BY_PARTITION = frozenset({"iam", "s3"})


def backend(service: str, account_id: str, region: str) -> Any:
    """moto's backend of ``service`` (a boto3 service name) for an account and region."""
    if service == "lambda":
        from moto.awslambda.utils import get_backend as lambda_backend

        return lambda_backend(account_id, region)
    if service == "stepfunctions":
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends[account_id][region]
    from moto.backends import get_backend

    if service in _BY_PARTITION:
        from moto.utilities.utils import get_partition

        return get_backend(service)[account_id][get_partition(region)]  # type: ignore[arg-type]
    return get_backend(service)[account_id][region]  # type: ignore[arg-type]
