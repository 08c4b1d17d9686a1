"""Version numbers are never reused, as on AWS (moto 5.2.5 numbers a new version len(versions) + 1).

After versions 1 and 2 of 4 are deleted, moto's next PublishVersion would be "3" again, beside the
existing 3: the ledger's records and aliases would name two different codes by one number. Here each
function remembers the highest number it ever published (a function deleted and created again starts
from 1, as on AWS), and a new version gets the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HIGHEST = "stepdeploy_highest_version"


def _numbered(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish_version(storage: Any, name_or_arn: str, description: str = "") -> Any:
        function = storage.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        entry = storage._functions.get(function.function_name)
        before = list(entry["versions"]) if entry else []
        highest = max([int(v.version) for v in before] + [int(entry.get(HIGHEST, 0)) if entry else 0])
        published = original(storage, name_or_arn, description)
        if entry is None or published is None or any(v is published for v in before):
            return published  # nothing new (unchanged code and configuration)
        if int(published.version) <= highest:
            storage._arns.pop(published.function_arn, None)
            published.set_version(highest + 1)
            storage._arns[published.function_arn] = published
        entry[HIGHEST] = int(published.version)
        return published

    return publish_version


def apply() -> None:
    from moto.awslambda.models import LambdaStorage

    from stepdeploy_localcloud.patching import wrap

    wrap(LambdaStorage, "publish_version", _numbered)
