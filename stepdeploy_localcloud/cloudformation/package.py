"""What `sam package` does for local code, without the SAM CLI.

Local code and definition files referenced by a template are zipped (or, for definition
files, uploaded as they are) to S3 under their content hash, and the template is rewritten
to point at the uploaded objects. Zips are deterministic: the same content gives the same
bytes and therefore the same key, so an unchanged function yields no change set changes.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"

# Fixed zip entry timestamp (the earliest a zip can hold) so that equal content gives equal bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".aws-sam", ".pytest_cache", ".mypy_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_ARCHIVE_SUFFIXES = (".zip", ".jar")


class PackagingError(RuntimeError):
    """A local artifact of the template could not be built or uploaded."""


# --------------------------------------------------------------------------------------
# Templates: JSON or YAML with CloudFormation's short-form tags
# --------------------------------------------------------------------------------------


class _CfnYamlLoader(yaml.SafeLoader):
    """A YAML loader that reads a template as CloudFormation does.

    Short-form intrinsics (!Ref, !Sub, ...) become their long form (``!GetAtt A.B.C`` is
    ``["A", "B.C"]``: the resource's name ends at the first dot), dates stay strings, and a key
    written twice in one mapping keeps its last value: CloudFormation accepts such a template
    (validate-template passes; the last one is deployed). The orchestrator's own loader is
    stricter on purpose; the emulator is not.
    """


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


def _construct_timestamp_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # CloudFormation reads 2010-09-09 as a string, YAML 1.1 as a date.
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)
_CfnYamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


def load_template(text: str) -> dict[str, Any]:
    """Parse a template body (JSON, or YAML with short-form tags) into long-form dicts."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = yaml.load(text, Loader=_CfnYamlLoader)  # noqa: S506 - safe loader subclass
    else:
        loaded = yaml.load(text, Loader=_CfnYamlLoader)  # noqa: S506 - safe loader subclass
    if not isinstance(loaded, dict):
        raise ValueError("a template must be a JSON or YAML object")
    return loaded


def load_template_file(path: Path) -> dict[str, Any]:
    return load_template(Path(path).read_text(encoding="utf-8"))


def dump_template(template: dict[str, Any], fmt: str = "yaml") -> str:
    """Serialise a (long-form) template as YAML or JSON."""
    if fmt == "json":
        return json.dumps(template, indent=2)
    if fmt == "yaml":
        return yaml.safe_dump(template, sort_keys=False, default_flow_style=False, width=120)
    raise ValueError(f"unknown template format {fmt!r}: expected 'yaml' or 'json'")


def has_serverless_transform(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SERVERLESS_TRANSFORM in names


# --------------------------------------------------------------------------------------
# Deterministic archives
# --------------------------------------------------------------------------------------


def _files_under(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if not name.endswith(_SKIPPED_SUFFIXES):
                yield Path(root) / name


def _add_entry(archive: zipfile.ZipFile, arcname: str, path: Path) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if os.access(path, os.X_OK) else 0o644
    info.external_attr = (0o100000 | mode) << 16
    archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def deterministic_zip(source: Path) -> bytes:
    """Zip a directory (or a single file) with sorted entries and fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if source.is_file():
            _add_entry(archive, source.name, source)
        else:
            entries = sorted((p.relative_to(source).as_posix(), p) for p in _files_under(source))
            for arcname, path in entries:
                _add_entry(archive, arcname, path)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# Packaging
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Uploader:
    bucket: str
    s3_client: Any
    prefix: str

    def upload(self, body: bytes) -> str:
        """Store body under its sha256 (once) and return the key."""
        key = f"{self.prefix}{hashlib.sha256(body).hexdigest()}"
        if not self._exists(key):
            self.s3_client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key

    def _exists(self, key: str) -> bool:
        try:
            self.s3_client.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:  # botocore ClientError: 404 / NoSuchKey
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "://" not in value


def _resolve_local(base_dir: Path, value: str, what: str) -> Path:
    path = (base_dir / value).resolve()
    if not path.exists():
        raise PackagingError(f"{what}: local path {value!r} does not exist (looked for {path})")
    return path


def _run_makefile_build(source_dir: Path, logical_id: str, artifacts_dir: Path) -> None:
    env = dict(os.environ, ARTIFACTS_DIR=str(artifacts_dir), STEPDEPLOY_LOCAL_BUILD="1")
    target = f"build-{logical_id}"
    result = subprocess.run(  # noqa: S603
        ["make", target],  # noqa: S607
        cwd=source_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-2000:]
        raise PackagingError(
            f"{logical_id}: `make {target}` in {source_dir} failed with exit code {result.returncode}: {tail}"
        )


class _Packager:
    def __init__(self, base_dir: Path, uploader: _Uploader) -> None:
        self.base_dir = base_dir
        self.uploader = uploader

    def s3_uri(self, key: str) -> str:
        return f"s3://{self.uploader.bucket}/{key}"

    def code_archive(self, logical_id: str, value: str, metadata: dict[str, Any]) -> str:
        """Zip (building first when the resource asks for a makefile build) and upload; return the key."""
        source = _resolve_local(self.base_dir, value, logical_id)
        if metadata.get("BuildMethod") == "makefile":
            if not source.is_dir():
                raise PackagingError(f"{logical_id}: BuildMethod makefile needs a directory, got {source}")
            with tempfile.TemporaryDirectory(prefix=f"stepdeploy-build-{logical_id}-") as artifacts:
                _run_makefile_build(source, logical_id, Path(artifacts))
                return self.uploader.upload(deterministic_zip(Path(artifacts)))
        if source.is_file() and source.suffix.lower() in _ARCHIVE_SUFFIXES:
            return self.uploader.upload(source.read_bytes())
        return self.uploader.upload(deterministic_zip(source))

    def raw_file(self, logical_id: str, value: str) -> str:
        source = _resolve_local(self.base_dir, value, logical_id)
        if not source.is_file():
            raise PackagingError(f"{logical_id}: expected a file, got the directory {source}")
        return self.uploader.upload(source.read_bytes())


# (resource type, property, how to package, how to write the location back)
_CodeRewriter = Callable[[_Packager, str, dict[str, Any], dict[str, Any]], None]


def _serverless_code(prop: str, *, raw: bool = False) -> _CodeRewriter:
    def rewrite(packager: _Packager, logical_id: str, props: dict[str, Any], meta: dict[str, Any]) -> None:
        value = props.get(prop)
        if not _is_local(value):
            return
        key = packager.raw_file(logical_id, value) if raw else packager.code_archive(logical_id, value, meta)
        props[prop] = packager.s3_uri(key)

    return rewrite


def _cfn_code(prop: str, bucket_field: str, key_field: str, *, raw: bool = False) -> _CodeRewriter:
    def rewrite(packager: _Packager, logical_id: str, props: dict[str, Any], meta: dict[str, Any]) -> None:
        value = props.get(prop)
        if not _is_local(value):
            return
        key = packager.raw_file(logical_id, value) if raw else packager.code_archive(logical_id, value, meta)
        props[prop] = {bucket_field: packager.uploader.bucket, key_field: key}

    return rewrite


_REWRITERS: dict[str, list[_CodeRewriter]] = {
    "AWS::Serverless::Function": [_serverless_code("CodeUri")],
    "AWS::Serverless::LayerVersion": [_serverless_code("ContentUri")],
    "AWS::Serverless::StateMachine": [_serverless_code("DefinitionUri", raw=True)],
    "AWS::Serverless::Api": [_serverless_code("DefinitionUri", raw=True)],
    "AWS::Serverless::HttpApi": [_serverless_code("DefinitionUri", raw=True)],
    "AWS::Lambda::Function": [_cfn_code("Code", "S3Bucket", "S3Key")],
    "AWS::Lambda::LayerVersion": [_cfn_code("Content", "S3Bucket", "S3Key")],
    "AWS::StepFunctions::StateMachine": [_cfn_code("DefinitionS3Location", "Bucket", "Key", raw=True)],
    "AWS::ApiGateway::RestApi": [_cfn_code("BodyS3Location", "Bucket", "Key", raw=True)],
}


def package_template(
    template: dict[str, Any], base_dir: Path, bucket: str, s3_client: Any, *, prefix: str = ""
) -> dict[str, Any]:
    """Package an already-parsed template whose relative paths are relative to base_dir."""
    packaged = copy.deepcopy(template)
    packager = _Packager(Path(base_dir).resolve(), _Uploader(bucket, s3_client, prefix))
    resources: dict[str, Any] = packaged.get("Resources") or {}
    global_function = (packaged.get("Globals") or {}).get("Function") or {}

    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        resource_type = resource.get("Type", "")
        props = resource.setdefault("Properties", {}) if resource_type in _REWRITERS else None
        if props is None:
            continue
        metadata = resource.get("Metadata") or {}
        if (
            resource_type == "AWS::Serverless::Function"
            and "CodeUri" not in props
            and "InlineCode" not in props
            and "ImageUri" not in props
            and _is_local(global_function.get("CodeUri"))
        ):
            # The function's code comes from Globals: package it for this function.
            props["CodeUri"] = global_function["CodeUri"]
        for rewrite in _REWRITERS[resource_type]:
            rewrite(packager, logical_id, props, metadata)

    if _is_local(global_function.get("CodeUri")):
        key = packager.code_archive("Globals.Function", global_function["CodeUri"], {})
        global_function["CodeUri"] = packager.s3_uri(key)
    return packaged


def package(template_path: Path, bucket: str, s3_client: Any, *, prefix: str = "") -> dict[str, Any]:
    """`sam package` for local code: upload artifacts to s3://bucket/prefix<sha256>, return the template."""
    template_path = Path(template_path)
    template = load_template_file(template_path)
    return package_template(template, template_path.parent, bucket, s3_client, prefix=prefix)
