"""Start build: CodeBuild at the exact commit, shallow clone, artifact to S3.

The clone URL is built from the configured GHE host (never the event's); the artifact goes under
``builds/<owner>/<repo>/<commit>/<build id>/`` (one key per build, checked against CodeBuild's
sha256sum at Package artifact); privileged mode only for an allow-list entry with ``:privileged``.
"""

from __future__ import annotations

from typing import Any

from stepdeploy.aws.clients import client, idempotency_token
from stepdeploy.models import BuildInfo, DeploymentRequest, Document, ExecutionContext
from stepdeploy.settings import settings


def build_output_prefix(request: DeploymentRequest) -> str:
    """Where a build of this request writes: one prefix per repository and commit, then the build's id."""
    return f"builds/{request.repository}/{request.commit}"


def start_build(document: Document, execution: ExecutionContext) -> BuildInfo:
    request = document.require_request()
    s = settings()
    repository = request.repository or ""
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
        "sourceLocationOverride": s.clone_url(repository),
        "gitCloneDepthOverride": 1,
        "artifactsOverride": {
            "type": "S3",
            "location": s.artifact_bucket,
            "path": build_output_prefix(request),
            "name": "bundle.zip",
            "packaging": "ZIP",
            "namespaceType": "BUILD_ID",  # CodeBuild adds the build's id: no two builds share a key
        },
        "privilegedModeOverride": s.builds_privileged(repository, request.stack),
        "environmentVariablesOverride": variables,
        # Same token for a retried or redriven task: CodeBuild returns the same build.
        "idempotencyToken": idempotency_token(execution, "build"),
    }
    if request.buildspec:
        params["buildspecOverride"] = request.buildspec
    build = client("codebuild").start_build(**params)["build"]
    return BuildInfo(
        build_id=build["id"],
        status=build.get("buildStatus", "IN_PROGRESS"),
        logs_url=(build.get("logs") or {}).get("deepLink"),
    )
