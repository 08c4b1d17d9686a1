"""Named adapters over moto 5.2.5 where it falls short of AWS (see docs/local-cloud.md).

Each module here exposes ``apply() -> None`` (idempotent) and has a test of its own in
tests/localcloud that fails if moto's behaviour moves.
"""

from __future__ import annotations

import importlib

# Order matters only where one adapter builds on another.
ADAPTERS = (
    "stepdeploy_localcloud.patches.lambda_invoke",
    "stepdeploy_localcloud.patches.stepfunctions",
    "stepdeploy_localcloud.patches.cloudformation",
    "stepdeploy_localcloud.patches.events",
    "stepdeploy_localcloud.patches.codebuild",
    "stepdeploy_localcloud.patches.codedeploy",
    "stepdeploy_localcloud.patches.s3_policy",
)

_applied = False


def apply_all() -> None:
    global _applied
    if _applied:
        return
    for name in ADAPTERS:
        importlib.import_module(name).apply()
    _applied = True
