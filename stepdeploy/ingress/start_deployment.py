"""StartDeployment: the target of both triggers' EventBridge rules; starts one execution per trigger.

The execution input is what the rules' input transformer used to build, ``{"source": "ghe"|"s3",
"event": <the EventBridge event>}``, so the state machine does not change. The execution name is
``naming.execution_name`` of the trigger, so a second event for the same push (two deliveries, a
republished delivery, EventBridge's at-least-once delivery) or a duplicate S3 notification hits
``ExecutionAlreadyExists`` and starts nothing: one deployment per repository, commit and branch.

Triggers that could not deploy anything (not allow-listed, a key outside the upload layout, a
deletion or a tag that reached the bus) are refused here with a logged reason and start nothing.
Faults (throttling, Step Functions unavailable) raise: Lambda retries the asynchronous invoke and
then sends the event to the dead-letter queue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code
from stepdeploy.errors import RequestRejected
from stepdeploy.ghe.payloads import ref_problem
from stepdeploy.ingress.naming import execution_name, ghe_discriminator, s3_discriminator
from stepdeploy.ingress.upload_keys import check_upload_key
from stepdeploy.observability import logger
from stepdeploy.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

GHE_SOURCE, GHE_DETAIL_TYPE = "stepdeploy.ghe", "GHE Push"
S3_SOURCE, S3_DETAIL_TYPE = "aws.s3", "Object Created"
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
_METADATA_CHARS = 200

Source = Literal["ghe", "s3"]


class TriggerRefused(Exception):
    """An event that must not start an execution; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Trigger:
    source: Source
    repository: str
    branch: str
    commit: str
    discriminator: str

    @property
    def name(self) -> str:
        return execution_name(self.repository, self.branch, self.commit, self.discriminator)


def state_machine_arn() -> str:
    arn = settings().state_machine_arn
    if not arn:
        raise RuntimeError("environment variable STATE_MACHINE_ARN is not set; the template sets it")
    return arn


def _allowed(repository: str) -> None:
    if not settings().repository_allowed(repository):
        raise TriggerRefused(f"repository {repository} is not in the orchestrator's allow-list")


def ghe_trigger(event: dict[str, Any]) -> Trigger:
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise TriggerRefused("GHE push event without a detail object")
    repository, ref, commit = detail.get("repository"), detail.get("ref"), detail.get("after")
    if not isinstance(repository, str) or repository.count("/") != 1:
        raise TriggerRefused("GHE push event: 'repository' must be owner/repo")
    if not isinstance(commit, str) or not _COMMIT_SHA.match(commit):
        raise TriggerRefused("GHE push event: 'after' must be a 40-hex commit id")
    if not isinstance(ref, str) or ref_problem(ref):
        raise TriggerRefused(f"GHE push event: 'ref' is not a git ref name ({ref_problem(str(ref))})")
    if detail.get("deleted") is True or commit == "0" * 40:
        raise TriggerRefused(f"{ref} was deleted; deletions deploy nothing")
    if not ref.startswith("refs/heads/"):
        raise TriggerRefused(f"{ref} is not a branch; only branch pushes deploy")
    _allowed(repository)
    return Trigger("ghe", repository, ref.removeprefix("refs/heads/"), commit, ghe_discriminator())


def _upload_metadata(bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    """The object's branch/commit metadata, only for a readable name: Resolve request reads it again."""
    try:
        head = client("s3").head_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as exc:
        logger.warning("upload metadata unreadable; naming the execution from the key", extra={"code": error_code(exc)})
        return {}
    metadata = {str(k).lower(): str(v)[:_METADATA_CHARS] for k, v in (head.get("Metadata") or {}).items()}
    etag = str(head.get("ETag", "")).strip('"')
    return {**({"etag": etag} if etag else {}), **metadata}


def s3_trigger(event: dict[str, Any]) -> Trigger:
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise TriggerRefused("S3 event without a detail object")
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    key, version_id, sequencer = obj.get("key"), obj.get("version-id"), obj.get("sequencer")
    if bucket != settings().artifact_bucket:
        raise TriggerRefused(f"bucket {bucket!r} is not the orchestrator's artifact bucket")
    if not isinstance(key, str):
        raise TriggerRefused("S3 event without an object key")
    try:
        owner, repo, key = check_upload_key(key, settings().upload_prefix)
    except RequestRejected as refused:
        raise TriggerRefused(str(refused)) from None
    repository = f"{owner}/{repo}"
    _allowed(repository)
    version = str(version_id) if version_id else None
    metadata = _upload_metadata(bucket, key, version)
    branch = metadata.get("branch") or PurePosixPath(key).stem
    commit = metadata.get("commit") or version or metadata.get("etag", "")
    return Trigger("s3", repository, branch, commit, s3_discriminator(bucket, key, version, sequencer))


def trigger_of(event: dict[str, Any]) -> Trigger:
    kind = (event.get("source"), event.get("detail-type"))
    if kind == (GHE_SOURCE, GHE_DETAIL_TYPE):
        return ghe_trigger(event)
    if kind == (S3_SOURCE, S3_DETAIL_TYPE):
        return s3_trigger(event)
    raise TriggerRefused(f"event {kind[0]!r}/{kind[1]!r} is neither a GHE push nor an S3 upload")


def execution_input(source: Source, event: dict[str, Any]) -> str:
    """Exactly what the rules' input transformer built: ``{"source": ..., "event": <event>}``."""
    return json.dumps({"source": source, "event": event})


def start_deployment(event: dict[str, Any], *, sfn: SFNClient | None = None) -> dict[str, Any]:
    try:
        trigger = trigger_of(event)
    except TriggerRefused as refused:
        logger.warning("trigger refused; no execution started", extra={"reason": refused.reason})
        return {"started": False, "reason": refused.reason}
    name = trigger.name
    logger.append_keys(execution_name=name, repository=trigger.repository, commit=trigger.commit)
    try:
        started = (sfn or client("stepfunctions")).start_execution(
            stateMachineArn=state_machine_arn(), name=name, input=execution_input(trigger.source, event)
        )
    except ClientError as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
        logger.info("duplicate: an execution with this name exists; nothing started")
        return {"started": False, "duplicate": True, "execution_name": name}
    logger.info("execution started", extra={"execution_arn": started["executionArn"]})
    return {"started": True, "execution_name": name, "execution_arn": started["executionArn"]}
