"""Check build: wait for the CodeBuild build and find the artifact it uploaded to S3."""

from __future__ import annotations

import re
from typing import Any

from stepdeploy.aws.clients import client
from stepdeploy.errors import ArtifactRejected, BuildFailed
from stepdeploy.models import BuildInfo, Document, ExecutionContext, S3Object, iso
from stepdeploy.settings import settings
from stepdeploy.tasks.start_build import build_output_prefix

FAILED_STATUSES = ("FAILED", "FAULT", "STOPPED", "TIMED_OUT")


def _artifact_location(build: dict[str, Any]) -> S3Object | None:
    location = str((build.get("artifacts") or {}).get("location", ""))
    if not location.startswith("arn:aws:s3:::"):
        return None
    bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
    return S3Object(bucket=bucket, key=key)


def _check_location(build_id: str, artifact: S3Object, prefix: str) -> None:
    """The artifact must be where Start build told CodeBuild to put it: this repository's prefix."""
    if artifact.bucket != settings().artifact_bucket or not artifact.key.startswith(prefix + "/"):
        raise ArtifactRejected(
            f"build {build_id}: its artifact is {artifact.uri}; expected it under "
            f"s3://{settings().artifact_bucket}/{prefix}/ (Start build's artifactsOverride)"
        )


def _reported_sha256(build: dict[str, Any], artifact: S3Object) -> str:
    """CodeBuild's sha256sum of the artifact it uploaded: Package artifact checks the object against it."""
    value = str((build.get("artifacts") or {}).get("sha256sum") or "")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ArtifactRejected(
            f"build {build['id']}: CodeBuild reports no usable artifacts.sha256sum for {artifact.uri} "
            f"(found {value!r}); expected the 64-hex-digit sha256 of the ZIP it uploaded (packaging ZIP)"
        )
    return value.lower()


def _failure_message(build: dict[str, Any]) -> str:
    failed = next((p for p in build.get("phases", []) if p.get("phaseStatus") in FAILED_STATUSES), None)
    parts = [f"build {build['id']} ended {build['buildStatus']}"]
    if failed:
        parts.append(f"in phase {failed.get('phaseType')}")
        messages = [c.get("message", "") for c in failed.get("contexts", []) if c.get("message")]
        if messages:
            parts.append(": " + "; ".join(messages))
    link = (build.get("logs") or {}).get("deepLink")
    return " ".join(parts) + (f". Logs: {link}" if link else "")


def check_build(document: Document, execution: ExecutionContext) -> BuildInfo:
    info = document.build
    if info is None:
        raise ValueError("Check build needs the Start build step's result in $.build")
    builds = client("codebuild").batch_get_builds(ids=[info.build_id])["builds"]
    if not builds:
        raise BuildFailed(f"build {info.build_id} no longer exists in CodeBuild")
    build = builds[0]
    status = build.get("buildStatus", "IN_PROGRESS")
    logs_url = (build.get("logs") or {}).get("deepLink") or info.logs_url
    if status in FAILED_STATUSES:
        raise BuildFailed(_failure_message(build))
    done = status == "SUCCEEDED"
    artifact = _artifact_location(build) if done else None
    if done and artifact is None:
        raise BuildFailed(f"build {info.build_id} succeeded but uploaded no artifact; check the buildspec's artifacts")
    if artifact is not None:
        _check_location(info.build_id, artifact, build_output_prefix(document.require_request()))
    sha256 = _reported_sha256(build, artifact) if artifact is not None else None
    return info.model_copy(
        update={"status": status, "done": done, "logs_url": logs_url, "artifact": artifact,
                "artifact_sha256": sha256, "finished_at": iso() if done else None}
    )
