"""The local cloud's CodeBuild: builds that really run.

moto 5.2.5 reports every build SUCCEEDED on the first BatchGetBuilds without running anything.
Here a build runs in a background thread the way CodeBuild runs it: a fresh workspace, the
source fetched at the exact commit (shallow, as ``gitCloneDepth`` says), the buildspec's phases
run by one bash session (buildspec 0.2: ``cd`` and variables persist from command to command),
artifacts uploaded to moto's S3, the log written to moto's CloudWatch Logs and to a local file,
and "CodeBuild Build State Change" events put on the default EventBridge bus.

The moto glue (which API calls land here, CloudFormation projects) is in
``stepdeploy_localcloud.codebuild.patch``.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime as dt
import fnmatch
import hashlib
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stepdeploy_localcloud import backends, endpoint
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.codebuild import environment as build_environment
from stepdeploy_localcloud.events.default_bus import service_event

logger = logging.getLogger(__name__)

PHASE_ORDER = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)
BUILDSPEC_PHASE_KEYS = {"INSTALL": "install", "PRE_BUILD": "pre_build", "BUILD": "build", "POST_BUILD": "post_build"}
GIT_SOURCE_TYPES = frozenset(
    {"GITHUB", "GITHUB_ENTERPRISE", "CODECOMMIT", "BITBUCKET", "GITLAB", "GITLAB_SELF_MANAGED"}
)
DEFAULT_TIMEOUT_MINUTES = 60
DEFAULT_QUEUED_TIMEOUT_MINUTES = 480
IDEMPOTENCY_WINDOW_VIRTUAL_SECONDS = 300
MAX_SHALLOW_DEPTH = 25  # CodeBuild: 0, more than 25 or unset means the full history
INITIATOR = "stepdeploy-local"
_SHA_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StartBuildRejected(ValueError):
    """StartBuild input CodeBuild would refuse (InvalidInputException)."""


class _PhaseError(Exception):
    """A phase failed; carries CodeBuild's phase context (status code and message)."""

    def __init__(self, status_code: str, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class _Aborted(Exception):
    """The build was stopped or timed out while a phase ran."""


# ---------------------------------------------------------------------------------------------
# Configuration the local cloud sets


def _identity(location: str) -> str:
    return location


_git_resolver: Callable[[str], str] = _identity
_log_dir: Path | None = None


def set_git_resolver(resolver: Callable[[str], str] | None) -> None:
    """Map a project's source location (``https://ghe.example/owner/repo.git``) to something
    ``git fetch`` can read (a bare repository's path or a file:// URL). None restores identity."""
    global _git_resolver
    _git_resolver = resolver or _identity


def resolve_git_location(location: str) -> str:
    return _git_resolver(location)


def set_log_dir(path: str | os.PathLike[str] | None) -> None:
    """Where local copies of build logs go (default: <tmp>/stepdeploy-codebuild-logs)."""
    global _log_dir
    _log_dir = Path(path).resolve() if path is not None else None


def log_dir() -> Path:
    return _log_dir or Path(tempfile.gettempdir()) / "stepdeploy-codebuild-logs"


_workspace_root: Path | None = None


def set_workspace_root(path: str | os.PathLike[str] | None) -> None:
    """Where builds make their workspaces (default: the temporary folder); each is removed when its build ends."""
    global _workspace_root
    _workspace_root = Path(path).resolve() if path is not None else None


# ---------------------------------------------------------------------------------------------
# Small helpers


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _event_time(value: dt.datetime) -> str:
    """The event's time format, e.g. "Sep 1, 2017 4:12:29 PM"."""
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value.year} {hour}:{value:%M:%S} {value:%p}"


def _boolish(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"yes", "true", "1", "on"}


def _ensure_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def deep_link(region: str, group: str, stream: str) -> str:
    return f"https://console.aws.amazon.com/cloudwatch/home?region={region}#logEvent:group={group};stream={stream}"


# ---------------------------------------------------------------------------------------------
# Requests and the build record


@dataclass(frozen=True)
class StartBuildRequest:
    project_name: str
    source_version: str | None = None
    source_location_override: str | None = None
    source_type_override: str | None = None
    environment_variables_override: tuple[dict[str, Any], ...] = ()
    buildspec_override: str | None = None
    artifacts_override: dict[str, Any] | None = None
    git_clone_depth_override: int | None = None
    timeout_in_minutes_override: int | None = None
    privileged_mode_override: bool | None = None
    idempotency_token: str | None = None

    @classmethod
    def from_api(cls, params: dict[str, Any]) -> StartBuildRequest:
        """Build a request from StartBuild's camelCase parameters."""
        return cls(
            project_name=params["projectName"],
            source_version=params.get("sourceVersion"),
            source_location_override=params.get("sourceLocationOverride"),
            source_type_override=params.get("sourceTypeOverride"),
            environment_variables_override=tuple(params.get("environmentVariablesOverride") or ()),
            buildspec_override=params.get("buildspecOverride"),
            artifacts_override=params.get("artifactsOverride"),
            git_clone_depth_override=params.get("gitCloneDepthOverride"),
            timeout_in_minutes_override=params.get("timeoutInMinutesOverride"),
            privileged_mode_override=params.get("privilegedModeOverride"),
            idempotency_token=params.get("idempotencyToken"),
        )

    def fingerprint(self) -> str:
        """Everything but the token: a repeated token must come with the same parameters."""
        data = {k: v for k, v in self.__dict__.items() if k != "idempotency_token"}
        return json.dumps(data, sort_keys=True, default=str)


@dataclass
class _Settings:
    """What one build runs with, resolved from the project and the request's overrides."""

    source_type: str
    source_location: str
    source_version: str | None
    git_clone_depth: int | None
    buildspec: str
    artifacts: dict[str, Any]
    timeout_minutes: int
    environment: dict[str, Any]
    env_overrides: list[dict[str, Any]]
    log_group: str | None
    log_stream: str


def _settings(project: dict[str, Any], request: StartBuildRequest, build_uuid: str) -> _Settings:
    source = project.get("source") or {}
    depth = request.git_clone_depth_override
    if depth is None:
        depth = source.get("gitCloneDepth")
    depth = int(depth) if depth is not None else None
    if depth is not None and (depth <= 0 or depth > MAX_SHALLOW_DEPTH):
        depth = None
    timeout = request.timeout_in_minutes_override or project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES
    if int(timeout) < 1:  # AWS's minimum is 5; the local cloud's minutes are virtual, so allow 1
        raise StartBuildRejected(f"timeoutInMinutes must be at least 1, got {timeout}")
    logs_config = (project.get("logsConfig") or {}).get("cloudWatchLogs") or {}
    group: str | None = f"/aws/codebuild/{project['name']}"
    stream = build_uuid
    if logs_config.get("status") == "DISABLED":
        group = None
    else:
        group = logs_config.get("groupName") or group
        if logs_config.get("streamName"):
            stream = f"{logs_config['streamName']}/{build_uuid}"
    environment = copy.deepcopy(project.get("environment") or {})
    if request.privileged_mode_override is not None:
        environment["privilegedMode"] = bool(request.privileged_mode_override)
    return _Settings(
        source_type=request.source_type_override or source.get("type", "NO_SOURCE"),
        source_location=request.source_location_override or source.get("location", ""),
        source_version=request.source_version or project.get("sourceVersion"),
        git_clone_depth=depth,
        buildspec=request.buildspec_override or source.get("buildspec") or "",
        artifacts=copy.deepcopy(request.artifacts_override or project.get("artifacts") or {"type": "NO_ARTIFACTS"}),
        timeout_minutes=int(timeout),
        environment=environment,
        env_overrides=[dict(v) for v in request.environment_variables_override],
        log_group=group,
        log_stream=stream,
    )


# ---------------------------------------------------------------------------------------------
# moto backends the build reads and writes (in process: the server runs in this process)


class _Cloud:
    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    def s3(self) -> Any:
        return backends.backend("s3", self.account_id, self.region)

    def logs(self) -> Any:
        return backends.backend("logs", self.account_id, self.region)

    def parameter(self, name: str) -> str:
        param = backends.backend("ssm", self.account_id, self.region).get_parameter(name)
        if param is None:
            raise _PhaseError("DECRYPTED_VARIABLES_ERROR", f"parameter does not exist: {name}")
        value = param.decrypt(param.value)
        return value if value is not None else param.value

    def secret(self, spec: str) -> str:
        parts = spec.split(":")
        if spec.startswith("arn:"):
            secret_id, rest = ":".join(parts[:7]), parts[7:]
        else:
            secret_id, rest = parts[0], parts[1:]
        json_key, stage, version_id = (rest + ["", "", ""])[:3]
        backend = backends.backend("secretsmanager", self.account_id, self.region)
        try:
            value = backend.get_secret_value(secret_id, version_id or None, stage or None)
        except Exception as exc:  # moto raises its own client errors
            raise _PhaseError("DECRYPTED_VARIABLES_ERROR", f"secret {secret_id!r} could not be read: {exc}") from exc
        text = value.get("SecretString")
        if text is None:
            raise _PhaseError("DECRYPTED_VARIABLES_ERROR", f"secret {secret_id!r} has no string value")
        if not json_key:
            return str(text)
        try:
            document = json.loads(text)
            return str(document[json_key])
        except (ValueError, KeyError, TypeError) as exc:
            raise _PhaseError(
                "DECRYPTED_VARIABLES_ERROR",
                f"secret {secret_id!r} is not a JSON object with the key {json_key!r}",
            ) from exc

    def put_build_event(self, detail: dict[str, Any], build_arn: str) -> None:
        event = service_event("aws.codebuild", "CodeBuild Build State Change", detail, [build_arn])
        backends.backend("events", self.account_id, self.region).put_events([event])


# ---------------------------------------------------------------------------------------------
# The build log: local file + CloudWatch Logs


class _BuildLog:
    def __init__(self, cloud: _Cloud, path: Path, group: str | None, stream: str) -> None:
        self._cloud = cloud
        self.path = path
        self.group = group
        self.stream = stream
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._last_ms = 0
        self._cloud_ready = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def output(self, text: str) -> None:
        with self._lock:
            ms = max(int(time.time() * 1000), self._last_ms)
            self._last_ms = ms
            self._file.write(text + "\n")
            self._file.flush()
            self._pending.append({"timestamp": ms, "message": text})
        if len(self._pending) >= 200:
            self.flush()

    def system(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d %H:%M:%S.%f")
        for line in text.splitlines() or [""]:
            self.output(f"[Container] {stamp} {line}")

    def flush(self) -> None:
        if self.group is None:
            with self._lock:
                self._pending.clear()
            return
        with self._lock:
            events, self._pending = self._pending, []
        if not events:
            return
        try:
            logs = self._cloud.logs()
            if not self._cloud_ready:
                if self.group not in logs.groups:
                    # another build of the project may create it meanwhile
                    with contextlib.suppress(Exception):
                        logs.create_log_group(self.group, {})
                logs.create_log_stream(self.group, self.stream)
                self._cloud_ready = True
            for start in range(0, len(events), 1000):
                logs.put_log_events(self.group, self.stream, events[start : start + 1000])
        except Exception:
            logger.exception("could not write the build log to CloudWatch Logs (%s)", self.group)

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._file.close()


# ---------------------------------------------------------------------------------------------
# One bash session for the buildspec's commands


class _Shell:
    """A bash process fed one command at a time; each command's exit status comes back after a
    marker line, so working directory and variables persist as in CodeBuild's buildspec 0.2."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        scripts_dir: Path,
        output: Callable[[str], None],
        track: Callable[[subprocess.Popen[bytes]], None],
    ) -> None:
        self._cwd = cwd
        self._env = env
        self._scripts = scripts_dir
        self._output = output
        self._track = track
        self._marker = f"__stepdeploy_command_done_{uuid.uuid4().hex}__"
        self._proc: subprocess.Popen[bytes] | None = None
        self._count = 0

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._cwd,
            env=self._env,
            start_new_session=True,
        )
        self._track(proc)
        return proc

    def restart(self) -> None:
        self.close()
        self._proc = None

    def run(self, command: str, *, quiet: bool = False) -> int:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        self._count += 1
        script = self._scripts / f"command-{self._count}.sh"
        script.write_text(command + "\n", encoding="utf-8")
        line = f". '{script}' </dev/null\nprintf '%s %d\\n' '{self._marker}' \"$?\"\n"
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return proc.wait()
        while True:
            raw = proc.stdout.readline()
            if not raw:  # the shell ended: `exit`, or killed by StopBuild/timeout
                self._proc = None
                return proc.wait()
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            at = text.find(self._marker)
            if at < 0:
                if not quiet:
                    self._output(text)
                continue
            if at > 0 and not quiet:
                self._output(text[:at])
            try:
                return int(text[at + len(self._marker) :].strip())
            except ValueError:
                return 1

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=2)
        except (subprocess.TimeoutExpired, OSError):
            pass
        _kill_process_group(proc)  # background jobs the commands left behind
        if proc.stdout:
            proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# Source


def fetch_git_source(
    location: str,
    dest: Path,
    version: str | None,
    depth: int | None,
    *,
    run: Callable[[list[str], Path], tuple[int, str]] | None = None,
    protocol_version: int = 2,
) -> str:
    """Fetch ``version`` (commit SHA, branch, tag, ``refs/...``, ``pr/N``; HEAD when None) of
    the repository at ``location`` into ``dest`` and check it out; return the commit SHA.

    ``git clone --depth`` cannot take a SHA, so this is init + fetch + checkout FETCH_HEAD. A
    SHA that is no branch tip is only served when upload-pack allows it: protocol v2 does, and
    for v0 the upload-pack we start is told uploadpack.allowReachableSHA1InWant.
    """
    runner = run or _run_git
    ref = _git_ref(version)
    dest.mkdir(parents=True, exist_ok=True)
    steps: list[list[str]] = [
        ["git", "init", "-q", "."],
        ["git", "remote", "add", "origin", location],
        [
            "git",
            "-c",
            f"protocol.version={protocol_version}",
            "-c",
            "protocol.file.allow=always",
            "fetch",
            "--no-tags",
            "--upload-pack",
            "git -c uploadpack.allowReachableSHA1InWant=true -c uploadpack.allowAnySHA1InWant=true upload-pack",
            *(["--depth", str(depth)] if depth else []),
            "origin",
            ref,
        ],
        ["git", "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"],
    ]
    for step in steps:
        code, out = runner(step, dest)
        if code != 0:
            what = f"version {version}" if version else "the default branch"
            action = "fetch" if "fetch" in step else step[1]
            raise _PhaseError(
                "CLIENT_ERROR",
                f"could not get {what} of {location}: git {action} exited {code}: {out.strip()[-500:]}",
            )
    code, out = runner(["git", "rev-parse", "HEAD"], dest)
    if code != 0:
        raise _PhaseError("CLIENT_ERROR", f"could not read the checked-out commit: {out.strip()}")
    return out.strip()


def _git_ref(version: str | None) -> str:
    if not version:
        return "HEAD"
    if "^{" in version and version.endswith("}"):  # "branch^{sha}": CodeBuild builds the sha
        return version[version.index("^{") + 2 : -1]
    if version.startswith("pr/"):
        return f"refs/pull/{version[3:]}/head"
    return version


def _run_git(args: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def _is_local_path(location: str) -> bool:
    return "://" not in location and not re.match(r"^[\w.-]+@[\w.-]+:", location)


# ---------------------------------------------------------------------------------------------
# Buildspec


def load_buildspec(spec: str, src_dir: Path, cloud: _Cloud | None = None) -> tuple[dict[str, Any], str]:
    """Return the buildspec document and where it came from: inline YAML, a path relative to
    the source directory (default buildspec.yml), or an S3 object ARN."""
    text: str | None = None
    where = spec
    if spec.strip():
        try:
            inline = yaml.safe_load(spec)
        except yaml.YAMLError:
            inline = None
        if isinstance(inline, dict):
            text, where = spec, "inline buildspec"
    if text is None:
        name = spec.strip() or "buildspec.yml"
        if name.startswith("arn:aws:s3:::") and cloud is not None:
            bucket, _, key = name[len("arn:aws:s3:::") :].partition("/")
            obj = cloud.s3().get_object(bucket, key)
            if obj is None:
                raise _PhaseError("YAML_FILE_ERROR", f"buildspec object {name} does not exist")
            text = obj.value.decode("utf-8")
        else:
            path = src_dir / name
            if not path.is_file():
                raise _PhaseError(
                    "YAML_FILE_ERROR",
                    f"stat {path}: no such file or directory (the buildspec {name!r} was expected "
                    "in the source, or set the project's Source.BuildSpec or buildspecOverride)",
                )
            text = path.read_text(encoding="utf-8")
            where = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _PhaseError("YAML_FILE_ERROR", f"the buildspec is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise _PhaseError("YAML_FILE_ERROR", "the buildspec must be a YAML mapping with version and phases")
    version = str(document.get("version", ""))
    if version not in {"0.1", "0.2"}:
        raise _PhaseError("YAML_FILE_ERROR", f"invalid buildspec version {version!r}: expected 0.2 (or 0.1)")
    phases = document.get("phases") or {}
    if not isinstance(phases, dict):
        raise _PhaseError("YAML_FILE_ERROR", "phases must be a mapping of install/pre_build/build/post_build")
    unknown = set(phases) - set(BUILDSPEC_PHASE_KEYS.values())
    if unknown:
        raise _PhaseError(
            "YAML_FILE_ERROR",
            f"unknown phase(s) {sorted(unknown)} in the buildspec: expected install, pre_build, build, post_build",
        )
    return document, where


# ---------------------------------------------------------------------------------------------
# Artifacts


def collect_artifact_files(src_dir: Path, spec: dict[str, Any]) -> list[tuple[Path, str]]:
    """(file, name in the artifact) for the buildspec's ``artifacts`` section."""
    base = src_dir / str(spec.get("base-directory") or ".")
    discard = _boolish(spec.get("discard-paths", False))
    excludes = [str(p) for p in _ensure_list(spec.get("exclude-paths"))]
    found: dict[str, Path] = {}
    for pattern in _ensure_list(spec.get("files")):
        pattern = str(pattern).strip()
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise _PhaseError("CLIENT_ERROR", f"artifact path {pattern!r} must be relative to the base directory")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if pattern in {"**", ""}:
            pattern = "**/*"
        matches = [base / pattern] if (base / pattern).is_file() else list(base.glob(pattern))
        for path in matches:
            if not path.is_file():
                continue
            rel = path.relative_to(base).as_posix()
            if any(fnmatch.fnmatch(rel, ex) for ex in excludes):
                continue
            found[path.name if discard else rel] = path
    return [(path, name) for name, path in sorted(found.items())]


def _zip_files(files: Iterable[tuple[Path, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            archive.write(path, name)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The build


class Build:
    """One build: its API record (what BatchGetBuilds returns) and the thread that runs it."""

    def __init__(
        self,
        service: BuildService,
        project: dict[str, Any],
        request: StartBuildRequest,
        build_number: int,
    ) -> None:
        self._service = service
        self._cloud = _Cloud(service.account_id, service.region)
        self._request = request
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._abort_reason: str | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self.project = project
        self.uuid = str(uuid.uuid4())
        self.id = f"{project['name']}:{self.uuid}"
        self.arn = f"arn:aws:codebuild:{service.region}:{service.account_id}:build/{self.id}"
        self.started_monotonic = time.monotonic()
        self.settings = _settings(project, request, self.uuid)
        self.log_path = log_dir() / project["name"] / f"{self.uuid}.log"
        self.workspace: Path | None = None
        self._record = self._initial_record(build_number)

    # -- the record

    def _initial_record(self, build_number: int) -> dict[str, Any]:
        s = self.settings
        now = _now()
        environment = copy.deepcopy(s.environment)
        env_vars = list(environment.get("environmentVariables") or [])
        override_names = {v.get("name") for v in s.env_overrides}
        environment["environmentVariables"] = [v for v in env_vars if v.get("name") not in override_names] + [
            {"name": v.get("name"), "value": str(v.get("value", "")), "type": v.get("type", "PLAINTEXT")}
            for v in s.env_overrides
        ]
        source = copy.deepcopy(self.project.get("source") or {})
        source.update(type=s.source_type, location=s.source_location)
        if s.buildspec:
            source["buildspec"] = s.buildspec
        if s.git_clone_depth:
            source["gitCloneDepth"] = s.git_clone_depth
        logs: dict[str, Any] = {"s3Logs": {"status": "DISABLED", "encryptionDisabled": False}}
        if s.log_group:
            logs.update(
                groupName=s.log_group,
                streamName=s.log_stream,
                deepLink=deep_link(self._service.region, s.log_group, s.log_stream),
                cloudWatchLogsArn=(
                    f"arn:aws:logs:{self._service.region}:{self._service.account_id}:log-group:"
                    f"{s.log_group}:log-stream:{s.log_stream}"
                ),
                cloudWatchLogs={"status": "ENABLED", "groupName": s.log_group},
            )
        else:
            logs["cloudWatchLogs"] = {"status": "DISABLED"}
        record: dict[str, Any] = {
            "id": self.id,
            "arn": self.arn,
            "buildNumber": build_number,
            "startTime": now,
            "currentPhase": "QUEUED",
            "buildStatus": "IN_PROGRESS",
            "projectName": self.project["name"],
            "phases": [
                {
                    "phaseType": "SUBMITTED",
                    "phaseStatus": "SUCCEEDED",
                    "startTime": now,
                    "endTime": now,
                    "durationInSeconds": 0,
                },
                {"phaseType": "QUEUED", "startTime": now},
            ],
            "source": source,
            "secondarySources": [],
            "secondarySourceVersions": [],
            "artifacts": {},
            "secondaryArtifacts": [],
            "cache": copy.deepcopy(self.project.get("cache") or {"type": "NO_CACHE"}),
            "environment": environment,
            "serviceRole": self.project.get("serviceRole"),
            "logs": logs,
            "timeoutInMinutes": s.timeout_minutes,
            "queuedTimeoutInMinutes": self.project.get("queuedTimeoutInMinutes") or DEFAULT_QUEUED_TIMEOUT_MINUTES,
            "buildComplete": False,
            "initiator": INITIATOR,
            "encryptionKey": self.project.get("encryptionKey"),
            "exportedEnvironmentVariables": [],
        }
        if s.source_version:
            record["sourceVersion"] = s.source_version
        return record

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._record)

    def _update(self, **fields: Any) -> None:
        with self._lock:
            self._record.update(fields)

    @property
    def complete(self) -> bool:
        return self._done.is_set()

    def wait(self, real_timeout: float | None = None) -> bool:
        return self._done.wait(real_timeout)

    # -- control

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"codebuild-{self.id}", daemon=True).start()
        threading.Thread(target=self._watch_timeout, name=f"codebuild-timeout-{self.id}", daemon=True).start()

    def stop(self, reason: str = "STOPPED") -> None:
        with self._lock:
            if self._done.is_set() or self._abort_reason:
                return
            self._abort_reason = reason
            processes = list(self._processes)
        for proc in processes:
            _kill_process_group(proc)

    def _watch_timeout(self) -> None:
        if not CLOCK.wait(self._done, self.settings.timeout_minutes * 60):
            self.stop("TIMED_OUT")

    def _track(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes = [p for p in self._processes if p.poll() is None] + [proc]
            aborted = self._abort_reason is not None
        if aborted:
            _kill_process_group(proc)

    def _check_abort(self) -> None:
        if self._abort_reason:
            raise _Aborted(self._abort_reason)

    # -- phases

    def _begin(self, phase_type: str) -> None:
        with self._lock:
            self._record["phases"].append({"phaseType": phase_type, "startTime": _now()})
            self._record["currentPhase"] = phase_type
        if phase_type != "COMPLETED":
            self._log.system(f"Entering phase {phase_type}")

    def _end(self, status: str, error: _PhaseError | None = None) -> None:
        end = _now()
        with self._lock:
            phase = self._record["phases"][-1]
            phase.update(
                phaseStatus=status,
                endTime=end,
                durationInSeconds=int(round((end - phase["startTime"]).total_seconds())),
                contexts=[
                    {"statusCode": error.status_code, "message": error.message}
                    if error
                    else {"statusCode": "", "message": ""}
                ],
            )
            phase_type = phase["phaseType"]
        self._log.system(f"Phase complete: {phase_type} State: {status}")
        self._log.system(
            f"Phase context status code: {error.status_code if error else ''} Message: {error.message if error else ''}"
        )
        self._log.flush()

    def _phase(self, phase_type: str, work: Callable[[], None]) -> bool:
        """Run one phase; False when it failed (the failure is recorded on the phase)."""
        self._check_abort()
        self._begin(phase_type)
        try:
            work()
            self._check_abort()
        except _PhaseError as error:
            self._check_abort()  # a killed command is a stop or timeout, not a failure
            self._end("FAILED", error)
            return False
        self._end("SUCCEEDED")
        return True

    # -- the run

    def _run(self) -> None:
        self._log = _BuildLog(self._cloud, self.log_path, self.settings.log_group, self.settings.log_stream)
        self._shell: _Shell | None = None
        self._buildspec: dict[str, Any] = {}
        self._env: dict[str, str] = {}
        self._failed = False
        final_status = "SUCCEEDED"
        self._emit_event()
        try:
            with self._lock:
                self._record["phases"][-1].update(phaseStatus="SUCCEEDED", endTime=_now(), durationInSeconds=0)
            self._run_phases()
        except _Aborted as aborted:
            final_status = str(aborted)
            self._end_current_phase(
                final_status,
                _PhaseError(
                    "BUILD_TIMED_OUT" if final_status == "TIMED_OUT" else "BUILD_STOPPED",
                    f"Build has timed out. {self.settings.timeout_minutes} mins"
                    if final_status == "TIMED_OUT"
                    else "Build was stopped by StopBuild",
                ),
            )
        except Exception as exc:  # a fault of the emulator itself: say so, don't hang the caller
            logger.exception("CodeBuild emulator fault in %s", self.id)
            final_status = "FAULT"
            self._end_current_phase("FAULT", _PhaseError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"))
        else:
            final_status = "FAILED" if self._failed else "SUCCEEDED"
        self._finalize(final_status)

    def _end_current_phase(self, status: str, error: _PhaseError) -> None:
        with self._lock:
            current = self._record["phases"][-1]
            open_phase = "phaseStatus" not in current
        if open_phase:
            self._end(status, error)

    def _run_phases(self) -> None:
        if not self._phase("PROVISIONING", self._provision):
            self._failed = True
            return
        if not self._phase("DOWNLOAD_SOURCE", self._download_source):
            self._failed = True
            return
        for phase_type in ("INSTALL", "PRE_BUILD"):
            if not self._phase(phase_type, lambda p=phase_type: self._run_commands(p)):
                self._failed = True
                if self._on_failure(phase_type) != "CONTINUE":
                    return
        if not self._phase("BUILD", lambda: self._run_commands("BUILD")):
            self._failed = True
        # POST_BUILD and UPLOAD_ARTIFACTS run whenever BUILD ran, as in CodeBuild.
        if not self._phase("POST_BUILD", lambda: self._run_commands("POST_BUILD")):
            self._failed = True
        if not self._phase("UPLOAD_ARTIFACTS", self._upload_artifacts):
            self._failed = True

    def _finalize(self, status: str) -> None:
        try:
            self._begin("FINALIZING")
            error: _PhaseError | None = None
            try:
                self._capture_exported_variables()
            except Exception as exc:
                logger.exception("could not read exported variables of %s", self.id)
                error = _PhaseError("CLIENT_ERROR", f"could not read exported variables: {exc}")
            if self._shell is not None:
                self._shell.close()
            for proc in list(self._processes):
                _kill_process_group(proc)
            self._end("SUCCEEDED" if error is None else "FAILED", error)
            if self.workspace is not None:
                shutil.rmtree(self.workspace, ignore_errors=True)
            self._begin("COMPLETED")
            self._log.system(f"Build {status}")
        finally:
            self._log.close()
            with self._lock:
                self._record.update(buildStatus=status, buildComplete=True, endTime=_now())
            self._done.set()
            self._emit_event()

    # -- PROVISIONING

    def _provision(self) -> None:
        if _workspace_root is not None:
            _workspace_root.mkdir(parents=True, exist_ok=True)
        self.workspace = Path(tempfile.mkdtemp(prefix="stepdeploy-codebuild-", dir=_workspace_root))
        (self.workspace / "src").mkdir()
        (self.workspace / "scripts").mkdir()
        self._src = self.workspace / "src"
        self._log.system(f"Build {self.id} in workspace {self.workspace}")
        self._env = self._base_env()
        self._apply_typed_variables(self.settings.environment.get("environmentVariables") or [])
        self._apply_typed_variables(self.settings.env_overrides)

    def _base_env(self) -> dict[str, str]:
        env = build_environment.base_env()  # never the local cloud's own virtualenv
        region = self._service.region
        env.update(
            AWS_REGION=region,
            AWS_DEFAULT_REGION=region,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_SESSION_TOKEN="testing",
        )
        if endpoint.is_running():
            env["AWS_ENDPOINT_URL"] = endpoint.endpoint_url()
        return env

    def _codebuild_env(self, resolved: str | None) -> dict[str, str]:
        s = self.settings
        values = {
            "CODEBUILD_BUILD_ARN": self.arn,
            "CODEBUILD_BUILD_ID": self.id,
            "CODEBUILD_BUILD_NUMBER": str(self._record["buildNumber"]),
            "CODEBUILD_BUILD_IMAGE": str(s.environment.get("image", "")),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "CODEBUILD_INITIATOR": INITIATOR,
            "CODEBUILD_KMS_KEY_ID": str(self.project.get("encryptionKey") or ""),
            "CODEBUILD_LOG_PATH": s.log_stream,
            "CODEBUILD_PROJECT_NAME": self.project["name"],
            "CODEBUILD_SOURCE_REPO_URL": s.source_location,
            "CODEBUILD_SOURCE_VERSION": s.source_version or "",
            "CODEBUILD_SRC_DIR": str(self._src),
            "CODEBUILD_START_TIME": str(int(self._record["startTime"].timestamp() * 1000)),
        }
        if resolved:
            values["CODEBUILD_RESOLVED_SOURCE_VERSION"] = resolved
        return values

    def _apply_typed_variables(self, variables: Iterable[dict[str, Any]]) -> None:
        for var in variables:
            name, value = str(var.get("name", "")), str(var.get("value", ""))
            kind = var.get("type", "PLAINTEXT")
            if kind == "PARAMETER_STORE":
                value = self._cloud.parameter(value)
            elif kind == "SECRETS_MANAGER":
                value = self._cloud.secret(value)
            self._env[name] = value

    # -- DOWNLOAD_SOURCE

    def _download_source(self) -> None:
        s = self.settings
        resolved: str | None = None
        if s.source_type in GIT_SOURCE_TYPES:
            try:
                location = resolve_git_location(s.source_location)
            except Exception as exc:  # the local GHE knows no such repository
                raise _PhaseError(
                    "CLIENT_ERROR", f"repository not found for primary source {s.source_location}: {exc}"
                ) from exc
            if _is_local_path(location):
                location = Path(location).resolve().as_uri()
            depth = f"depth {s.git_clone_depth}" if s.git_clone_depth else "full history"
            self._log.system(f"Fetching {s.source_location} ({location}) at {s.source_version or 'HEAD'}, {depth}")
            resolved = fetch_git_source(location, self._src, s.source_version, s.git_clone_depth, run=self._git)
            self._log.system(f"Source is at commit {resolved}")
        elif s.source_type == "S3":
            self._download_s3_source(s.source_location)
        elif s.source_type != "NO_SOURCE":
            raise _PhaseError(
                "CLIENT_ERROR",
                f"source type {s.source_type} is not supported by the local CodeBuild: use "
                "GITHUB_ENTERPRISE, GITHUB, S3 or NO_SOURCE",
            )
        if resolved:
            self._update(resolvedSourceVersion=resolved)
        self._buildspec, where = load_buildspec(s.buildspec, self._src, self._cloud)
        self._log.system(f"YAML location is {where}")
        self._log.system("Processing environment variables")
        self._apply_buildspec_env(resolved)

    def _git(self, args: list[str], cwd: Path) -> tuple[int, str]:
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._track(proc)
        out, _ = proc.communicate()
        text = out.decode("utf-8", errors="replace")
        self._check_abort()
        for line in text.splitlines():
            self._log.output(line)
        return proc.returncode, text

    def _download_s3_source(self, location: str) -> None:
        bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
        try:
            obj = self._cloud.s3().get_object(bucket, key)
        except Exception as exc:
            raise _PhaseError("CLIENT_ERROR", f"could not read the S3 source {location}: {exc}") from exc
        if obj is None:
            raise _PhaseError("CLIENT_ERROR", f"the S3 source {location} does not exist")
        with zipfile.ZipFile(io.BytesIO(obj.value)) as archive:
            archive.extractall(self._src)

    def _apply_buildspec_env(self, resolved: str | None) -> None:
        env_section = self._buildspec.get("env") or {}
        # Lowest precedence: the buildspec; then the project; then the StartBuild overrides.
        from_buildspec: dict[str, str] = {}
        for name, value in (env_section.get("variables") or {}).items():
            from_buildspec[str(name)] = "" if value is None else str(value)
        for name, value in (env_section.get("parameter-store") or {}).items():
            from_buildspec[str(name)] = self._cloud.parameter(str(value))
        for name, value in (env_section.get("secrets-manager") or {}).items():
            from_buildspec[str(name)] = self._cloud.secret(str(value))
        higher = {str(v.get("name")) for v in self.settings.environment.get("environmentVariables") or []}
        higher |= {str(v.get("name")) for v in self.settings.env_overrides}
        for name, value in from_buildspec.items():
            if name not in higher:
                self._env[name] = value
        self._env.update(self._codebuild_env(resolved))
        for name in _ensure_list(env_section.get("exported-variables")):
            if not _VAR_NAME_RE.match(str(name)):
                raise _PhaseError("YAML_FILE_ERROR", f"exported variable name {name!r} is not a valid name")
        assert self.workspace is not None
        install = (self._buildspec.get("phases") or {}).get("install") or {}
        versions = install.get("runtime-versions") if isinstance(install, dict) else None
        try:
            image, notes = build_environment.prepare(
                self.workspace, versions if isinstance(versions, dict) else None,
                privileged=_boolish(self.settings.environment.get("privilegedMode", False)),
            )
        except build_environment.BuildEnvironmentError as exc:
            raise _PhaseError("CLIENT_ERROR", str(exc)) from None
        for note in notes:
            self._log.system(note)
        explicit = {str(v.get("name")) for v in self.settings.environment.get("environmentVariables") or []}
        explicit |= {str(v.get("name")) for v in self.settings.env_overrides} | set(from_buildspec)
        self._env.update({k: v for k, v in image.items() if k not in explicit})
        self._shell = _Shell(self._src, self._env, self.workspace / "scripts", self._log.output, self._track)

    # -- INSTALL .. POST_BUILD

    def _on_failure(self, phase_type: str) -> str:
        spec = (self._buildspec.get("phases") or {}).get(BUILDSPEC_PHASE_KEYS[phase_type]) or {}
        return str(spec.get("on-failure", "ABORT")).upper()

    def _run_commands(self, phase_type: str) -> None:
        spec = (self._buildspec.get("phases") or {}).get(BUILDSPEC_PHASE_KEYS[phase_type]) or {}
        assert self._shell is not None
        if self._failed:
            self._shell.run("export CODEBUILD_BUILD_SUCCEEDING=0", quiet=True)
        failure: _PhaseError | None = None
        for command in _ensure_list(spec.get("commands")):
            failure = self._run_command(str(command))
            if failure:
                break
        for command in _ensure_list(spec.get("finally")):
            error = self._run_command(str(command))
            if error:
                failure = failure or error
                break
        if failure:
            raise failure

    def _run_command(self, command: str) -> _PhaseError | None:
        self._check_abort()
        assert self._shell is not None
        if str(self._buildspec.get("version")) == "0.1":
            self._shell.restart()  # 0.1 runs every command in a shell of its own
        self._log.system(f"Running command {command}")
        code = self._shell.run(command)
        self._check_abort()
        if code == 0:
            return None
        self._log.system(f"Command did not exit successfully {command} exit status {code}")
        return _PhaseError(
            "COMMAND_EXECUTION_ERROR", f"Error while executing command: {command}. Reason: exit status {code}"
        )

    # -- UPLOAD_ARTIFACTS

    def _upload_artifacts(self) -> None:
        config = self.settings.artifacts
        kind = config.get("type", "NO_ARTIFACTS")
        if kind == "NO_ARTIFACTS":
            return
        if kind != "S3":
            raise _PhaseError(
                "CLIENT_ERROR", f"artifacts type {kind} is not supported by the local CodeBuild: use S3 or NO_ARTIFACTS"
            )
        spec = self._buildspec.get("artifacts")
        if not isinstance(spec, dict) or not spec.get("files"):
            raise _PhaseError(
                "CLIENT_ERROR",
                "no artifact files: the project uploads S3 artifacts but the buildspec has no artifacts.files",
            )
        files = collect_artifact_files(self._src, spec)
        if not files:
            raise _PhaseError("CLIENT_ERROR", f"no matching artifact paths found for {_ensure_list(spec.get('files'))}")
        bucket = str(config.get("location") or "")
        name = str(config.get("name") or self.project["name"])
        if _boolish(config.get("overrideArtifactName", False)) and spec.get("name"):
            name = self._expand(str(spec["name"]))
        parts = [str(config.get("path") or "").strip("/")]
        if config.get("namespaceType") == "BUILD_ID":
            parts.append(self.uuid)
        parts.append(name.strip("/"))
        key = "/".join(p for p in parts if p)
        s3 = self._cloud.s3()
        try:
            s3.get_bucket(bucket)
        except Exception as exc:
            raise _PhaseError("CLIENT_ERROR", f"artifact bucket {bucket!r} does not exist") from exc
        record: dict[str, Any] = {"location": f"arn:aws:s3:::{bucket}/{key}"}
        if str(config.get("packaging", "NONE")).upper() == "ZIP":
            body = _zip_files(files)
            s3.put_object(bucket, key, body)
            record.update(md5sum=hashlib.md5(body).hexdigest(), sha256sum=hashlib.sha256(body).hexdigest())
        else:
            for path, rel in files:
                s3.put_object(bucket, f"{key}/{rel}", path.read_bytes())
        if config.get("overrideArtifactName") is not None:
            record["overrideArtifactName"] = _boolish(config["overrideArtifactName"])
        record["encryptionDisabled"] = _boolish(config.get("encryptionDisabled", False))
        self._update(artifacts=record)
        self._log.system(f"Uploaded {len(files)} file(s) to {record['location']}")

    def _expand(self, text: str) -> str:
        """$VAR and ${VAR} with the shell's environment as the build left it (artifact names)."""
        env = dict(self._env)
        if self._shell is not None and self.workspace is not None:
            dump = self.workspace / "scripts" / "environment.bin"
            if self._shell.run(f"env -0 > '{dump}'", quiet=True) == 0 and dump.exists():
                for entry in dump.read_bytes().decode("utf-8", errors="replace").split("\0"):
                    key, sep, value = entry.partition("=")
                    if sep:
                        env[key] = value
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)

    # -- FINALIZING

    def _capture_exported_variables(self) -> None:
        names = [str(n) for n in _ensure_list((self._buildspec.get("env") or {}).get("exported-variables"))]
        if not names or self._shell is None or self.workspace is None:
            return
        out = self.workspace / "scripts" / "exported.bin"
        listing = " ".join(n for n in names if _VAR_NAME_RE.match(n))
        self._shell.run(
            f'for __n in {listing}; do if [ -n "${{!__n+x}}" ]; then '
            f"printf '%s\\0%s\\0' \"$__n\" \"${{!__n}}\"; fi; done > '{out}'",
            quiet=True,
        )
        if not out.exists():
            return
        fields = out.read_bytes().decode("utf-8", errors="replace").split("\0")
        values = dict(zip(fields[0::2], fields[1::2], strict=False))
        self._update(exportedEnvironmentVariables=[{"name": n, "value": values[n]} for n in names if n in values])

    # -- events

    def _emit_event(self) -> None:
        try:
            self._cloud.put_build_event(build_event_detail(self.snapshot()), self.arn)
        except Exception:
            logger.exception("could not put the CodeBuild Build State Change event of %s", self.id)


def build_event_detail(build: dict[str, Any]) -> dict[str, Any]:
    """The ``detail`` of a "CodeBuild Build State Change" event, shaped as AWS documents it."""
    environment = build.get("environment") or {}
    source = build.get("source") or {}
    logs = build.get("logs") or {}
    info: dict[str, Any] = {
        "environment": {
            "image": environment.get("image"),
            "privileged-mode": bool(environment.get("privilegedMode", False)),
            "compute-type": environment.get("computeType"),
            "type": environment.get("type"),
            "environment-variables": [
                {"name": v.get("name"), "type": v.get("type", "PLAINTEXT"), "value": v.get("value")}
                for v in environment.get("environmentVariables") or []
            ],
        },
        "timeout-in-minutes": build.get("timeoutInMinutes"),
        "build-complete": bool(build.get("buildComplete")),
        "build-number": build.get("buildNumber"),
        "initiator": build.get("initiator"),
        "build-start-time": _event_time(build["startTime"]),
        "source": {
            k: v
            for k, v in {
                "location": source.get("location"),
                "type": source.get("type"),
                "buildspec": source.get("buildspec"),
            }.items()
            if v
        },
        "queued-timeout-in-minutes": build.get("queuedTimeoutInMinutes"),
    }
    if build.get("sourceVersion"):
        info["source-version"] = build["sourceVersion"]
    if build.get("resolvedSourceVersion"):
        info["resolved-source-version"] = build["resolvedSourceVersion"]
    artifacts = build.get("artifacts") or {}
    if artifacts.get("location"):
        info["artifact"] = {k: artifacts[k] for k in ("md5sum", "sha256sum", "location") if k in artifacts}
    if logs.get("groupName"):
        info["logs"] = {
            "group-name": logs["groupName"],
            "stream-name": logs["streamName"],
            "deep-link": logs["deepLink"],
        }
    phases = []
    for phase in build.get("phases") or []:
        item: dict[str, Any] = {
            "phase-context": [
                f"{c['statusCode']}: {c['message']}" for c in phase.get("contexts") or [] if c.get("statusCode")
            ],
            "start-time": _event_time(phase["startTime"]),
            "phase-type": phase["phaseType"],
        }
        if "endTime" in phase:
            item["end-time"] = _event_time(phase["endTime"])
            item["duration-in-seconds"] = phase.get("durationInSeconds", 0)
        if "phaseStatus" in phase:
            item["phase-status"] = phase["phaseStatus"]
        phases.append(item)
    info["phases"] = phases
    failed = [ctx for p in phases for ctx in p["phase-context"]]
    return {
        "build-status": build["buildStatus"],
        "project-name": build["projectName"],
        "build-id": build["arn"],
        "additional-information": info,
        "current-phase": build.get("currentPhase"),
        "current-phase-context": "[" + ", ".join(failed) + "]",
        "version": "1",
    }


# ---------------------------------------------------------------------------------------------
# The service: builds of one account and region


@dataclass
class _TokenUse:
    build_id: str
    fingerprint: str
    started_monotonic: float


@dataclass
class BuildService:
    account_id: str
    region: str
    builds: dict[str, Build] = field(default_factory=dict)
    _numbers: dict[str, int] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], _TokenUse] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, project: dict[str, Any], request: StartBuildRequest) -> tuple[Build, bool]:
        """Start a build of ``project`` (its API metadata); (build, False) when the idempotency
        token was used for this project within 5 virtual minutes."""
        with self._lock:
            token_key = (project["name"], request.idempotency_token or "")
            if request.idempotency_token:
                used = self._tokens.get(token_key)
                if used is not None:
                    elapsed = (time.monotonic() - used.started_monotonic) * CLOCK.speed
                    if elapsed < IDEMPOTENCY_WINDOW_VIRTUAL_SECONDS:
                        if used.fingerprint != request.fingerprint():
                            raise StartBuildRejected(
                                f"idempotencyToken {request.idempotency_token!r} was already used with "
                                "different parameters within 5 minutes: use a new token or the same parameters"
                            )
                        return self.builds[used.build_id], False
            number = self._numbers.get(project["name"], 0) + 1
            self._numbers[project["name"]] = number
            build = Build(self, project, request, number)
            self.builds[build.id] = build
            if request.idempotency_token:
                self._tokens[token_key] = _TokenUse(build.id, request.fingerprint(), build.started_monotonic)
        build.start()
        return build, True

    def get(self, build_id: str) -> Build | None:
        return self.builds.get(build_id.split("/", 1)[1] if build_id.startswith("arn:") else build_id)

    def stop(self, build_id: str, real_wait: float = 10.0) -> Build | None:
        build = self.get(build_id)
        if build is None:
            return None
        build.stop()
        build.wait(real_wait)
        return build


_services: dict[tuple[str, str], BuildService] = {}
_services_lock = threading.Lock()


def service_for(account_id: str = endpoint.ACCOUNT_ID, region: str = endpoint.REGION) -> BuildService:
    with _services_lock:
        key = (account_id, region)
        if key not in _services:
            _services[key] = BuildService(account_id, region)
        return _services[key]


def find_build(build_id: str) -> Build | None:
    with _services_lock:
        services = list(_services.values())
    for service in services:
        build = service.get(build_id)
        if build is not None:
            return build
    return None


def build_log_path(build_id: str) -> Path | None:
    """The local copy of a build's log (kept after the workspace is removed)."""
    build = find_build(build_id)
    return build.log_path if build else None


def stop_all_builds() -> None:
    """Stop every running build (the local cloud shutting down)."""
    with _services_lock:
        services = list(_services.values())
    for service in services:
        for build in list(service.builds.values()):
            build.stop()


atexit.register(stop_all_builds)
