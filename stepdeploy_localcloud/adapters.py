"""Named adapters over moto 5.2.5 where it falls short of AWS (see docs/local-cloud.md).

Each adapter module listed here (a service folder's ``patch``, or a named one such as
``awslambda.function_urls`` or ``apigateway.authorizers``) exposes ``apply() -> None`` (idempotent:
every change goes through ``stepdeploy_localcloud.patching``) and has a test of its own in
tests/localcloud that fails if moto's behaviour moves.
"""

from __future__ import annotations

import importlib

# Order matters only where one adapter builds on another.
ADAPTERS = (
    "stepdeploy_localcloud.core.patch",
    "stepdeploy_localcloud.awslambda.patch",
    "stepdeploy_localcloud.awslambda.event_sources",
    "stepdeploy_localcloud.awslambda.function_urls",
    "stepdeploy_localcloud.awslambda.policies",
    "stepdeploy_localcloud.stepfunctions.patch",
    "stepdeploy_localcloud.cloudformation.patch",
    "stepdeploy_localcloud.events.patch",
    "stepdeploy_localcloud.codebuild.patch",
    "stepdeploy_localcloud.codedeploy.patch",
    "stepdeploy_localcloud.s3.patch",
    "stepdeploy_localcloud.cloudwatch.patch",
    "stepdeploy_localcloud.apigateway.authorizers",
    "stepdeploy_localcloud.sts.patch",
)


def apply_all() -> None:
    for name in ADAPTERS:
        importlib.import_module(name).apply()
