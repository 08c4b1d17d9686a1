"""The app's bundle: checks before use, deterministic code zips, and code locations as parameters.

A bundle is a zip of the app's build output: the SAM template, the code directories its
functions reference by relative CodeUri, and stepdeploy.yml. Nothing in it is trusted:

- members with absolute paths, ``..`` components, symlinks or other special files are refused;
- the expanded size and the compression ratio are bounded (zip bombs);
- if the bundle carries ``stepdeploy-manifest.json`` (``{"files": {"<path>": "<sha256 hex>"}}``,
  every other file listed), each file's hash must match.

Then each function's code is zipped deterministically (sorted entries, fixed timestamps, mode 0644
or 0755 for executables) and keyed by a hash of its content, and the template is rewritten so
that every code location is a parameter (DESIGN lesson 2): the template stays the same when
only code changes, and the same code keeps the same key, so an unchanged app gives a change set
with no changes.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import posixpath
import re
import stat
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeGuard

from stepdeploy.errors import ArtifactRejected
from stepdeploy.guards.permissions_boundary import apply_permissions_boundary
from stepdeploy.template.alias_wiring import Wiring, wire_aliases

MANIFEST = "stepdeploy-manifest.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_MEMBERS = 100_000
RATIO_CHECK_MIN_BYTES = 1 << 20
"""A single member is held to the ratio limit only from this expanded size on (tiny files compress oddly)."""

BUCKET_PARAMETER = "StepdeployArtifactBucket"
ARCHIVE_SUFFIXES = (".zip", ".jar")
_COPY_CHUNK = 1 << 20


# --- limits ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024**3
    max_ratio: float = 200.0
    """Set by MAX_ARTIFACT_BYTES and MAX_COMPRESSION_RATIO (stepdeploy.settings.parse_limits)."""


# --- member checks -----------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_path(name: str) -> str:
    """The member's normalized path, or ArtifactRejected if it could escape the extraction root."""
    if "\x00" in name:
        raise ArtifactRejected(f"bundle member {name!r}: NUL in the name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ArtifactRejected(f"bundle member {name!r}: absolute path; expected paths relative to the bundle root")
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".")]
    if ".." in parts:
        raise ArtifactRejected(f"bundle member {name!r}: '..' in the path; expected paths inside the bundle")
    return "/".join(parts)


def _unix_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF


def check_members(infos: list[zipfile.ZipInfo], limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """Refuse unsafe members and zip bombs; return the regular files by normalized path."""
    if len(infos) > MAX_MEMBERS:
        raise ArtifactRejected(f"bundle has {len(infos)} members; at most {MAX_MEMBERS} are allowed")
    files: dict[str, zipfile.ZipInfo] = {}
    expanded = compressed = 0
    for info in infos:
        path = _member_path(info.filename)
        mode = _unix_mode(info)
        if stat.S_ISLNK(mode):
            raise ArtifactRejected(f"bundle member {info.filename!r}: a symbolic link; links are refused")
        if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArtifactRejected(f"bundle member {info.filename!r}: a special file; expected files and directories")
        if info.flag_bits & 0x1:
            raise ArtifactRejected(f"bundle member {info.filename!r}: encrypted; expected a plain zip")
        if info.is_dir() or stat.S_ISDIR(mode):
            continue
        if not path:
            raise ArtifactRejected(f"bundle member {info.filename!r}: empty path")
        if path in files:
            raise ArtifactRejected(f"bundle member {info.filename!r}: the path {path!r} appears twice")
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArtifactRejected(
                f"bundle member {info.filename!r}: expands {info.file_size} bytes from {info.compress_size} "
                f"(ratio above {limits.max_ratio:g}, MAX_COMPRESSION_RATIO); refused as a likely zip bomb"
            )
        files[path] = info
        expanded += info.file_size
        compressed += info.compress_size
    if expanded > limits.max_bytes:
        raise ArtifactRejected(
            f"bundle expands to {expanded} bytes; at most {limits.max_bytes} (MAX_ARTIFACT_BYTES) are allowed"
        )
    if expanded > limits.max_ratio * max(compressed, 1) and expanded >= RATIO_CHECK_MIN_BYTES:
        raise ArtifactRejected(
            f"bundle expands {expanded} bytes from {compressed} (ratio above {limits.max_ratio:g}, "
            "MAX_COMPRESSION_RATIO); refused as a likely zip bomb"
        )
    return files


def _is_executable(info: zipfile.ZipInfo) -> bool:
    return bool(_unix_mode(info) & 0o111)


class Bundle:
    """A checked bundle: regular files by normalized path; reads are bounded by the checked sizes."""

    def __init__(self, archive: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo]) -> None:
        self._archive = archive
        self.files = files

    def has_file(self, path: str) -> bool:
        return path in self.files

    def files_under(self, directory: str) -> list[str]:
        if directory in ("", "."):
            return sorted(self.files)
        prefix = directory.rstrip("/") + "/"
        return sorted(p for p in self.files if p.startswith(prefix))

    def open(self, path: str) -> IO[bytes]:
        return self._archive.open(self.files[path])

    def read(self, path: str) -> bytes:
        try:
            with self.open(path) as member:
                return member.read()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArtifactRejected(f"bundle member {path!r} is corrupt: {exc}") from None

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        try:
            with self.open(path) as member:
                for chunk in iter(lambda: member.read(_COPY_CHUNK), b""):
                    digest.update(chunk)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArtifactRejected(f"bundle member {path!r} is corrupt: {exc}") from None
        return digest.hexdigest()

    def is_executable(self, path: str) -> bool:
        return _is_executable(self.files[path])


def open_bundle(fileobj: IO[bytes], limits: Limits) -> Bundle:
    """Open and check a bundle zip (members, sizes, then the manifest if there is one)."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactRejected(f"the artifact is not a zip file: {exc}") from None
    bundle = Bundle(archive, check_members(archive.infolist(), limits))
    if bundle.has_file(MANIFEST):
        verify_manifest(bundle)
    return bundle


def verify_manifest(bundle: Bundle) -> None:
    try:
        manifest = json.loads(bundle.read(MANIFEST))
        listed = manifest["files"]
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ArtifactRejected(
            f'{MANIFEST}: expected {{"files": {{"<path>": "<sha256 hex>", ...}}}} listing every file of the bundle'
        ) from None
    listed = {_member_path(p): v.lower() for p, v in listed.items()}
    present = set(bundle.files) - {MANIFEST}
    missing = sorted(set(listed) - present)
    unlisted = sorted(present - set(listed))
    if missing:
        raise ArtifactRejected(f"{MANIFEST}: lists files the bundle does not have: {', '.join(missing[:5])}")
    if unlisted:
        raise ArtifactRejected(f"{MANIFEST}: the bundle has files it does not list: {', '.join(unlisted[:5])}")
    wrong = [p for p in sorted(listed) if bundle.sha256(p) != listed[p]]
    if wrong:
        raise ArtifactRejected(f"{MANIFEST}: sha256 mismatch for {', '.join(wrong[:5])}; the bundle was altered")


def check_object_sha256(expected: str, actual_hex: str, where: str) -> None:
    """The S3 object's ``sha256`` metadata (hex, or base64 as S3's checksums use) must match."""
    value = expected.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        matches = value.lower() == actual_hex
    else:
        try:
            matches = base64.b64decode(value, validate=True) == bytes.fromhex(actual_hex)
        except (binascii.Error, ValueError):
            raise ArtifactRejected(f"{where}: metadata sha256 {value!r} is neither hex nor base64") from None
    if not matches:
        raise ArtifactRejected(f"{where}: content sha256 {actual_hex} does not match its metadata sha256 {value}")


# --- deterministic code zips -------------------------------------------------------------------
@dataclass(frozen=True)
class CodeArchive:
    digest: str
    """sha256 over the sorted (path, mode, content sha256) of the files: the S3 key's name."""
    suffix: str = ".zip"


def write_deterministic_zip(bundle: Bundle, paths: dict[str, str], out: IO[bytes]) -> CodeArchive:
    """Zip ``{archive path: bundle path}`` into ``out``: same content, same bytes, same digest."""
    tree = hashlib.sha256()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(paths):
            source = paths[name]
            executable = bundle.is_executable(source)
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = bundle.files[source].file_size
            content = hashlib.sha256()
            try:
                with bundle.open(source) as src, archive.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                    for chunk in iter(lambda: src.read(_COPY_CHUNK), b""):  # noqa: B023
                        content.update(chunk)
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError) as exc:
                raise ArtifactRejected(f"bundle member {source!r} is corrupt: {exc}") from None
            tree.update(f"{name}\0{'755' if executable else '644'}\0{content.hexdigest()}\n".encode())
    return CodeArchive(tree.hexdigest())


def copy_member(bundle: Bundle, path: str, out: IO[bytes]) -> CodeArchive:
    """A prebuilt archive or a definition file, uploaded as it is: keyed by its bytes' sha256."""
    digest = hashlib.sha256()
    try:
        with bundle.open(path) as src:
            for chunk in iter(lambda: src.read(_COPY_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactRejected(f"bundle member {path!r} is corrupt: {exc}") from None
    return CodeArchive(digest.hexdigest(), posixpath.splitext(path)[1] or ".bin")


def code_paths(bundle: Bundle, location: str) -> dict[str, str]:
    """Archive path -> bundle path for a CodeUri: a directory's files, or one plain file."""
    if bundle.has_file(location):
        return {posixpath.basename(location): location}
    files = bundle.files_under(location)
    strip = len(location.rstrip("/")) + 1 if location not in ("", ".") else 0
    return {path[strip:]: path for path in files}


# --- code locations as parameters --------------------------------------------------------------
@dataclass(frozen=True)
class StoredCode:
    key: str
    digest: str


Store = Callable[[str, str, str], StoredCode]
"""(logical id, bundle path, kind: "code" | "file") -> where it was stored and its content hash."""


@dataclass
class PackagedTemplate:
    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    code_keys: dict[str, str] = field(default_factory=dict)
    code_hashes: dict[str, str] = field(default_factory=dict)
    wiring: Wiring | None = None


_DIGEST_PIN = re.compile(r"@sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_image_uri(uri: Any, where: str, mutable_tags: frozenset[str]) -> None:
    """A container image must be pinned: a digest, or a tag unique per build (DESIGN lesson 7)."""
    if not isinstance(uri, str):
        return  # an intrinsic function: resolved by CloudFormation, nothing to check here
    host, _, rest = uri.partition("/")
    if not rest or not ("." in host or ":" in host):
        raise ArtifactRejected(
            f"{where}: {uri!r} is not a registry URI; expected <registry>/<repository>@sha256:<digest>"
        )
    if _DIGEST_PIN.search(uri):
        return
    last = rest.rsplit("/", 1)[-1]
    name, colon, tag = last.partition(":")
    if not colon:
        raise ArtifactRejected(
            f"{where}: {uri!r} has no tag, which means :latest; expected the image's digest "
            "(@sha256:...) or a tag unique to this build"
        )
    if not _TAG.match(tag):
        raise ArtifactRejected(f"{where}: {uri!r} has an invalid tag {tag!r}")
    if tag in mutable_tags:
        raise ArtifactRejected(
            f"{where}: {uri!r} uses the moving tag {tag!r}; the same tag for new code gives CloudFormation "
            "no change to deploy. Expected the image's digest (@sha256:...) or a tag unique to this build"
        )


def mutable_tags_for(branch: str | None) -> frozenset[str]:
    tags = {"latest"}
    if branch:
        tags |= {branch, branch.replace("/", "-")}
    return frozenset(tags)


def _is_local(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and not re.match(r"^(s3|https?)://", value)


def _resolve(template_dir: str, value: str, where: str) -> str:
    joined = posixpath.normpath(posixpath.join(template_dir or ".", value))
    if joined.startswith("/") or joined == ".." or joined.startswith("../"):
        raise ArtifactRejected(f"{where}: {value!r} points outside the bundle")
    return "" if joined == "." else joined


class _Packager:
    def __init__(
        self,
        template: dict[str, Any],
        template_dir: str,
        bucket: str,
        store: Store,
        mutable_tags: frozenset[str],
        existing_files: Callable[[str], bool],
    ) -> None:
        self.template = template
        self.template_dir = template_dir
        self.store = store
        self.mutable_tags = mutable_tags
        self.exists = existing_files
        self.bucket = bucket
        self.result = PackagedTemplate(template)
        self.declared = template.setdefault("Parameters", {})
        if not isinstance(self.declared, dict):
            raise ArtifactRejected("template: Parameters must be a mapping")

    def bucket_ref(self) -> dict[str, str]:
        if BUCKET_PARAMETER not in self.result.parameters:
            self.add_parameter(BUCKET_PARAMETER, self.bucket, "Bucket of the code stepdeploy packaged.")
        return {"Ref": BUCKET_PARAMETER}

    def add_parameter(self, name: str, value: str, description: str) -> dict[str, str]:
        if name in self.declared:
            raise ArtifactRejected(
                f"template: parameter {name!r} is reserved by stepdeploy for code locations; rename yours"
            )
        self.declared[name] = {"Type": "String", "Description": description}
        self.result.parameters[name] = value
        return {"Ref": name}

    def code(self, logical_id: str, value: str, where: str) -> tuple[dict[str, str], dict[str, str]]:
        """Store local code; return (bucket ref, key ref)."""
        location = _resolve(self.template_dir, value, where)
        if not self.exists(location):
            raise ArtifactRejected(f"{where}: {value!r} is not in the bundle (looked for {location or '.'!r})")
        stored = self.store(logical_id, location, "code")
        self.result.code_keys[logical_id] = stored.key
        self.result.code_hashes[logical_id] = stored.digest
        key = self.add_parameter(f"{logical_id}CodeKey", stored.key, f"S3 key of {logical_id}'s code (content hash).")
        return self.bucket_ref(), key

    def image(self, logical_id: str, uri: Any, where: str) -> Any:
        check_image_uri(uri, where, self.mutable_tags)
        if not isinstance(uri, str):
            return uri
        self.result.code_keys[logical_id] = uri
        self.result.code_hashes[logical_id] = hashlib.sha256(uri.encode()).hexdigest()
        return self.add_parameter(f"{logical_id}ImageUri", uri, f"Container image of {logical_id}.")

    def raw_file(self, logical_id: str, value: str, where: str) -> dict[str, Any]:
        location = _resolve(self.template_dir, value, where)
        if not self.exists(location):
            raise ArtifactRejected(f"{where}: {value!r} is not in the bundle (looked for {location!r})")
        stored = self.store(logical_id, location, "file")
        self.result.code_hashes[f"{logical_id}#definition"] = stored.digest
        return {"Bucket": self.bucket_ref(), "Key": stored.key}


_DEFINITION_URIS = {
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}
_UNSUPPORTED_LOCAL = {
    "AWS::Serverless::Application": "Location",
    "AWS::CloudFormation::Stack": "TemplateURL",
    "AWS::Serverless::GraphQLApi": "SchemaUri",
}


def package_template(
    template: dict[str, Any],
    *,
    template_dir: str,
    bucket: str,
    store: Store,
    existing: Callable[[str], bool],
    mutable_tags: frozenset[str] = frozenset({"latest"}),
    permissions_boundary: str = "",
    template_name: str = "template",
    alias: str | None = None,
    managed: Callable[[str], bool] = lambda logical_id: True,
) -> PackagedTemplate:
    """Rewrite a copy of ``template`` so every local code location is stored and a parameter.

    ``existing(path)`` says whether a bundle path (file or directory) exists; ``store`` uploads it.
    With ``permissions_boundary`` (an IAM policy ARN), the template is first checked and given that
    boundary on every role it creates (stepdeploy.guards.permissions_boundary), before anything is stored.
    With ``alias``, every event source of each ``managed(logical_id)`` function invokes that alias
    (stepdeploy.template.alias_wiring).
    """
    template = copy.deepcopy(template)
    if permissions_boundary:
        apply_permissions_boundary(template, permissions_boundary, name=template_name)
    packager = _Packager(template, template_dir, bucket, store, mutable_tags, existing)
    globals_ = template.get("Globals", {}).get("Function", {}) if isinstance(template.get("Globals"), dict) else {}
    if not isinstance(template.get("Resources"), dict):
        raise ArtifactRejected("template: Resources must be a mapping of logical ids to resources")
    resources: dict[str, Any] = template["Resources"]
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            raise ArtifactRejected(f"template: resource {logical_id} must be a mapping")
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if not isinstance(props, dict):
            raise ArtifactRejected(f"template: {logical_id}.Properties must be a mapping")
        where = f"template: {logical_id}"
        if kind == "AWS::Serverless::Function":
            _serverless_function(packager, logical_id, props, globals_, where)
        elif kind == "AWS::Lambda::Function":
            _lambda_function(packager, logical_id, props, where)
        elif kind == "AWS::Serverless::LayerVersion" and _is_local(props.get("ContentUri")):
            bucket_ref, key_ref = packager.code(logical_id, props["ContentUri"], f"{where}.ContentUri")
            props["ContentUri"] = {"Bucket": bucket_ref, "Key": key_ref}
        elif kind == "AWS::Lambda::LayerVersion" and _is_local(props.get("Content")):
            bucket_ref, key_ref = packager.code(logical_id, props["Content"], f"{where}.Content")
            props["Content"] = {"S3Bucket": bucket_ref, "S3Key": key_ref}
        elif kind in _DEFINITION_URIS and _is_local(props.get(_DEFINITION_URIS[kind])):
            prop = _DEFINITION_URIS[kind]
            props[prop] = packager.raw_file(logical_id, props[prop], f"{where}.{prop}")
        elif kind in _UNSUPPORTED_LOCAL and _is_local(props.get(_UNSUPPORTED_LOCAL[kind])):
            prop = _UNSUPPORTED_LOCAL[kind]
            raise ArtifactRejected(
                f"{where}.{prop}: local paths are not packaged here; use an s3:// or https:// location"
            )
    if _is_local(globals_.get("CodeUri")):
        del globals_["CodeUri"]  # every function that used it now has its own CodeUri
    if alias is not None:
        packager.result.wiring = wire_aliases(template, alias=alias, managed=managed)
    return packager.result


def _serverless_function(
    packager: _Packager, logical_id: str, props: dict[str, Any], globals_: dict[str, Any], where: str
) -> None:
    package_type = props.get("PackageType", globals_.get("PackageType", "Zip"))
    if package_type == "Image":
        uri = props.get("ImageUri", globals_.get("ImageUri"))
        if uri is None:
            raise ArtifactRejected(f"{where}: PackageType Image without ImageUri")
        props["ImageUri"] = packager.image(logical_id, uri, f"{where}.ImageUri")
        return
    if "InlineCode" in props:
        return
    # No CodeUri anywhere means the template's folder, as the SAM CLI reads it.
    code_uri = props.get("CodeUri", globals_.get("CodeUri", "."))
    if _is_local(code_uri):
        bucket_ref, key_ref = packager.code(logical_id, code_uri, f"{where}.CodeUri")
        props["CodeUri"] = {"Bucket": bucket_ref, "Key": key_ref}


def _lambda_function(packager: _Packager, logical_id: str, props: dict[str, Any], where: str) -> None:
    code = props.get("Code")
    if _is_local(code):
        bucket_ref, key_ref = packager.code(logical_id, code, f"{where}.Code")
        props["Code"] = {"S3Bucket": bucket_ref, "S3Key": key_ref}
    elif isinstance(code, dict) and "ImageUri" in code:
        code["ImageUri"] = packager.image(logical_id, code["ImageUri"], f"{where}.Code.ImageUri")


def bundle_digest(code_hashes: Mapping[str, str], template_sha256: str) -> str:
    """One hash for what is deployed: the sorted code hashes and the packaged template."""
    lines = [f"{logical_id}={digest}" for logical_id, digest in sorted(code_hashes.items())]
    lines.append(f"template={template_sha256}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
