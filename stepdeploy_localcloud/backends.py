"""One way to find moto's backends of a service, for every module of the local cloud.

``backend("sqs", account_id, region)`` is moto's ``sqs_backends[account_id][region]``, found through
moto's own registry (``moto.backends.get_backend``); ``existing("sqs")`` walks the backends that
exist so far, in every account and region, without creating one. Three services differ from that
pattern:

- ``lambda``: the backends moto's Invoke API uses (the simple ones when ``lambda.use_docker`` is off,
  as on the local cloud, which runs no containers: ``moto.awslambda.utils.get_backend``'s choice);
- ``stepfunctions``: the executing (ASL interpreter) backends, which the local cloud always serves;
- ``iam`` and ``s3``: global services, kept by partition rather than region (``region`` may be a
  region or a partition name such as ``aws``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_BY_PARTITION = frozenset({"iam", "s3"})


def _registry(service: str) -> Any:
    """moto's ``BackendDict`` of ``service``: ``[account_id][region or partition]``."""
    if service == "lambda":
        from moto.core.models import default_user_config

        if default_user_config.get("lambda", {}).get("use_docker", True) is False:
            from moto.awslambda_simple.models import lambda_simple_backends

            return lambda_simple_backends
        from moto.awslambda.models import lambda_backends

        return lambda_backends
    if service == "stepfunctions":
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[arg-type]


def backend(service: str, account_id: str, region: str) -> Any:
    """moto's backend of ``service`` (a boto3 service name) for an account and region."""
    if service in _BY_PARTITION:
        from moto.utilities.utils import get_partition

        region = get_partition(region)
    return _registry(service)[account_id][region]


def existing(service: str, account_id: str | None = None) -> Iterator[Any]:
    """Every backend of ``service`` created so far (of one account when given); none is created."""
    accounts = _registry(service)
    # dict.get / dict.values: moto's BackendDict creates what its [] operator is asked for
    for account, regions in list(dict.items(accounts)):
        if account_id is None or account == account_id:
            yield from list(dict.values(regions))
