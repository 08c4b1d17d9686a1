"""S3: the artifact bucket (bundles in, content-addressed code and packaged templates out)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stepdeploy.aws import clients
from stepdeploy.aws.clients import error_code
from stepdeploy.errors import ArtifactRejected
from stepdeploy.models import S3Object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectHead:
    size: int
    metadata: dict[str, str]
    version_id: str | None
    checksum_sha256: str | None = None
    """S3's own ChecksumSHA256 (base64) when the object was uploaded with one."""


class ArtifactStore:
    def __init__(self, client: S3Client | None = None) -> None:
        self._s3 = client or clients.client("s3")

    @property
    def region(self) -> str:
        return str(self._s3.meta.region_name)

    def _version(self, obj: S3Object) -> dict[str, Any]:
        return {"VersionId": obj.version_id} if obj.version_id else {}

    def head(self, obj: S3Object) -> ObjectHead:
        """The object's size and metadata; ArtifactRejected if it is not there."""
        try:
            head = self._s3.head_object(
                Bucket=obj.bucket, Key=obj.key, ChecksumMode="ENABLED", **self._version(obj)
            )
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArtifactRejected(f"the artifact {obj.uri} does not exist") from None
            raise
        version = head.get("VersionId")
        return ObjectHead(
            size=int(head.get("ContentLength", 0)),
            metadata={k.lower(): v for k, v in (head.get("Metadata") or {}).items()},
            version_id=None if version in (None, "null") else version,
            checksum_sha256=head.get("ChecksumSHA256") or None,
        )

    def download(self, obj: S3Object, out: IO[bytes]) -> str:
        """Copy the object into ``out``; return the sha256 (hex) of what was read."""
        try:
            body = self._s3.get_object(Bucket=obj.bucket, Key=obj.key, **self._version(obj))["Body"]
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArtifactRejected(f"the artifact {obj.uri} does not exist") from None
            raise
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.seek(0)
        return digest.hexdigest()

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return False
            raise
        return True

    def put_if_absent(self, bucket: str, key: str, body: IO[bytes] | bytes, *, content_type: str) -> bool:
        """Upload unless the key exists (keys are content hashes: same key, same content)."""
        if self.exists(bucket, key):
            return False
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return True

    def read(self, obj: S3Object) -> bytes:
        return bytes(self._s3.get_object(Bucket=obj.bucket, Key=obj.key, **self._version(obj))["Body"].read())

    def copy_if_absent(self, source: S3Object, bucket: str) -> bool:
        """Copy ``source`` to the same key of ``bucket`` unless it is there (content-hash keys: same key, same
        content). S3 copies across regions and accounts when both policies allow it."""
        if self.exists(bucket, source.key):
            return False
        copied: CopySourceTypeDef = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copied["VersionId"] = source.version_id
        self._s3.copy_object(Bucket=bucket, Key=source.key, CopySource=copied)
        return True

    def https_url(self, obj: S3Object, region: str | None = None) -> str:
        """The URL CloudFormation reads a template from (virtual-hosted style), in ``region`` (default: the
        client's)."""
        region = region or self.region
        host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
        url = f"https://{obj.bucket}.{host}/{obj.key}"
        return f"{url}?versionId={obj.version_id}" if obj.version_id else url
