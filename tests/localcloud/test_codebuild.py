"""The local cloud's CodeBuild really builds (moto 5.2.5 says SUCCEEDED and runs nothing).

Every test goes through boto3 against the moto server, so it fails if moto's CodeBuild moves
under the adapter.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.codebuild import engine as codebuild
from stepdeploy_localcloud.codebuild import patch as codebuild_patch
from stepdeploy_localcloud.events import patch as events_patch
from tests.localcloud.event_shapes import assert_documented_shape

pytestmark = pytest.mark.localcloud

ROLE = "arn:aws:iam::123456789012:role/codebuild"
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}

FIRST_BUILDSPEC = """\
version: 0.2
env:
  variables:
    GREETING: from-first-commit
  exported-variables:
    - CLONE_DEPTH
    - BUILT_FROM
phases:
  build:
    commands:
      - mkdir -p dist
      - echo "$GREETING" > dist/result.txt
      - export CLONE_DEPTH=$(git rev-list --count HEAD)
      - export BUILT_FROM=$CODEBUILD_RESOLVED_SOURCE_VERSION
      - echo "$CLONE_DEPTH" > dist/depth.txt
artifacts:
  files:
    - dist/**/*
"""


@dataclass
class Repo:
    bare: Path
    first: str
    second: str


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A bare repository (the local GHE) with two commits; the second changes the buildspec."""
    root = tmp_path_factory.mktemp("ghe")
    bare = root / "acme" / "app.git"
    bare.parent.mkdir()
    _git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    work = root / "work"
    _git(root, "init", "-q", "-b", "main", str(work))
    _git(work, "config", "user.email", "dev@example.com")
    _git(work, "config", "user.name", "Dev")
    (work / "buildspec.yml").write_text(FIRST_BUILDSPEC)
    (work / "sub").mkdir()
    (work / "sub" / "marker.txt").write_text("in sub\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "first")
    first = _git(work, "rev-parse", "HEAD")
    (work / "buildspec.yml").write_text(FIRST_BUILDSPEC.replace("from-first-commit", "from-second-commit"))
    _git(work, "commit", "-qam", "second")
    second = _git(work, "rev-parse", "HEAD")
    _git(work, "push", "-q", str(bare), "main")
    return Repo(bare=bare, first=first, second=second)


@pytest.fixture()
def cloud(aws: Callable[[str], Any]) -> Callable[[str], Any]:
    codebuild_patch.apply()
    events_patch.apply()  # events reach targets as EventBridge delivers them
    return aws


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _project(cloud: Callable[[str], Any], repo: Repo, **overrides: Any) -> str:
    name = overrides.pop("name", None) or _unique("app")
    params: dict[str, Any] = {
        "name": name,
        "source": {"type": "GITHUB_ENTERPRISE", "location": str(repo.bare), "gitCloneDepth": 1},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": ENVIRONMENT,
        "serviceRole": ROLE,
    }
    params.update(overrides)
    cloud("codebuild").create_project(**params)
    return name


def _wait(cloud: Callable[[str], Any], build_id: str, timeout: float = 60.0) -> dict[str, Any]:
    client = cloud("codebuild")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = client.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"]:
            return build
        time.sleep(0.05)
    raise AssertionError(f"build {build_id} did not complete within {timeout}s")


def _phases(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["phaseType"]: p for p in build["phases"]}


def _log_text(cloud: Callable[[str], Any], build: dict[str, Any]) -> str:
    events = cloud("logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
    )["events"]
    return "\n".join(e["message"] for e in events)


def _exported(build: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in build.get("exportedEnvironmentVariables", [])}


@pytest.fixture()
def ghe_resolver(repo: Repo) -> Iterator[str]:
    url = "https://ghe.example.com/acme/app.git"
    codebuild.set_git_resolver(lambda location: str(repo.bare) if location == url else location)
    yield url
    codebuild.set_git_resolver(None)


def test_build_of_first_commit_runs_its_buildspec_and_uploads_a_zip(
    cloud: Callable[[str], Any], repo: Repo, ghe_resolver: str
) -> None:
    bucket = _unique("artifacts")
    cloud("s3").create_bucket(Bucket=bucket)
    name = _project(
        cloud,
        repo,
        source={"type": "GITHUB_ENTERPRISE", "location": ghe_resolver, "gitCloneDepth": 1},
        artifacts={"type": "S3", "location": bucket, "path": "builds", "name": "app.zip", "packaging": "ZIP"},
    )
    sqs = cloud("sqs")
    queue_url = sqs.create_queue(QueueName=_unique("events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = cloud("events")
    rule = _unique("builds")
    events.put_rule(
        Name=rule, EventPattern=json.dumps({"source": ["aws.codebuild"], "detail": {"project-name": [name]}})
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])

    started = cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first)["build"]
    assert started["buildStatus"] == "IN_PROGRESS" and started["buildComplete"] is False
    build = _wait(cloud, started["id"])

    assert build["buildStatus"] == "SUCCEEDED", _log_text(cloud, build)
    assert build["resolvedSourceVersion"] == repo.first != repo.second
    assert build["currentPhase"] == "COMPLETED" and build["endTime"] >= build["startTime"]
    assert [p["phaseType"] for p in build["phases"]] == list(codebuild.PHASE_ORDER)
    assert all(p.get("phaseStatus") == "SUCCEEDED" for p in build["phases"][:-1])
    assert _exported(build) == {"CLONE_DEPTH": "1", "BUILT_FROM": repo.first}

    body = cloud("s3").get_object(Bucket=bucket, Key="builds/app.zip")["Body"].read()
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["dist/depth.txt", "dist/result.txt"]
    assert archive.read("dist/result.txt") == b"from-first-commit\n"  # not HEAD's buildspec
    assert archive.read("dist/depth.txt") == b"1\n"
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/builds/app.zip"
    assert build["artifacts"]["sha256sum"] == hashlib.sha256(body).hexdigest()
    assert build["artifacts"]["md5sum"] == hashlib.md5(body).hexdigest()

    uuid_part = build["id"].split(":", 1)[1]
    assert build["logs"]["groupName"] == f"/aws/codebuild/{name}"
    assert build["logs"]["streamName"] == uuid_part
    assert build["logs"]["deepLink"] == (
        "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#logEvent:group=/aws/codebuild/{name};stream={uuid_part}"
    )
    log = _log_text(cloud, build)
    assert "Running command export CLONE_DEPTH=$(git rev-list --count HEAD)" in log
    assert "Phase complete: BUILD State: SUCCEEDED" in log
    local_log = codebuild.build_log_path(build["id"])
    assert local_log is not None and "Running command mkdir -p dist" in local_log.read_text()

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    seen = [json.loads(m["Body"]) for m in messages]
    assert {e["detail"]["build-status"] for e in seen} == {"IN_PROGRESS", "SUCCEEDED"}
    final = next(e for e in seen if e["detail"]["build-status"] == "SUCCEEDED")
    assert final["detail-type"] == "CodeBuild Build State Change" and final["source"] == "aws.codebuild"
    assert final["detail"]["build-id"] == build["arn"] and final["resources"] == [build["arn"]]
    info = final["detail"]["additional-information"]
    assert info["build-complete"] is True and info["artifact"]["location"] == build["artifacts"]["location"]
    assert info["logs"]["deep-link"] == build["logs"]["deepLink"]
    assert final["detail"]["current-phase"] == "COMPLETED"
    assert_documented_shape(final, "codebuild-build-state-change")


def test_a_failing_command_fails_the_build_and_post_build_still_runs(cloud: Callable[[str], Any], repo: Repo) -> None:
    buildspec = """\
version: 0.2
phases:
  build:
    commands:
      - echo "about to list a missing directory"
      - ls /no/such/directory/here
      - echo "never printed"
  post_build:
    commands:
      - echo "post_build ran with CODEBUILD_BUILD_SUCCEEDING=$CODEBUILD_BUILD_SUCCEEDING"
"""
    name = _project(cloud, repo)
    started = cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)
    build = _wait(cloud, started["build"]["id"])

    assert build["buildStatus"] == "FAILED"
    phases = _phases(build)
    assert phases["BUILD"]["phaseStatus"] == "FAILED"
    assert phases["BUILD"]["contexts"] == [
        {
            "statusCode": "COMMAND_EXECUTION_ERROR",
            "message": "Error while executing command: ls /no/such/directory/here. Reason: exit status 2",
        }
    ]
    assert phases["POST_BUILD"]["phaseStatus"] == "SUCCEEDED"
    log = _log_text(cloud, build)
    assert "Running command ls /no/such/directory/here" in log
    assert "No such file or directory" in log  # the failing command's own output
    assert "about to list a missing directory" in log.splitlines()
    assert 'Running command echo "never printed"' not in log
    assert "post_build ran with CODEBUILD_BUILD_SUCCEEDING=0" in log


def test_an_install_failure_skips_to_finalizing_after_the_finally_block(
    cloud: Callable[[str], Any], repo: Repo
) -> None:
    buildspec = """\
version: 0.2
phases:
  install:
    commands:
      - exit 3
    finally:
      - echo "finally ran"
  build:
    commands:
      - echo "build ran"
"""
    name = _project(cloud, repo)
    started = cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)
    build = _wait(cloud, started["build"]["id"])

    assert build["buildStatus"] == "FAILED"
    assert [p["phaseType"] for p in build["phases"]] == [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "FINALIZING",
        "COMPLETED",
    ]
    assert "Reason: exit status 3" in _phases(build)["INSTALL"]["contexts"][0]["message"]
    log = _log_text(cloud, build)
    assert "finally ran" in log.splitlines()
    assert "build ran" not in log


def test_shell_state_persists_and_variables_follow_codebuild_precedence(
    cloud: Callable[[str], Any], repo: Repo
) -> None:
    cloud("ssm").put_parameter(Name="/app/token", Value="from-ssm", Type="SecureString")
    buildspec = """\
version: 0.2
env:
  variables:
    FROM_BUILDSPEC: buildspec
    OVERRIDDEN_BY_PROJECT: buildspec
    OVERRIDDEN_BY_START: buildspec
  parameter-store:
    TOKEN: /app/token
  exported-variables: [WHERE, FROM_BUILDSPEC, OVERRIDDEN_BY_PROJECT, OVERRIDDEN_BY_START, TOKEN,
                       PY, ENDPOINT, BUCKETS, NOT_EXPORTED_BUT_SET, SRC]
phases:
  install:
    commands:
      - cd sub
      - NOT_EXPORTED_BUT_SET=kept
  build:
    commands:
      - export WHERE=$(cat marker.txt)
      - export PY=$(python -c "import sys; print(sys.prefix)")
      - export ENDPOINT=$AWS_ENDPOINT_URL SRC=$CODEBUILD_SRC_DIR
      - export BUCKETS=$(python -c "import urllib.request as u; print(u.urlopen('$AWS_ENDPOINT_URL/moto-api/').status)")
"""
    name = _project(
        cloud,
        repo,
        environment={
            **ENVIRONMENT,
            "environmentVariables": [
                {"name": "OVERRIDDEN_BY_PROJECT", "value": "project", "type": "PLAINTEXT"},
                {"name": "OVERRIDDEN_BY_START", "value": "project", "type": "PLAINTEXT"},
            ],
        },
    )
    started = cloud("codebuild").start_build(
        projectName=name,
        sourceVersion=repo.first,
        buildspecOverride=buildspec,
        environmentVariablesOverride=[{"name": "OVERRIDDEN_BY_START", "value": "start", "type": "PLAINTEXT"}],
    )
    build = _wait(cloud, started["build"]["id"])

    assert build["buildStatus"] == "SUCCEEDED", _log_text(cloud, build)
    exported = _exported(build)
    assert exported["WHERE"] == "in sub"  # `cd` in install still holds in build
    assert exported["NOT_EXPORTED_BUT_SET"] == "kept"
    assert (exported["FROM_BUILDSPEC"], exported["OVERRIDDEN_BY_PROJECT"], exported["OVERRIDDEN_BY_START"]) == (
        "buildspec",
        "project",
        "start",
    )
    assert exported["TOKEN"] == "from-ssm"
    assert exported["PY"] != sys.prefix and exported["PY"].endswith("/venv")  # the build's own, not the local cloud's
    assert exported["ENDPOINT"] == cloud("s3").meta.endpoint_url
    assert exported["BUCKETS"] == "200"  # the build reached the local cloud
    assert not Path(exported["SRC"]).exists()  # the workspace is cleaned after the build


def test_stop_build_kills_the_running_command(cloud: Callable[[str], Any], repo: Repo) -> None:
    buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - sleep 60\n"
    name = _project(cloud, repo)
    client = cloud("codebuild")
    started = client.start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)
    build_id = started["build"]["id"]
    deadline = time.monotonic() + 10
    while client.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] != "BUILD":
        assert time.monotonic() < deadline, "the build never reached BUILD"
        time.sleep(0.05)

    began = time.monotonic()
    stopped = client.stop_build(id=build_id)["build"]
    assert time.monotonic() - began < 5
    assert stopped["buildStatus"] == "STOPPED" and stopped["buildComplete"] is True
    assert _phases(stopped)["BUILD"]["phaseStatus"] == "STOPPED"
    assert "POST_BUILD" not in _phases(stopped)
    with pytest.raises(ClientError, match="does not exist"):
        client.stop_build(id=f"{name}:{uuid.uuid4()}")


def test_timeout_in_virtual_minutes_times_the_build_out(cloud: Callable[[str], Any], repo: Repo) -> None:
    buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n"
    name = _project(cloud, repo, timeoutInMinutes=5)  # AWS's (and boto3's) minimum
    speed = CLOCK.speed
    CLOCK.set_speed(60)  # five virtual minutes are five real seconds (the build's venv takes one or two)
    try:
        client = cloud("codebuild")
        started = client.start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)
        build = _wait(cloud, started["build"]["id"], timeout=25)
    finally:
        CLOCK.set_speed(speed)
    assert build["buildStatus"] == "TIMED_OUT"
    assert _phases(build)["BUILD"]["phaseStatus"] == "TIMED_OUT"
    assert _phases(build)["BUILD"]["contexts"][0]["statusCode"] == "BUILD_TIMED_OUT"


def test_idempotency_token_returns_the_same_build_for_five_virtual_minutes(
    cloud: Callable[[str], Any], repo: Repo
) -> None:
    name = _project(cloud, repo)
    client = cloud("codebuild")
    args = {"projectName": name, "sourceVersion": repo.first, "idempotencyToken": "deploy-42"}
    first = client.start_build(**args)["build"]
    again = client.start_build(**args)["build"]
    assert again["id"] == first["id"]
    assert client.list_builds_for_project(projectName=name)["ids"] == [first["id"]]
    with pytest.raises(ClientError, match="different parameters") as error:
        client.start_build(**{**args, "sourceVersion": repo.second})
    assert error.value.response["Error"]["Code"] == "InvalidInputException"

    speed = CLOCK.speed
    CLOCK.set_speed(100_000)  # 5 virtual minutes pass in 3 ms
    try:
        time.sleep(0.01)
        later = client.start_build(**args)["build"]
    finally:
        CLOCK.set_speed(speed)
    assert later["id"] != first["id"]
    assert later["buildNumber"] == first["buildNumber"] + 1
    _wait(cloud, first["id"])
    _wait(cloud, later["id"])


def test_concurrent_builds_each_get_their_own_workspace(cloud: Callable[[str], Any], repo: Repo) -> None:
    buildspec = """\
version: 0.2
env:
  exported-variables: [WORKSPACE, SEEN]
phases:
  build:
    commands:
      - export WORKSPACE=$CODEBUILD_SRC_DIR
      - echo "$CODEBUILD_BUILD_ID" > mine.txt
      - sleep 0.5
      - export SEEN=$(cat mine.txt)
"""
    name = _project(cloud, repo)
    client = cloud("codebuild")
    ids = [
        client.start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)["build"]["id"]
        for _ in range(3)
    ]
    builds = [_wait(cloud, build_id, timeout=60) for build_id in ids]
    assert max(b["startTime"] for b in builds) < min(b["endTime"] for b in builds)  # they overlapped
    assert all(b["buildStatus"] == "SUCCEEDED" for b in builds)
    workspaces = {_exported(b)["WORKSPACE"] for b in builds}
    assert len(workspaces) == 3
    assert [_exported(b)["SEEN"] for b in builds] == ids
    assert not any(Path(w).exists() for w in workspaces)


def test_unknown_commit_fails_in_download_source(cloud: Callable[[str], Any], repo: Repo) -> None:
    name = _project(cloud, repo)
    missing = "0" * 39 + "1"
    started = cloud("codebuild").start_build(projectName=name, sourceVersion=missing)
    build = _wait(cloud, started["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    download = _phases(build)["DOWNLOAD_SOURCE"]
    assert download["phaseStatus"] == "FAILED" and download["contexts"][0]["statusCode"] == "CLIENT_ERROR"
    assert missing in download["contexts"][0]["message"]
    assert "INSTALL" not in _phases(build)


def test_a_location_the_resolver_rejects_fails_in_download_source(
    cloud: Callable[[str], Any], repo: Repo, ghe_resolver: str
) -> None:
    def only_known(location: str) -> str:
        if location != ghe_resolver:
            raise LookupError(f"no repository behind {location}")
        return str(repo.bare)

    codebuild.set_git_resolver(only_known)
    name = _project(cloud, repo, source={"type": "GITHUB_ENTERPRISE", "location": "https://ghe.example.com/a/b.git"})
    build = _wait(cloud, cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    context = _phases(build)["DOWNLOAD_SOURCE"]["contexts"][0]
    assert context["statusCode"] == "CLIENT_ERROR" and "no repository behind" in context["message"]


def test_fetch_by_sha_that_is_no_branch_tip_works_with_protocol_v0_and_v2(repo: Repo, tmp_path: Path) -> None:
    for version in (0, 2):
        dest = tmp_path / f"v{version}"
        sha = codebuild.fetch_git_source(repo.bare.as_uri(), dest, repo.first, 1, protocol_version=version)
        assert sha == repo.first
        assert _git(dest, "rev-list", "--count", "HEAD") == "1"
        assert "from-first-commit" in (dest / "buildspec.yml").read_text()


def test_cloudformation_creates_a_project_that_builds(cloud: Callable[[str], Any], repo: Repo) -> None:
    bucket = _unique("cfn-artifacts")
    cloud("s3").create_bucket(Bucket=bucket)
    project_name = _unique("cfn-app")
    template = {
        "Resources": {
            "Build": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Name": project_name,
                    "ServiceRole": ROLE,
                    "Source": {"Type": "GITHUB_ENTERPRISE", "Location": str(repo.bare), "GitCloneDepth": 1},
                    "Artifacts": {"Type": "S3", "Location": bucket, "Name": "out.zip", "Packaging": "ZIP"},
                    "Environment": {
                        "Type": "LINUX_CONTAINER",
                        "ComputeType": "BUILD_GENERAL1_SMALL",
                        "Image": "aws/codebuild/standard:7.0",
                        "EnvironmentVariables": [{"Name": "STAGE", "Value": "prod", "Type": "PLAINTEXT"}],
                    },
                    "TimeoutInMinutes": 15,
                },
            }
        },
        "Outputs": {
            "Name": {"Value": {"Ref": "Build"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Build", "Arn"]}},
        },
    }
    cfn = cloud("cloudformation")
    stack = _unique("cb-stack")
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    assert outputs == {
        "Name": project_name,
        "Arn": f"arn:aws:codebuild:us-east-1:123456789012:project/{project_name}",
    }
    project = cloud("codebuild").batch_get_projects(names=[project_name])["projects"][0]
    assert project["source"]["gitCloneDepth"] == 1 and project["timeoutInMinutes"] == 15
    assert project["environment"]["environmentVariables"] == [{"name": "STAGE", "value": "prod", "type": "PLAINTEXT"}]

    started = cloud("codebuild").start_build(projectName=project_name, sourceVersion=repo.second)
    build = _wait(cloud, started["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED", _log_text(cloud, build)
    body = cloud("s3").get_object(Bucket=bucket, Key="out.zip")["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("dist/result.txt") == b"from-second-commit\n"

    cfn.delete_stack(StackName=stack)
    assert cloud("codebuild").batch_get_projects(names=[project_name])["projects"] == []


def _wheel(path: Path) -> Path:
    """A minimal pure-Python wheel, ``probe_pkg 1.0``, so that a build can `pip install` with no network."""
    wheel = path / "probe_pkg-1.0-py3-none-any.whl"
    files = {
        "probe_pkg/__init__.py": "WHERE = __file__\n",
        "probe_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: probe-pkg\nVersion: 1.0\n",
        "probe_pkg-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "probe_pkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("probe_pkg-1.0.dist-info/RECORD", record)
    return wheel


def test_a_build_runs_in_its_own_environment_and_its_pip_install_stays_there(
    cloud: Callable[[str], Any], repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel(tmp_path)
    fake_sam = tmp_path / "sam"
    fake_sam.write_text("#!/bin/sh\necho 'SAM CLI, version from-the-tools-environment'\n")
    fake_sam.chmod(0o755)
    monkeypatch.setenv("STEPDEPLOY_SAM_CLI", str(fake_sam))
    monkeypatch.setenv("PYTHONPATH", str(Path(codebuild.__file__).parents[2]))  # as the test run has it
    buildspec = f"""\
version: 0.2
phases:
  install:
    commands:
      - pip install --no-index --quiet {wheel}
  build:
    commands:
      - python -c "import probe_pkg, sys; print('probe at', probe_pkg.WHERE); print('prefix', sys.prefix)"
      - python -c "import moto" || echo "no moto in the build"
      - python -c "import stepdeploy_localcloud" || echo "no local cloud in the build"
      - sam --version
      - python3.11 -c "import sys; print('python3.11 is', sys.version_info[:2])"
"""
    name = _project(cloud, repo)
    started = cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first, buildspecOverride=buildspec)
    build = _wait(cloud, started["build"]["id"], timeout=120)
    log = _log_text(cloud, build)
    assert build["buildStatus"] == "SUCCEEDED", log
    probe = next(line for line in log.splitlines() if line.startswith("probe at "))
    prefix = next(line for line in log.splitlines() if line.startswith("prefix "))
    assert prefix.removeprefix("prefix ") != sys.prefix and probe.removeprefix("probe at ").startswith(prefix[7:])
    assert "no moto in the build" in log and "no local cloud in the build" in log
    assert "SAM CLI, version from-the-tools-environment" in log
    assert "python3.11 is (3, 11)" in log
    assert "Build environment: Python 3." in log
    assert subprocess.run([sys.executable, "-c", "import probe_pkg"], capture_output=True).returncode != 0


def test_runtime_versions_python_picks_the_interpreter_or_fails_naming_it(
    cloud: Callable[[str], Any], repo: Repo
) -> None:
    buildspec = """\
version: 0.2
phases:
  install:
    runtime-versions:
      python: {version}
  build:
    commands:
      - python -c "import sys; print('build python', '%d.%d' % sys.version_info[:2])"
"""
    name = _project(cloud, repo)
    client = cloud("codebuild")
    started = client.start_build(projectName=name, sourceVersion=repo.first,
                                 buildspecOverride=buildspec.format(version="3.11"))
    build = _wait(cloud, started["build"]["id"], timeout=120)
    assert build["buildStatus"] == "SUCCEEDED"
    assert "build python 3.11" in _log_text(cloud, build)
    started = client.start_build(projectName=name, sourceVersion=repo.first,
                                 buildspecOverride=buildspec.format(version="3.99"))
    build = _wait(cloud, started["build"]["id"], timeout=120)
    assert build["buildStatus"] == "FAILED"
    context = _phases(build)["DOWNLOAD_SOURCE"]["contexts"][0]
    assert context["statusCode"] == "CLIENT_ERROR"
    assert "runtime-versions: runtime python3.99: no Python 3.99 interpreter" in context["message"]


DOCKER_BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - docker version
"""


def test_docker_answers_only_in_privileged_mode_which_start_build_may_override(
    cloud: Callable[[str], Any], repo: Repo
) -> None:
    """As on AWS: without privileged mode there is no Docker daemon; privilegedModeOverride turns it on or off."""
    name = _project(cloud, repo)  # the project's environment has no privileged mode
    client = cloud("codebuild")
    plain = _wait(cloud, client.start_build(projectName=name, sourceVersion=repo.first,
                                            buildspecOverride=DOCKER_BUILDSPEC)["build"]["id"])
    assert plain["buildStatus"] == "FAILED"
    assert "Cannot connect to the Docker daemon" in _log_text(cloud, plain)
    assert plain["environment"].get("privilegedMode") in (None, False)

    opted = _wait(cloud, client.start_build(projectName=name, sourceVersion=repo.first, privilegedModeOverride=True,
                                            buildspecOverride=DOCKER_BUILDSPEC)["build"]["id"])
    assert opted["environment"]["privilegedMode"] is True
    assert "Cannot connect to the Docker daemon" not in _log_text(cloud, opted)

    privileged = _project(cloud, repo, environment={**ENVIRONMENT, "privilegedMode": True})
    off_id = client.start_build(projectName=privileged, sourceVersion=repo.first, privilegedModeOverride=False,
                                buildspecOverride=DOCKER_BUILDSPEC)["build"]["id"]
    off = _wait(cloud, off_id)
    assert off["buildStatus"] == "FAILED" and off["environment"]["privilegedMode"] is False


def test_build_id_namespace_gives_every_build_its_own_key_with_its_sha256sum(
    cloud: Callable[[str], Any], repo: Repo, ghe_resolver: str
) -> None:
    bucket = _unique("artifacts")
    cloud("s3").create_bucket(Bucket=bucket)
    name = _project(cloud, repo, source={"type": "GITHUB_ENTERPRISE", "location": ghe_resolver, "gitCloneDepth": 1})
    override = {"type": "S3", "location": bucket, "path": f"builds/acme/app/{repo.first}", "name": "bundle.zip",
                "packaging": "ZIP", "namespaceType": "BUILD_ID"}
    builds = [
        _wait(cloud, cloud("codebuild").start_build(projectName=name, sourceVersion=repo.first,
                                                    artifactsOverride=override)["build"]["id"])
        for _ in range(2)
    ]
    keys = []
    for build in builds:
        assert build["buildStatus"] == "SUCCEEDED", _log_text(cloud, build)
        key = build["artifacts"]["location"].removeprefix(f"arn:aws:s3:::{bucket}/")
        assert key == f"builds/acme/app/{repo.first}/{build['id'].split(':', 1)[1]}/bundle.zip"
        body = cloud("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        assert build["artifacts"]["sha256sum"] == hashlib.sha256(body).hexdigest()
        keys.append(key)
    assert keys[0] != keys[1]
