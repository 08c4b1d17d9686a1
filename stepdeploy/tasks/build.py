"""Start build / Check build: CodeBuild at the exact commit, shallow clone, artifact to S3."""

from __future__ import annotations

import hashlib
from typing import Any

from stepdeploy.aws.clients import client
from stepdeploy.errors import BuildFailed
from stepdeploy.models import BuildInfo, Document, ExecutionContext, S3Object, iso
from stepdeploy.settings import settings

FAILED_STATUSES = ("FAILED", "FAULT", "STOPPED", "TIMED_OUT")


def idempotency_token(execution: ExecutionContext, purpose: str) -> str:
    return hashlib.sha256(f"{execution.id}|{purpose}".encode()).hexdigest()[:64]


def _artifact_location(build: dict[str, Any]) -> S3Object | None:
    location = str((build.get("artifacts") or {}).get("location", ""))
    if not location.startswith("arn:aws:s3:::"):
        return None
    bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
    return S3Object(bucket=bucket, key=key)


def start_build(document: Document, execution: ExecutionContext, codebuild: Any = None) -> BuildInfo:
    request = document.require_request()
    s = settings()
    variables = [
        {"name": "STEPDEPLOY_REPOSITORY", "value": request.repository or "", "type": "PLAINTEXT"},
        {"name": "STEPDEPLOY_COMMIT", "value": request.commit or "", "type": "PLAINTEXT"},
        {"name": "STEPDEPLOY_BRANCH", "value": request.branch or "", "type": "PLAINTEXT"},
        {"name": "STEPDEPLOY_TEMPLATE", "value": request.template_path, "type": "PLAINTEXT"},
    ]
    params: dict[str, Any] = {
        "projectName": s.codebuild_project,
        "sourceVersion": request.commit,
        "sourceTypeOverride": "GITHUB_ENTERPRISE",
        "sourceLocationOverride": request.clone_url,
        "gitCloneDepthOverride": 1,
        "artifactsOverride": {
            "type": "S3",
            "location": s.artifact_bucket,
            "path": f"builds/{request.repository}/{request.commit}",
            "name": "bundle.zip",
            "packaging": "ZIP",
            "namespaceType": "NONE",
        },
        "environmentVariablesOverride": variables,
        # Same token for a retried or redriven task: CodeBuild returns the same build.
        "idempotencyToken": idempotency_token(execution, "build"),
    }
    if request.buildspec:
        params["buildspecOverride"] = request.buildspec
    build = (codebuild or client("codebuild")).start_build(**params)["build"]
    return BuildInfo(
        build_id=build["id"],
        status=build.get("buildStatus", "IN_PROGRESS"),
        logs_url=(build.get("logs") or {}).get("deepLink"),
    )


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


def check_build(document: Document, execution: ExecutionContext, codebuild: Any = None) -> BuildInfo:
    info = document.build
    if info is None:
        raise ValueError("Check build needs the Start build step's result in $.build")
    builds = (codebuild or client("codebuild")).batch_get_builds(ids=[info.build_id])["builds"]
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
    return info.model_copy(
        update={"status": status, "done": done, "logs_url": logs_url, "artifact": artifact,
                "finished_at": iso() if done else None}
    )
