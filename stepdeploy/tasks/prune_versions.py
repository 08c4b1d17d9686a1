"""Prune versions: after a successful release, delete the versions retention does not keep.

Which versions stay and why is stepdeploy/release/retention.py (the CLI's `stepdeploy versions prune` shows
the same plan). It runs after Record release, without the stack's lock: a version newer than every
release in the ledger is never deleted, so a deployment that started meanwhile keeps what it publishes.
A version that cannot be deleted is reported in the document's ``pruned`` piece and the release stays
Deployed; the state's Catch does the same for any other failure.
"""

from __future__ import annotations

from stepdeploy.aws.clients import client
from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.aws.ledger import ledger
from stepdeploy.models import Document, ExecutionContext, PrunedFunction, PruneInfo
from stepdeploy.observability import logger
from stepdeploy.release import retention
from stepdeploy.settings import settings

LEDGER_HISTORY = 200
"""Releases read from the ledger: RetainReleases is at most 100 distinct versions per function."""


def prune_versions(document: Document, execution: ExecutionContext) -> PruneInfo:
    retain = settings().retain_releases
    if retain == 0 or document.versions is None:
        return PruneInfo(retain=retain)
    stack = document.require_request().stack
    records = ledger().releases_of(stack, limit=LEDGER_HISTORY)
    lam = LambdaVersions(client("lambda"))
    names = [function.function_name for function in document.versions.functions]
    pruned = []
    for plan in retention.plan_stack(records, retention.survey(lam, names), retain):
        result = retention.delete(lam, plan)
        kept = plan.kept
        if result.failed:
            logger.warning("some versions could not be deleted", extra={"function": plan.function_name,
                                                                        "failed": result.failed})
        logger.info("pruned versions", extra={"function": plan.function_name, "deleted": result.deleted,
                                               "kept": kept})
        pruned.append(PrunedFunction(function_name=plan.function_name, deleted=result.deleted, kept=kept,
                                     failed=result.failed))
    return PruneInfo(retain=retain, functions=pruned)
