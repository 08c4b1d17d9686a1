"""Bundle checks (hostile zips), deterministic code zips and the S3 checksum."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest

from stepdeploy.errors import ArtifactRejected
from stepdeploy.settings import parse_limits
from stepdeploy.template.bundle import (
    MANIFEST,
    Limits,
    check_object_sha256,
    code_paths,
    open_bundle,
    write_deterministic_zip,
)

pytestmark = pytest.mark.unit


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def info(name: str, mode: int) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name)
    entry.create_system = 3
    entry.external_attr = mode << 16
    return entry


DEFAULT_LIMITS = Limits()


def rejected(buffer: io.BytesIO, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(ArtifactRejected) as caught:
        open_bundle(buffer, limits)
    return str(caught.value)


def test_a_plain_bundle_opens_with_normalized_paths():
    bundle = open_bundle(
        make_zip(
            [("template.yaml", b"Resources: {}"), ("src/", b""), ("./src/app.py", b"x = 1"), ("stepdeploy.yml", b"")]
        ),
        Limits(),
    )
    assert sorted(bundle.files) == ["src/app.py", "stepdeploy.yml", "template.yaml"]
    assert bundle.read("src/app.py") == b"x = 1"


@pytest.mark.parametrize("name", ["/etc/passwd", "\\windows\\system.ini", "C:/boot.ini"])
def test_absolute_paths_are_refused(name):
    assert "absolute path" in rejected(make_zip([(name, b"x")]))


@pytest.mark.parametrize("name", ["../escape.py", "src/../../escape.py", "src\\..\\..\\escape.py"])
def test_parent_components_are_refused(name):
    assert "'..'" in rejected(make_zip([(name, b"x")]))


def test_symlinks_are_refused():
    message = rejected(make_zip([("src/app.py", b"x"), (info("src/link", 0o120777), b"/etc/passwd")]))
    assert "symbolic link" in message and "src/link" in message


def test_special_files_are_refused():
    assert "special file" in rejected(make_zip([(info("dev/null", 0o020644), b"")]))


def test_the_same_path_twice_is_refused():
    assert "appears twice" in rejected(make_zip([("a/b.py", b"1"), ("a//b.py", b"2")]))


def test_encrypted_members_are_refused():
    entry = zipfile.ZipInfo("secret.py")
    buffer = make_zip([(entry, b"x")])
    raw = bytearray(buffer.getvalue())
    # Set the "encrypted" flag bit in both the local and the central directory headers.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = raw.find(signature)
        raw[position + offset] |= 0x01
    assert "encrypted" in rejected(io.BytesIO(bytes(raw)))


def test_a_zip_bomb_member_is_refused_by_its_ratio():
    bomb = make_zip([("src/zeros.bin", b"\0" * (8 << 20))])
    message = rejected(bomb, Limits(max_ratio=200))
    assert "zip bomb" in message and "MAX_COMPRESSION_RATIO" in message


def test_the_ratio_limit_is_configurable():
    zeros = make_zip([("src/zeros.bin", b"\0" * (8 << 20))])
    assert open_bundle(zeros, Limits(max_ratio=5000)).has_file("src/zeros.bin")


def test_the_expanded_size_is_bounded():
    message = rejected(
        make_zip([("a.bin", b"a" * 600), ("b.bin", b"b" * 600)], zipfile.ZIP_STORED), Limits(max_bytes=1000)
    )
    assert "expands to 1200 bytes" in message and "MAX_ARTIFACT_BYTES" in message


def test_a_lying_size_header_cannot_expand_past_it():
    buffer = make_zip([("src/app.py", b"A" * 5000)])
    raw = bytearray(buffer.getvalue())
    # Claim 10 expanded bytes in the central directory (uncompressed size at offset 24).
    central = raw.find(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (10).to_bytes(4, "little")
    bundle = open_bundle(io.BytesIO(bytes(raw)), Limits())
    with pytest.raises(ArtifactRejected, match="corrupt"):
        bundle.read("src/app.py")


def test_not_a_zip_is_refused():
    assert "not a zip" in rejected(io.BytesIO(b"PK but not really a zip"))


def manifest_for(files: dict[str, bytes]) -> bytes:
    return json.dumps({"files": {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}}).encode()


def test_a_matching_manifest_passes():
    files = {"template.yaml": b"Resources: {}", "src/app.py": b"x = 1"}
    bundle = open_bundle(make_zip([*files.items(), (MANIFEST, manifest_for(files))]), Limits())
    assert bundle.has_file("src/app.py")


def test_a_manifest_hash_mismatch_is_refused():
    files = {"template.yaml": b"Resources: {}", "src/app.py": b"x = 1"}
    tampered = {**files, "src/app.py": b"x = 2"}
    message = rejected(make_zip([*tampered.items(), (MANIFEST, manifest_for(files))]))
    assert "sha256 mismatch for src/app.py" in message


def test_a_file_the_manifest_does_not_list_is_refused():
    files = {"template.yaml": b"Resources: {}"}
    message = rejected(make_zip([*files.items(), ("src/extra.py", b""), (MANIFEST, manifest_for(files))]))
    assert "does not list: src/extra.py" in message


def test_a_malformed_manifest_is_refused():
    assert "expected" in rejected(make_zip([("a.py", b""), (MANIFEST, b"[1, 2]")]))


def test_object_sha256_metadata_in_hex_or_base64():
    digest = hashlib.sha256(b"bundle").digest()
    check_object_sha256(digest.hex(), digest.hex(), "s3://b/k")
    check_object_sha256(digest.hex().upper(), digest.hex(), "s3://b/k")
    check_object_sha256(base64.b64encode(digest).decode(), digest.hex(), "s3://b/k")
    with pytest.raises(ArtifactRejected, match="does not match its metadata sha256"):
        check_object_sha256(hashlib.sha256(b"other").hexdigest(), digest.hex(), "s3://b/k")


def test_limits_from_the_environment():
    assert parse_limits({}) == Limits(2 * 1024**3, 200.0)
    assert parse_limits({"MAX_ARTIFACT_BYTES": "1000", "MAX_COMPRESSION_RATIO": "50"}) == Limits(1000, 50.0)
    with pytest.raises(RuntimeError, match="MAX_COMPRESSION_RATIO"):
        parse_limits({"MAX_COMPRESSION_RATIO": "lots"})
    with pytest.raises(RuntimeError, match="MAX_ARTIFACT_BYTES"):
        parse_limits({"MAX_ARTIFACT_BYTES": "-1"})


# --- deterministic zips ------------------------------------------------------------------------
def bundle_of(entries: list[tuple[str | zipfile.ZipInfo, bytes]]):
    return open_bundle(make_zip(entries), Limits())


def zipped(bundle, location: str) -> tuple[bytes, str]:
    out = io.BytesIO()
    archive = write_deterministic_zip(bundle, code_paths(bundle, location), out)
    return out.getvalue(), archive.digest


def test_code_zips_are_deterministic_whatever_the_order_dates_and_modes():
    first = zipfile.ZipInfo("src/app.py", date_time=(2020, 5, 1, 12, 0, 0))
    first.external_attr = 0o100600 << 16
    one = bundle_of([(first, b"print(1)"), ("src/lib/util.py", b"u = 1"), ("template.yaml", b"")])
    two = bundle_of([("src/lib/util.py", b"u = 1"), ("src/app.py", b"print(1)")])
    bytes_one, digest_one = zipped(one, "src")
    bytes_two, digest_two = zipped(two, "src")
    assert bytes_one == bytes_two and digest_one == digest_two
    with zipfile.ZipFile(io.BytesIO(bytes_one)) as archive:
        assert archive.namelist() == ["app.py", "lib/util.py"]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {(i.external_attr >> 16) for i in archive.infolist()} == {0o100644}


def test_executables_keep_an_executable_mode_and_change_the_digest():
    plain = bundle_of([(info("src/bootstrap", 0o100644), b"#!/bin/sh")])
    executable = bundle_of([(info("src/bootstrap", 0o100700), b"#!/bin/sh")])
    data, digest = zipped(executable, "src")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("bootstrap").external_attr >> 16 == 0o100755
    assert digest != zipped(plain, "src")[1]


def test_different_content_gives_a_different_digest():
    assert zipped(bundle_of([("src/app.py", b"1")]), "src")[1] != zipped(bundle_of([("src/app.py", b"2")]), "src")[1]


def test_a_single_file_code_uri_zips_that_file():
    bundle = bundle_of([("handlers/one.py", b"1"), ("handlers/two.py", b"2")])
    assert code_paths(bundle, "handlers/one.py") == {"one.py": "handlers/one.py"}
    assert code_paths(bundle, "") == {"handlers/one.py": "handlers/one.py", "handlers/two.py": "handlers/two.py"}
