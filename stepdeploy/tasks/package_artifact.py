"""Package artifact: check the bundle, store each function's code under its content hash, write the
packaged template with code locations as parameters (DESIGN lessons 2 and 7).

Safe to run twice: every key is a content hash and is uploaded only when absent.

A stage outside the orchestrator's region (stepdeploy.aws.accounts.in_another_region) gets a copy of the
stored code and of the packaged template in its region's code bucket, under the same keys, and the bucket
parameter names that bucket: Lambda reads code only from a bucket of its own region. The template's text,
its code and the digest are the same as for any other region.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from collections.abc import Callable

from stepdeploy.aws.accounts import Stage, current_stage, deploy_names, in_another_region
from stepdeploy.aws.artifacts import ArtifactStore, ObjectHead
from stepdeploy.aws.clients import client, stage_client, translate_aws_errors
from stepdeploy.errors import ArtifactRejected, ConfigurationError
from stepdeploy.guards.target_checks import image_region
from stepdeploy.guards.trust import check_packaged_template
from stepdeploy.models import ArtifactInfo, BuildInfo, DeploymentRequest, Document, ExecutionContext, S3Object
from stepdeploy.settings import settings
from stepdeploy.template import cfn_yaml
from stepdeploy.template.bundle import (
    ARCHIVE_SUFFIXES,
    BUCKET_PARAMETER,
    Bundle,
    Store,
    StoredCode,
    bundle_digest,
    check_object_sha256,
    code_paths,
    copy_member,
    mutable_tags_for,
    open_bundle,
    package_template,
    write_deterministic_zip,
)

SPOOL_BYTES = 64 << 20
"""Bundles and code zips up to this size stay in memory; larger ones spill to /tmp."""


def source_artifact(document: Document, request: DeploymentRequest) -> S3Object:
    if request.source == "s3":
        if request.artifact is None:
            raise ArtifactRejected("the S3 upload request names no artifact (request.artifact)")
        return request.artifact
    if document.build is None or document.build.artifact is None:
        raise ArtifactRejected(f"build {document.build.build_id if document.build else '?'} produced no artifact")
    return document.build.artifact


def check_build_output(build: BuildInfo, actual_sha256: str, obj: S3Object) -> None:
    """The bytes read must be the ones the build uploaded: CodeBuild's reported sha256sum."""
    if not build.artifact_sha256:
        raise ArtifactRejected(
            f"build {build.build_id}: no sha256sum of its artifact {obj.uri} was recorded by Check build; "
            "expected CodeBuild's artifacts.sha256sum"
        )
    if actual_sha256 != build.artifact_sha256.lower():
        raise ArtifactRejected(
            f"build {build.build_id}: {obj.uri} has sha256 {actual_sha256}, but CodeBuild reported sha256sum "
            f"{build.artifact_sha256} for the artifact it uploaded; the object was replaced after the build"
        )


def check_upload_sha256(head: ObjectHead, actual_sha256: str, obj: S3Object) -> None:
    """An upload carries its sha256: S3's ChecksumSHA256 or ``x-amz-meta-sha256``; both are checked."""
    declared = [("metadata sha256", head.metadata["sha256"])] if "sha256" in head.metadata else []
    composite = bool(head.checksum_sha256 and "-" in head.checksum_sha256)
    if head.checksum_sha256 and not composite:
        declared.append(("ChecksumSHA256", head.checksum_sha256))
    if not declared:
        found = (
            f"only the ChecksumSHA256 {head.checksum_sha256} of a multipart upload (a checksum of its parts)"
            if composite else "none"
        )
        raise ArtifactRejected(
            f"{obj.uri}: the upload carries no sha256 of its bytes (found {found}); expected S3's ChecksumSHA256 "
            "of a single-part upload (--checksum-algorithm SHA256) or the metadata x-amz-meta-sha256 (hex)"
        )
    for what, value in declared:
        check_object_sha256(value, actual_sha256, f"{obj.uri} ({what})")


def repository_path(request: DeploymentRequest) -> str:
    """``owner/repo`` for key prefixes; uploads without a repository use the stack name."""
    if request.repository and request.repository.count("/") == 1:
        return request.repository
    return f"_uploads/{request.stack}"


def _existing(bundle: Bundle, path: str) -> bool:
    return bundle.has_file(path) or bool(bundle.files_under(path))


def _store_code(bundle: Bundle, store: ArtifactStore, bucket: str, prefix: str, stored: list[str]) -> Store:
    """Store each code location; ``stored`` collects the keys (code, layers, definition files)."""

    def store_code(logical_id: str, location: str, kind: str) -> StoredCode:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
            if kind == "file" or (bundle.has_file(location) and location.lower().endswith(ARCHIVE_SUFFIXES)):
                archive = copy_member(bundle, location, out)
            else:
                paths = code_paths(bundle, location)
                if not paths:
                    raise ArtifactRejected(f"template: {logical_id}: {location!r} holds no files")
                archive = write_deterministic_zip(bundle, paths, out)
            key = f"{prefix}/{archive.digest}{archive.suffix}"
            out.seek(0)
            content_type = "application/zip" if archive.suffix in ARCHIVE_SUFFIXES else "application/octet-stream"
            store.put_if_absent(bucket, key, out, content_type=content_type)
        stored.append(key)
        return StoredCode(key=key, digest=archive.digest)

    return store_code


def _target_parameters(request: DeploymentRequest, code_parameters: dict[str, str]) -> dict[str, str]:
    assert request.target is not None
    target = request.target.parameter_strings()
    clash = sorted(set(target) & set(code_parameters))
    if clash:
        raise ConfigurationError(
            f"stepdeploy.yml: targets (stack {request.target.stack}).parameters: {', '.join(clash)} "
            f"{'is' if len(clash) == 1 else 'are'} reserved for code locations (the {BUCKET_PARAMETER} and "
            "<LogicalId>CodeKey/<LogicalId>ImageUri parameters stepdeploy adds); rename"
        )
    return target


def _managed(request: DeploymentRequest) -> Callable[[str], bool]:
    """The functions stepdeploy shifts: deployment.functions, or every function but the hooks."""
    if request.target is None:
        return lambda logical_id: True
    deployment = request.target.deployment
    if deployment.functions is not None:
        chosen = set(deployment.functions)
        return lambda logical_id: logical_id in chosen
    hooks = set(deployment.hooks.names())
    return lambda logical_id: logical_id not in hooks


def check_images_in_region(code_keys: dict[str, str], parameters: dict[str, str], stage: Stage) -> None:
    """Lambda pulls a function's image only from ECR in its own region: an image of another region (the
    orchestrator's, where builds push) is refused, naming the function and both regions."""
    for logical_id, uri in sorted(code_keys.items()):
        if f"{logical_id}ImageUri" not in parameters:
            continue
        region = image_region(uri)
        if region != stage.region:
            found = f"in {region}" if region else "not in an ECR repository"
            raise ArtifactRejected(
                f"template: {logical_id}: its image {uri} is {found}, but the stage deploys in {stage.region} "
                f"(account {stage.account}) and Lambda pulls images only from ECR in its own region; container-"
                "image functions in another region than the orchestrator's are not supported: deploy this target "
                "in the orchestrator's region or package the function as a zip"
            )


def copy_to_region(stage: Stage, source_bucket: str, keys: list[str]) -> None:
    """Copy the stored keys into the stage's code bucket (as the stage role: its region, its account)."""
    regional = ArtifactStore(stage_client("s3"))
    for key in dict.fromkeys(keys):
        with translate_aws_errors(f"copy s3://{source_bucket}/{key} to s3://{stage.code_bucket}"):
            regional.copy_if_absent(S3Object(bucket=source_bucket, key=key), stage.code_bucket)


def package_artifact(document: Document, execution: ExecutionContext) -> ArtifactInfo:
    request = document.require_request()
    bucket = settings().artifact_bucket
    if not bucket:
        raise RuntimeError("ARTIFACT_BUCKET is not set; the template sets it for every function")
    store = ArtifactStore(client("s3"))
    source = source_artifact(document, request)
    head = store.head(source)
    limits = settings().limits
    if head.size > limits.max_bytes:
        raise ArtifactRejected(f"{source.uri} is {head.size} bytes; at most {limits.max_bytes} (MAX_ARTIFACT_BYTES)")
    pinned = source.model_copy(update={"version_id": source.version_id or head.version_id})
    repo = repository_path(request)
    stored: list[str] = []
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as raw:
        sha = store.download(pinned, raw)
        if request.source == "s3":
            check_upload_sha256(head, sha, source)
        else:
            assert document.build is not None  # source_artifact refused a request without it
            check_build_output(document.build, sha, pinned)
            if "sha256" in head.metadata:
                check_object_sha256(head.metadata["sha256"], sha, source.uri)
        bundle = open_bundle(raw, limits)
        template_path = posixpath.normpath(request.template_path).lstrip("/")
        if not bundle.has_file(template_path):
            raise ArtifactRejected(
                f"the bundle has no {template_path} (request.template_path); expected the SAM template"
            )
        try:
            template = cfn_yaml.load(bundle.read(template_path))
        except cfn_yaml.TemplateError as exc:
            raise ArtifactRejected(f"{template_path}: {exc}") from None
        packaged = package_template(
            template,
            template_dir=posixpath.dirname(template_path),
            bucket=bucket,
            store=_store_code(bundle, store, bucket, f"artifacts/{repo}", stored),
            existing=lambda path: _existing(bundle, path),
            mutable_tags=mutable_tags_for(request.branch),
            permissions_boundary=deploy_names().permissions_boundary_arn,
            template_name=template_path,
            alias=request.target.deployment.alias if request.target else None,
            managed=_managed(request),
        )
    check_packaged_template(request, packaged.template, set(packaged.parameters))
    text = cfn_yaml.dump_json(packaged.template).encode()
    template_sha = hashlib.sha256(text).hexdigest()
    template_key = f"templates/{repo}/{template_sha}.json"
    store.put_if_absent(bucket, template_key, text, content_type="application/json")
    parameters = {**packaged.parameters, **_target_parameters(request, packaged.parameters)}
    stage = current_stage()
    regional_copy = None
    if stage is not None and in_another_region(stage):
        check_images_in_region(packaged.code_keys, packaged.parameters, stage)
        copy_to_region(stage, bucket, [*stored, template_key])
        regional_copy = S3Object(bucket=stage.code_bucket, key=template_key)
        if BUCKET_PARAMETER in parameters:
            parameters[BUCKET_PARAMETER] = stage.code_bucket
    return ArtifactInfo(
        bundle=pinned,
        digest=bundle_digest(packaged.code_hashes, template_sha),
        template=S3Object(bucket=bucket, key=template_key),
        parameters=parameters,
        code_keys=packaged.code_keys,
        aliased_functions=packaged.wiring.functions if packaged.wiring else [],
        deployment_preferences={
            lid: preference.model_dump()
            for lid, preference in (packaged.wiring.preferences if packaged.wiring else {}).items()
        },
        preference_hooks=packaged.wiring.hooks if packaged.wiring else [],
        regional_copy=regional_copy,
    )
