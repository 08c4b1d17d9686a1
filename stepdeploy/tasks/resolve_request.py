"""Resolve request: a GHE push or an S3 upload becomes one typed deployment request.

Unconfigured triggers (deletions, tags, repositories or branches nobody configured) end as a
successful skip with the reason; a malformed stepdeploy.yml fails naming the file, key and expectation.
"""

from __future__ import annotations

import io
import zipfile
from importlib import resources
from typing import Any, Literal

from stepdeploy.app_config.config_text import MAX_CONFIG_BYTES
from stepdeploy.app_config.target_config import CONFIG_FILE, DeploymentConfig, PipelineTarget, Target, parse_config
from stepdeploy.aws.clients import client
from stepdeploy.errors import ArtifactRejected, ConfigurationError, RequestRejected
from stepdeploy.ghe.api import FileTooLarge, ghe_api
from stepdeploy.guards.trust import check_request_before_build
from stepdeploy.ingress.upload_keys import check_upload_key
from stepdeploy.models import DeploymentRequest, Document, ExecutionContext, PipelineInfo, S3Object, StagePlan
from stepdeploy.settings import settings


def default_buildspec() -> str:
    return resources.files("stepdeploy").joinpath("default_buildspec.yml").read_text()


def _skip(source: Literal["ghe", "s3"], reason: str, **known: Any) -> DeploymentRequest:
    return DeploymentRequest(skip=True, reason=reason, source=source, **known)


def _allowed(request: DeploymentRequest, target: Target, where: str = "") -> None:
    if not settings().repository_allowed(request.repository or "", target.stack):
        raise RequestRejected(
            f"{where}repository {request.repository} may not deploy stack {target.stack}: the orchestrator's "
            "AllowedRepositories parameter does not list that stack pattern for it"
        )


def _staged(request: DeploymentRequest, pipeline: PipelineTarget, stage: str | None) -> dict[str, Any]:
    """A pipeline's parent (stage None: every stage checked, the first one its target) or one stage's child."""
    targets = pipeline.stage_targets()
    for stage_config, target in zip(pipeline.pipeline, targets, strict=True):
        _allowed(request, target, f"{CONFIG_FILE}: pipeline {pipeline.pipeline_name}, stage {stage_config.name}: ")
    if stage is None:
        plans = [StagePlan(name=s.name, stack=s.stack, account=s.account, region=s.region,
                           alarms=s.deployment.alarms, gates=s.gates) for s in pipeline.pipeline]
        return {"target": targets[0], "pipeline": PipelineInfo(name=pipeline.pipeline_name, stages=plans)}
    names = [s.name for s in pipeline.pipeline]
    if stage not in names:
        raise RequestRejected(
            f"{CONFIG_FILE}: pipeline {pipeline.pipeline_name!r} has no stage {stage!r} at {request.short_commit}; "
            f"expected one of {', '.join(names)}"
        )
    return {"target": targets[names.index(stage)], "stage": stage, "pipeline_name": pipeline.pipeline_name}


def _targeted(
    request: DeploymentRequest, config: DeploymentConfig, branch: str, stage: str | None = None
) -> DeploymentRequest:
    target = config.target_for(branch)
    if target is None:
        patterns = ", ".join(t.branch for t in config.targets)
        return request.model_copy(
            update={"skip": True, "reason": f"branch {branch!r} matches no target in {CONFIG_FILE} ({patterns})"}
        )
    if isinstance(target, PipelineTarget):
        update = _staged(request, target, stage)
    elif stage is not None:
        raise RequestRejected(f"{CONFIG_FILE}: the target of branch {branch!r} is not a pipeline; no stage {stage!r}")
    else:
        _allowed(request, target)
        update = {"target": target}
    chosen: Target = update["target"]
    return request.model_copy(
        update={
            **update,
            "template_path": config.template,
            "approval_timeout_seconds": chosen.approval.timeout_minutes * 60,
        }
    )


def _check_every_stage(
    request: DeploymentRequest, config: DeploymentConfig, read: Any, file: str = CONFIG_FILE
) -> None:
    """Nothing is touched before every stage the push will reach has passed the checks a single target passes."""
    target = config.target_for(request.branch or "")
    stages = target.stage_targets() if isinstance(target, PipelineTarget) and request.pipeline else [request.target]
    for stage_target in stages:
        check_request_before_build(request.model_copy(update={"target": stage_target}), config, read, file=file)


def resolve_push(event: dict[str, Any], stage: str | None = None) -> DeploymentRequest:
    detail = event.get("detail") or {}
    ref = str(detail.get("ref", ""))
    known: dict[str, Any] = {
        "repository": detail.get("repository"),
        "commit": detail.get("after"),
        "pusher": detail.get("pusher") or detail.get("sender"),
        "delivery_id": detail.get("delivery_id"),
        "pushed_at": detail.get("head_commit_timestamp"),
        "requested_at": event.get("time") or None,
    }
    known = {k: v for k, v in known.items() if v}
    if detail.get("deleted"):
        return _skip("ghe", f"{ref} was deleted; deletions deploy nothing", **known)
    if not ref.startswith("refs/heads/"):
        return _skip("ghe", f"{ref} is not a branch; only branch pushes deploy", **known)
    branch = ref.removeprefix("refs/heads/")
    repository = str(detail.get("repository", ""))
    if not settings().repository_allowed(repository):
        return _skip("ghe", f"repository {repository} is not in the orchestrator's allow-list", branch=branch, **known)
    # Built from the configured GHE host and protocol; the event's clone_url is never used.
    request = DeploymentRequest(source="ghe", branch=branch, clone_url=settings().clone_url(repository), **known)
    api = ghe_api()
    commit = str(detail.get("after"))
    try:
        text = api.file_at(repository, CONFIG_FILE, commit, max_bytes=MAX_CONFIG_BYTES)
    except FileTooLarge as exc:
        raise ConfigurationError(
            f"{CONFIG_FILE}: the file is {exc.size or 'over 1 MB'} bytes; expected at most {MAX_CONFIG_BYTES}"
        ) from None
    if text is None:
        return request.model_copy(update={"skip": True, "reason": f"{repository} has no {CONFIG_FILE} at {commit[:7]}"})
    config = parse_config(text, file=CONFIG_FILE)
    request = _targeted(request, config, branch, stage)
    if request.skip:
        return request
    _check_every_stage(request, config, lambda path: api.file_at(repository, path, commit, max_bytes=1 << 20))
    if config.build.buildspec:
        buildspec = config.build.buildspec
    elif _absent(lambda: api.file_at(repository, "buildspec.yml", commit)):
        buildspec = default_buildspec()
    else:
        buildspec = None
    return request.model_copy(update={"buildspec": buildspec})


def _absent(read: Any) -> bool:
    try:
        return read() is None
    except FileTooLarge:
        return False  # there is one, too large to read here; CodeBuild reads it


def _member(body: bytes, path: str) -> bytes | None:
    """A file of the uploaded bundle (already checked to be a zip), or None; FileTooLarge over 1 MB."""
    with zipfile.ZipFile(io.BytesIO(body)) as bundle:
        try:
            info = bundle.getinfo(path)
        except KeyError:
            return None
        if info.file_size > 1 << 20:
            raise FileTooLarge(path, info.file_size)
        return bundle.read(info)


def _config_in_bundle(body: bytes, where: str) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as bundle:
            try:
                info = bundle.getinfo(CONFIG_FILE)
            except KeyError:
                return None
            if info.file_size > MAX_CONFIG_BYTES:
                raise ArtifactRejected(f"{where}: {CONFIG_FILE} is {info.file_size} bytes; at most {MAX_CONFIG_BYTES}")
            return bundle.read(info)
    except zipfile.BadZipFile:
        raise ArtifactRejected(f"{where} is not a zip file") from None


def resolve_upload(event: dict[str, Any], stage: str | None = None) -> DeploymentRequest:
    s3 = client("s3")
    detail = event.get("detail") or {}
    bucket = str((detail.get("bucket") or {}).get("name", ""))
    obj = detail.get("object") or {}
    raw_key = str(obj.get("key", ""))
    version_id = obj.get("version-id")
    if bucket != settings().artifact_bucket:
        raise RequestRejected(f"bucket {bucket!r} is not the orchestrator's artifact bucket")
    owner, repo, key = check_upload_key(raw_key, settings().upload_prefix)
    repository = f"{owner}/{repo}"
    location = S3Object(bucket=bucket, key=key, version_id=version_id)
    known: dict[str, Any] = {"repository": repository, "artifact": location, "requested_at": event.get("time") or None}
    known = {k: v for k, v in known.items() if v}
    if not settings().repository_allowed(repository):
        return _skip("s3", f"repository {repository} is not in the orchestrator's allow-list", **known)
    extra = {"VersionId": version_id} if version_id else {}
    head = s3.head_object(Bucket=bucket, Key=key, **extra)
    metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    max_bytes = settings().limits.max_bytes
    if int(head.get("ContentLength") or 0) > max_bytes:  # checked before the object is read into memory
        raise ArtifactRejected(
            f"{location.uri} is {head['ContentLength']} bytes; at most {max_bytes} (MAX_ARTIFACT_BYTES)"
        )
    body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    text = _config_in_bundle(body, location.uri)
    if text is None:
        return _skip("s3", f"{location.uri} has no {CONFIG_FILE} at its root", **known)
    config = parse_config(text, file=f"{CONFIG_FILE} in {location.uri}")
    branch = metadata.get("branch")
    if not branch:
        fixed = [t.branch for t in config.targets if not any(c in t.branch for c in "*?[")]
        if len(fixed) != 1:
            raise RequestRejected(
                f"{location.uri}: set the object metadata 'branch' (x-amz-meta-branch) to choose a target; "
                f"{CONFIG_FILE} has {len(config.targets)} targets"
            )
        branch = fixed[0]
    commit = metadata.get("commit") or f"s3-{(version_id or head.get('ETag', '').strip(chr(34)))[:32]}"
    request = DeploymentRequest(source="s3", branch=branch, commit=commit, pusher=metadata.get("pusher"), **known)
    request = _targeted(request, config, branch, stage)
    if not request.skip:
        where = f"{CONFIG_FILE} in {location.uri}"
        _check_every_stage(request, config, lambda path: _member(body, path), file=where)
    return request


def resolve_request(document: Document, execution: ExecutionContext) -> DeploymentRequest:
    resolve = resolve_push if document.source == "ghe" else resolve_upload
    request = resolve(document.event, document.stage)
    if document.stage is not None and request.skip:
        raise RequestRejected(f"stage {document.stage!r}: {request.reason}")
    if execution.start_time:
        # The order of requests for a stack (which one supersedes which) is the order in which their
        # executions started: millisecond precision, where EventBridge's event time has seconds.
        request = request.model_copy(update={"requested_at": execution.start_time})
    return request
