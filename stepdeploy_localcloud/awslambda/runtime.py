"""The local cloud's Lambda runtime: Invoke runs the function's real handler.

A function version runs in warm worker subprocesses (worker.py for Python, node_worker.js for Node.js;
up to MAX_WORKERS_PER_VERSION at once) on the interpreter of its declared runtime (runtimes.py), from its
deployed zip and layers extracted once per code hash under the code root, with its own environment and
nothing else on its path but what the Lambda runtime provides (sdk.py). A runtime the machine lacks, a
layer the local cloud does not have and a compiled file built for another machine (binaries.py) fail the
invocation with an error that names them. ``set_mode("inprocess")`` imports a Python handler into this
process instead (tests only: it is not isolated). Results, errors, timeouts, alias weights, logs and
AWS/Lambda metrics (metrics.py) follow AWS.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import uuid
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    UnknownFunctionException,
)
from moto.awslambda.models import LambdaFunction

from stepdeploy_localcloud import backends, endpoint, queueing
from stepdeploy_localcloud.awslambda import binaries, runtimes, sdk
from stepdeploy_localcloud.awslambda import metrics as lambda_metrics
from stepdeploy_localcloud.awslambda.worker import END_MARKER, LambdaContext, error_payload, load_handler
from stepdeploy_localcloud.ecr import images as ecr_images
from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION

MAX_WORKERS_PER_VERSION = 4
LOG_TAIL_BYTES = 4096
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
NODE_WORKER_SCRIPT = Path(__file__).with_name("node_worker.js")
MODE_ENV = "STEPDEPLOY_LAMBDA_MODE"
MODES = ("worker", "inprocess")
FaultKind = Literal["throttle", "service_error", "timeout", "unhandled"]
FAULT_KINDS: tuple[str, ...] = ("throttle", "service_error", "timeout", "unhandled")


@dataclass
class InvokeResult:
    status_code: int
    payload: bytes
    function_error: str | None
    executed_version: str
    log_tail: str


class TooManyRequestsException(LambdaClientError):
    code = 429

    def __init__(self, message: str = "Rate Exceeded.") -> None:
        super().__init__("TooManyRequestsException", message)


class LambdaServiceException(LambdaClientError):
    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServiceException", message)


class InvalidRequestContentException(LambdaClientError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestContentException", message)


# ---------------------------------------------------------------------------------------------
# Resolving what to run
# ---------------------------------------------------------------------------------------------

_ARN = re.compile(
    r"^(?:arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):function:)?(?P<name>[A-Za-z0-9_-]+)(?::(?P<qualifier>[^:]+))?$"
)


@dataclass(frozen=True)
class Target:
    """A resolved invocation: which function version runs, and how it was addressed."""

    function: LambdaFunction
    executed_version: str
    alias: str | None
    qualifier: str | None
    invoked_arn: str
    account_id: str
    region: str


def _unqualified_arn(account_id: str, region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def resolve(function: str, qualifier: str | None, account_id: str, region: str) -> Target:
    """Find the function version an Invoke runs, as AWS does (name, ARN or partial ARN;
    version, $LATEST or alias, with weighted alias routing)."""
    match = _ARN.match(function)
    if match is None:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{function}' at 'functionName' failed to satisfy "
            "constraint: expected a function name, a function ARN or a partial ARN"
        )
    account_id = match["account"] or account_id
    region = match["region"] or region
    name = match["name"]
    if match["qualifier"] is not None:
        if qualifier is not None and qualifier != match["qualifier"]:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        qualifier = match["qualifier"]

    backend = backends.backend("lambda", account_id, region)
    base_arn = _unqualified_arn(account_id, region, name)
    invoked_arn = f"{base_arn}:{qualifier}" if qualifier else base_arn
    not_found = UnknownFunctionException(invoked_arn)
    try:
        latest = backend.get_function(name)
    except UnknownFunctionException:
        raise not_found from None

    def version(number: str) -> LambdaFunction:
        if number == "$LATEST":
            return latest
        try:
            return backend.get_function(name, number)
        except LambdaClientError:
            raise not_found from None

    if qualifier is None or qualifier == "$LATEST":
        return Target(latest, "$LATEST", None, qualifier, invoked_arn, account_id, region)
    if qualifier.isdigit():
        return Target(version(qualifier), qualifier, None, qualifier, invoked_arn, account_id, region)
    try:
        alias = backend.get_alias(qualifier, name)
    except LambdaClientError:
        raise not_found from None
    chosen = _route(alias.function_version, alias.routing_config)
    return Target(version(chosen), chosen, qualifier, qualifier, invoked_arn, account_id, region)


def _route(primary: str, routing_config: Any) -> str:
    """Pick the version an alias invocation runs: each additional version by its weight."""
    weights: dict[str, float] = {}
    if isinstance(routing_config, dict):
        weights = routing_config.get("AdditionalVersionWeights") or {}
    draw = random.random()
    for version, weight in weights.items():
        if draw < float(weight):
            return str(version)
        draw -= float(weight)
    return str(primary)

# ---------------------------------------------------------------------------------------------
# Code: deployed zips and layers, extracted once per code hash under the code root
# ---------------------------------------------------------------------------------------------

_extract_lock = threading.Lock()
_root_lock = threading.Lock()
_code_root: Path | None = None
_code_root_is_private = False
_provided_layers: dict[str, Path] = {}


def set_code_root(path: Path | None) -> None:
    """Where extracted code, layers and the runtime's SDK go (LocalCloud: under its state folder).

    Without one, a private temporary folder is made at the first invocation and removed by
    ``shutdown()``: nothing is left behind in the shared temporary folder.
    """
    global _code_root, _code_root_is_private
    with _root_lock:
        previous, private = _code_root, _code_root_is_private
        _code_root, _code_root_is_private = (Path(path).resolve(), False) if path is not None else (None, False)
    if previous is not None and private:
        shutil.rmtree(previous, ignore_errors=True)


def code_root() -> Path:
    global _code_root, _code_root_is_private
    with _root_lock:
        if _code_root is None:
            _code_root = Path(tempfile.mkdtemp(prefix="stepdeploy-lambda-"))
            _code_root_is_private = True
        _code_root.mkdir(parents=True, exist_ok=True)
        return _code_root


def provide_layer(arn: str, path: Path) -> None:
    """Serve layer version ``arn`` (one that exists only on AWS, e.g. a public layer) from ``path``:
    a folder laid out as the layer's zip (python/..., nodejs/node_modules/...) or the zip itself."""
    if not _LAYER_ARN.match(arn):
        raise ValueError(
            f"layer {arn!r}: expected a layer version ARN, arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION"
        )
    path = Path(path).expanduser().resolve()
    if not (path.is_dir() or (path.is_file() and zipfile.is_zipfile(path))):
        raise ValueError(f"layer {arn}: {path} is neither a folder nor a zip file")
    _provided_layers[arn] = path


def provided_layer(arn: str) -> Path | None:
    return _provided_layers.get(arn)


def clear_provided_layers() -> None:
    _provided_layers.clear()


def missing_layer_message(arn: str) -> str:
    return (
        f"Layer version {arn} does not exist on the local cloud (a layer published on AWS, such as a public "
        f"one, is not here). Provide its content: `stepdeploy local up --layer {arn}=PATH` (PATH: a folder "
        "laid out as the layer's zip, e.g. PATH/python/..., or the zip file), or publish it to the local "
        "cloud and reference that ARN, or add its packages to the function's requirements."
    )


_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")


def _digest(code_digest: str | None, data: bytes) -> str:
    return code_digest or hashlib.sha256(data).hexdigest()


def extract_code(digest: str, data: bytes) -> Path:
    root = code_root()
    target = root / digest
    if target.is_dir():
        return target
    with _extract_lock:
        if target.is_dir():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
        try:
            if data:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(staging)
            try:
                staging.rename(target)
            except OSError:  # another process extracted the same code first
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


@dataclass(frozen=True)
class FunctionSpec:
    """Everything a worker of one function version is started from (also the pool's key)."""

    account_id: str
    region: str
    name: str
    version: str
    unqualified_arn: str
    handler: str
    runtime: str
    package_type: str
    timeout: float
    memory_size: int
    environment: tuple[tuple[str, str], ...]
    code_digest: str
    code_dir: str
    layer_dirs: tuple[str, ...] = field(default=())
    endpoint_url: str | None = None  # a new server address means new workers
    language: str = "python"  # python or node: which worker runs it
    executable: str = sys.executable
    runtime_version: str = ""  # of the interpreter, e.g. 3.12.1
    runtime_note: str = ""  # logged at each cold start, e.g. a configured node of another major
    sdk_dir: str = ""  # what the Lambda runtime provides (boto3 for Python)
    problem: tuple[str, str] | None = None  # (errorType, message): why it cannot run here

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def python_version(self) -> str:
        version = self.runtime_version or f"{sys.version_info[0]}.{sys.version_info[1]}"
        return ".".join(version.split(".")[:2])

    @property
    def python_path(self) -> list[str]:
        """As on AWS: the code, the layers (the last listed wins, as files in /opt do), then the runtime's SDK."""
        paths = [self.code_dir]
        for layer in reversed(self.layer_dirs):
            site = Path(layer) / "python" / "lib" / f"python{self.python_version}" / "site-packages"
            if site.is_dir():
                paths.append(str(site))
            paths.append(str(Path(layer) / "python"))
        if self.sdk_dir:
            paths.append(self.sdk_dir)
        return paths

    @property
    def node_path(self) -> list[str]:
        """As on AWS: /opt/nodejs/nodeNN/node_modules, then /opt/nodejs/node_modules, for each layer."""
        major = self.runtime_version.split(".")[0]
        paths: list[str] = []
        for layer in reversed(self.layer_dirs):
            paths += [str(Path(layer) / "nodejs" / f"node{major}" / "node_modules"),
                      str(Path(layer) / "nodejs" / "node_modules")]
        return paths


def _layer_dir(backend: Any, arn: str) -> Path | None:
    layer_version = backend.layers_versions_by_arn(arn)
    if layer_version is not None:
        layer_bytes = layer_version.code_bytes or b""
        return extract_code(_digest(layer_version.code_digest, layer_bytes), layer_bytes)
    provided = provided_layer(arn)
    if provided is None:
        return None
    if provided.is_dir():
        return provided
    data = provided.read_bytes()
    return extract_code(_digest(None, data), data)


def _cannot_run(runtime: str, package_type: str, code_dir: Path, layer_dirs: list[Path],
             found: runtimes.Interpreter | None) -> tuple[str, str] | None:
    """Why the function cannot run here, as (errorType, message), before a worker starts."""
    if package_type not in ("Zip", "Image"):
        return ("Runtime.InvalidRuntime",
                f"a {package_type} package cannot run on the local cloud: only zip packages and images run here")
    if found is None:
        return None
    python_version = ".".join(found.version.split(".")[:2]) if found.language == "python" else None
    for folder, what in [(code_dir, "the function's code"), *((d, f"layer {d.name}") for d in layer_dirs)]:
        foreign = binaries.foreign_binary(folder, python_version)
        if foreign:
            return ("Runtime.ImportModuleError",
                    f"{what}: {foreign}. Build the package for this machine ({binaries.HOST_MACHINE}"
                    f"{', Python ' + python_version if python_version else ''}): e.g. pip install --platform "
                    f"manylinux2014_{binaries.HOST_MACHINE} --only-binary=:all: -t ..., or for stepdeploy's own "
                    "template `STEPDEPLOY_LOCAL_BUILD=1 sam build` (see docs/local-cloud.md)")
    return None


_IMAGE_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
                        r"(?P<repo>[^:@]+)(?::(?P<tag>[^:@/]+)|@(?P<digest>sha256:[0-9a-f]{64}))$")


def _image(target: Target, uri: str) -> tuple[ecr_images.ImageConfig, Path]:
    """The emulated image an ImageUri names in the local ECR: its config and task root folder."""
    match = _IMAGE_URI.match(uri)
    if not match:
        raise ecr_images.ImageError(f"ImageUri {uri!r}: expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG "
                                    "(or @sha256:DIGEST) in the local ECR")
    ecr = backends.backend("ecr", match["account"], match["region"])
    repository = ecr.repositories.get(match["repo"])
    wanted = [i for i in (repository.images if repository else [])
              if (match["tag"] in i.image_tags if match["tag"] else i.image_digest == match["digest"])]
    if not wanted:
        raise ecr_images.ImageError(f"ImageUri {uri}: no such image in the local ECR (push it from a local "
                                    "build: docker build -t URI . && docker push URI)")
    digest = wanted[0].image_digest
    folder = ecr_images.image_dir(digest)
    return ecr_images.config_of(digest), folder / "task"


def function_spec(target: Target) -> FunctionSpec:
    fn = target.function
    backend = backends.backend("lambda", target.account_id, target.region)
    code_bytes: bytes = getattr(fn, "code_bytes", b"") or b""
    digest = _digest(getattr(fn, "code_digest", None), code_bytes)
    code_dir = extract_code(digest, code_bytes)
    problem: tuple[str, str] | None = None
    layer_dirs: list[Path] = []
    for layer in fn.layers or []:
        folder = _layer_dir(backend, layer["Arn"])
        if folder is None:
            problem = problem or ("ResourceNotFoundException", missing_layer_message(layer["Arn"]))
        else:
            layer_dirs.append(folder)
    runtime = fn.run_time or ""
    handler = fn.handler or ""
    environment = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    package_type = fn.package_type or "Zip"
    if package_type == "Image" and problem is None:
        try:
            image, code_dir = _image(target, str((getattr(fn, "code", None) or {}).get("ImageUri", "")))
        except ecr_images.ImageError as exc:
            problem = ("Runtime.InvalidEntrypoint", str(exc))
        else:
            runtime, digest = image.runtime, f"image-{code_dir.parent.name}"
            command = list(getattr(getattr(fn, "image_config", None), "cmd", None) or [])
            handler = str(command[0]) if command else image.handler
            environment = {**image.environment, **environment}
    found: runtimes.Interpreter | None = None
    if package_type in ("Zip", "Image") and problem is None:
        try:
            found = runtimes.interpreter(runtime)
        except runtimes.RuntimeUnavailable as exc:
            problem = ("Runtime.InvalidRuntime", str(exc))
    problem = problem or _cannot_run(runtime, package_type, code_dir, layer_dirs, found)
    return FunctionSpec(
        account_id=target.account_id,
        region=target.region,
        name=fn.function_name,
        version=str(fn.version),
        unqualified_arn=_unqualified_arn(target.account_id, target.region, fn.function_name),
        handler=handler,
        runtime=runtime,
        package_type=package_type,
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        environment=tuple(sorted(environment.items())),
        code_digest=digest,
        code_dir=str(code_dir),
        layer_dirs=tuple(str(d) for d in layer_dirs),
        endpoint_url=endpoint.endpoint_url() if endpoint.is_running() else None,
        language=found.language if found else "python",
        executable=found.executable if found else sys.executable,
        runtime_version=found.version if found else "",
        runtime_note=found.note if found else "",
        sdk_dir=str(sdk.python_sdk(code_root())) if found and found.language == "python" else "",
        problem=problem,
    )


def function_environment(spec: FunctionSpec, log_stream: str) -> dict[str, str]:
    """The function's variables, then what the Lambda service itself sets.

    No X-Ray here: tracing is off unless the function turns it on (POWERTOOLS_TRACE_DISABLED, read by
    powertools' Tracer as under SAM local), else the X-Ray SDK logs "subsegment discarded" on every call.
    """
    env = {"POWERTOOLS_TRACE_DISABLED": "true", **dict(spec.environment)}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": spec.code_dir,
            "LAMBDA_RUNTIME_DIR": spec.sdk_dir or str(Path(spec.executable).parent),
            "TZ": ":UTC",
        }
    )
    if spec.language == "node":
        env["NODE_PATH"] = os.pathsep.join(spec.node_path)
    else:
        env["PYTHONPATH"] = os.pathsep.join(spec.python_path)
        env["PYTHONUNBUFFERED"] = "1"
    if spec.endpoint_url:
        env["AWS_ENDPOINT_URL"] = spec.endpoint_url
    # Functions that wait on services (stepdeploy.polling) poll on the local cloud's accelerated clock.
    from stepdeploy_localcloud.clock import CLOCK

    env["STEPDEPLOY_CLOCK_SPEED"] = repr(CLOCK.speed)
    return env


def _log_stream_name(version: str) -> str:
    now = datetime.now(UTC)
    return f"{now:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run of a handler gave: a payload, or an error payload for FunctionError."""

    payload: bytes
    error: bool
    log_lines: list[str]


def timeout_error(request_id: str, timeout: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
    }


class _Lines:
    """Splits bytes read from a pipe into text lines."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]


class Worker:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.log_stream = _log_stream_name(spec.version)
        result_read, result_write = os.pipe()
        env = function_environment(spec, self.log_stream)
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        env["HOME"] = str(code_root() / "home")  # keep the user's ~/.aws out of the function
        for name in ("LANG", "LC_ALL", "SYSTEMROOT"):
            if name in os.environ:
                env[name] = os.environ[name]
        if spec.language == "node":
            command = [spec.executable, str(NODE_WORKER_SCRIPT), str(result_write)]
        else:  # -I -S: no site-packages, no user site, no PYTHON* variables; worker.py sets sys.path
            command = [spec.executable, "-I", "-S", str(WORKER_SCRIPT), str(result_write)]
        try:
            self.process = subprocess.Popen(  # noqa: S603 - the function's runtime, from runtimes.py
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=spec.code_dir,
                env=env,
                pass_fds=(result_write,),
                start_new_session=True,
            )
        finally:
            os.close(result_write)
        self._result_fd = result_read
        self._output = _Lines()
        self._results = _Lines()
        self.started_at = time.monotonic()
        self.used = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, request_id: str, event: bytes, invoked_arn: str, deadline: float) -> Outcome:
        """Run one invocation; kill the worker if it passes ``deadline`` (time.time())."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {
            "request_id": request_id,
            "event": event.decode("utf-8"),
            "invoked_function_arn": invoked_arn,
            "deadline_ms": int(deadline * 1000),
        }
        log_lines: list[str] = []
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            return self._crashed(request_id, log_lines)
        stdout_fd = self.process.stdout.fileno()
        reply: dict[str, Any] | None = None
        ended = False
        open_fds = {stdout_fd, self._result_fd}
        while reply is None or not ended:
            remaining = deadline - time.time()
            if remaining <= 0:
                self.kill()
                message = timeout_error(request_id, self.spec.timeout)["errorMessage"]
                log_lines.append(f"{_timestamp()} {message}")
                return Outcome(json.dumps(timeout_error(request_id, self.spec.timeout)).encode(), True, log_lines)
            readable, _, _ = select.select(list(open_fds), [], [], remaining)
            for fd in readable:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.discard(fd)
                    continue
                if fd == stdout_fd:
                    for line in self._output.feed(data):
                        if line == f"{END_MARKER}{request_id}":
                            if log_lines and log_lines[-1] == "":
                                log_lines.pop()  # the newline the worker adds before the marker
                            ended = True
                        else:
                            log_lines.append(line)
                else:
                    for line in self._results.feed(data):
                        if line.strip():
                            reply = json.loads(line)
            if not open_fds or (self._result_fd not in open_fds and reply is None):
                return self._crashed(request_id, log_lines)
        if "error" in reply:
            return Outcome(json.dumps(reply["error"]).encode(), True, log_lines)
        return Outcome(reply["payload"].encode(), False, log_lines)

    def _crashed(self, request_id: str, log_lines: list[str]) -> Outcome:
        self.kill()
        status = self.process.returncode
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
        log_lines.append(message)
        error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return Outcome(json.dumps(error).encode(), True, log_lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        self._close()

    def end_requests(self) -> None:
        """Close the worker's request pipe: it exits once its current request (if any) is done."""
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()

    def stop(self, grace: float = 2.0) -> None:
        """Let the worker exit by itself after ``end_requests``, then kill it if it lingers."""
        self.end_requests()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        self.kill()

    def _close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(OSError):
            os.close(self._result_fd)
        self._result_fd = -1


class WorkerPool:
    """Warm workers of one function version; at most ``size`` run at once."""

    def __init__(self, spec: FunctionSpec, size: int = MAX_WORKERS_PER_VERSION) -> None:
        self.spec = spec
        self.size = size
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._count = 0
        self._closed = False
        self._condition = threading.Condition()

    @contextlib.contextmanager
    def worker(self) -> Iterator[Worker]:
        worker = self._acquire()
        with self._condition:
            self._busy.add(worker)
        healthy = False
        try:
            yield worker
            healthy = worker.alive()
        finally:
            self._release(worker, healthy)

    def _acquire(self) -> Worker:
        with self._condition:
            while True:
                if self._closed:
                    raise LambdaServiceException(f"the workers of {self.spec.name} were shut down")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    worker.kill()
                    self._count -= 1
                if self._count < self.size:
                    self._count += 1
                    break
                with queueing.waiting_for_worker():  # not counted by a Step Functions task's timeout
                    self._condition.wait()
        try:
            return Worker(self.spec)
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._condition:
            self._busy.discard(worker)
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                worker.kill()
                self._count -= 1
            self._condition.notify()

    def close(self) -> list[Worker]:
        """Refuse new invocations; busy workers are killed when released. Returns the idle ones,
        to be stopped by the caller."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._condition.notify_all()
        return idle

    def busy(self) -> list[Worker]:
        with self._condition:
            return list(self._busy)

    @property
    def worker_count(self) -> int:
        return self._count


_pools: dict[tuple[str, str, str, str], WorkerPool] = {}
_pools_lock = threading.Lock()
_refusing = False  # the local cloud is stopping: no new environment may start


def refuse_invocations(refuse: bool = True) -> None:
    """While a local cloud stops, an invocation from a thread still running (an execution, a poller)
    fails instead of starting a worker that would outlive the stop and write into its code root."""
    global _refusing
    with _pools_lock:
        _refusing = refuse


def _pool_for(spec: FunctionSpec) -> WorkerPool:
    key = (spec.account_id, spec.region, spec.name, spec.version)
    with _pools_lock:
        if _refusing:
            raise LambdaServiceException("The local cloud is stopping: the invocation was not run.")
        pool = _pools.get(key)
        if pool is not None and pool.spec == spec:
            return pool
        _pools[key] = WorkerPool(spec)
    if pool is not None:  # code or configuration changed: retire the old environments
        _stop_workers(pool.close())
    return _pools[key]


def _run_in_worker(spec: FunctionSpec, request_id: str, event: bytes, invoked_arn: str) -> Outcome:
    with _pool_for(spec).worker() as worker:
        # As on AWS, the timeout runs from when an environment takes the request, not from the request.
        deadline = time.time() + spec.timeout
        cold = not worker.used
        worker.used = True
        outcome = worker.run(request_id, event, invoked_arn, deadline)
        if cold and spec.runtime_note:
            outcome.log_lines.insert(0, f"[WARNING] {spec.runtime_note}")
        outcome.log_lines[:0] = [f"\x00stream {worker.log_stream}"]
        return outcome


# ---------------------------------------------------------------------------------------------
# In-process mode
# ---------------------------------------------------------------------------------------------

_inprocess_lock = threading.Lock()
_inprocess_state = threading.local()
_inprocess_modules: dict[tuple[str, str, str, str], Any] = {}


def _inprocess_handler(spec: FunctionSpec) -> Any:
    key = (spec.account_id, spec.name, spec.code_digest, spec.handler)
    if key not in _inprocess_modules:
        package = "_stepdeploy_lambda_" + re.sub(r"\W", "_", spec.name) + "_" + spec.code_digest[:12]
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [spec.code_dir]
            sys.modules[package] = module
        _inprocess_modules[key] = load_handler(f"{package}/{spec.handler}")
    return _inprocess_modules[key]


class _CapturedOutput(io.TextIOBase):
    def __init__(self) -> None:
        self.text = io.StringIO()

    def write(self, text: str) -> int:
        return self.text.write(text)


@contextlib.contextmanager
def _function_process_state(spec: FunctionSpec, log_stream: str) -> Iterator[_CapturedOutput]:
    """os.environ, sys.path, stdout and stderr as the function sees them, restored after."""
    saved_env = dict(os.environ)
    saved_path = list(sys.path)
    saved_streams = sys.stdout, sys.stderr
    output = _CapturedOutput()
    env = function_environment(spec, log_stream)
    os.environ.update(env)
    sys.path[:0] = spec.python_path
    sys.stdout = sys.stderr = output
    try:
        yield output
    finally:
        sys.stdout, sys.stderr = saved_streams
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)


def _run_in_process(spec: FunctionSpec, request_id: str, event: bytes, invoked_arn: str) -> Outcome:
    nested = getattr(_inprocess_state, "inside", False)
    deadline = time.time() + spec.timeout
    log_stream = _log_stream_name(spec.version)
    reply: dict[str, Any] = {}

    def call() -> None:
        _inprocess_state.inside = True
        request = {"request_id": request_id, "invoked_function_arn": invoked_arn, "deadline_ms": int(deadline * 1000)}
        try:
            handler = _inprocess_handler(spec)
            result = handler(json.loads(event), _InProcessContext(request, spec, log_stream))
            reply["payload"] = json.dumps(result)
        except Exception as exc:
            reply["error"] = error_payload(exc, request_id)
            print(f"[ERROR] {reply['error']['errorType']}: {reply['error']['errorMessage']}", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)

    lock = contextlib.nullcontext() if nested else _inprocess_lock
    with lock, _function_process_state(spec, log_stream) as output:
        thread = threading.Thread(target=call, name=f"lambda-{spec.name}", daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.time()))
        timed_out = thread.is_alive()
    log_lines = [f"\x00stream {log_stream}", *output.text.getvalue().splitlines()]
    if timed_out:  # the thread cannot be stopped; it is abandoned
        error = timeout_error(request_id, spec.timeout)
        log_lines.append(f"{_timestamp()} {error['errorMessage']}")
        return Outcome(json.dumps(error).encode(), True, log_lines)
    if "error" in reply:
        return Outcome(json.dumps(reply["error"]).encode(), True, log_lines)
    return Outcome(reply["payload"].encode(), False, log_lines)


class _InProcessContext(LambdaContext):
    def __init__(self, request: dict[str, Any], spec: FunctionSpec, log_stream: str) -> None:
        super().__init__(request)
        self.function_name = spec.name
        self.function_version = spec.version
        self.memory_limit_in_mb = str(spec.memory_size)
        self.log_group_name = spec.log_group
        self.log_stream_name = log_stream


# ---------------------------------------------------------------------------------------------
# Faults, mode, logs, metrics
# ---------------------------------------------------------------------------------------------

_faults: dict[str, deque[tuple[str, str]]] = {}
_faults_lock = threading.Lock()


def _checked_mode(mode: str, source: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{source} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


_mode = _checked_mode(os.environ.get(MODE_ENV, "worker"), f"the Lambda runtime mode (env {MODE_ENV})")


def set_mode(mode: str) -> None:
    """``worker`` (default): handlers run in worker processes; ``inprocess``: in this process."""
    global _mode
    _mode = _checked_mode(mode, "the Lambda runtime mode")


def get_mode() -> str:
    return _mode


def inject_fault(function_name: str, kind: FaultKind, times: int = 1, *, error_type: str = "InjectedFault") -> None:
    """Make the next ``times`` invocations of ``function_name`` fail in the way ``kind`` says.

    ``error_type`` names the exception class of an ``unhandled`` fault (e.g. "BuildFailed"), as a
    handler raising it would, so that a state's Retry or Catch for that name can be exercised.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    with _faults_lock:
        _faults.setdefault(function_name, deque()).extend([(kind, error_type)] * times)


def clear_faults() -> None:
    with _faults_lock:
        _faults.clear()


def pending_faults() -> dict[str, list[tuple[str, str]]]:
    """The faults still to happen, by function name: (kind, error type) in the order they will."""
    with _faults_lock:
        return {name: list(queued) for name, queued in _faults.items() if queued}


def _take_fault(function_name: str) -> tuple[str, str] | None:
    with _faults_lock:
        pending = _faults.get(function_name)
        return pending.popleft() if pending else None


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_logs_lock = threading.Lock()


def _write_logs(spec: FunctionSpec, stream: str, lines: list[str]) -> None:
    """Best effort: the invocation's log lines into /aws/lambda/<name> in moto's logs backend."""
    try:
        backend = backends.backend("logs", spec.account_id, spec.region)
        now = int(time.time() * 1000)
        with _logs_lock:
            backend.ensure_log_group(spec.log_group)
            backend.ensure_log_stream(spec.log_group, stream)
            backend.put_log_events(spec.log_group, stream, [{"timestamp": now, "message": line} for line in lines])
    except Exception:  # logs must never fail an invocation
        pass


def _put_metrics(
    target: Target, started: datetime, duration_ms: float, error: bool, throttled: bool = False
) -> None:
    invocation = lambda_metrics.Invocation(
        target.function.function_name,
        target.qualifier,
        target.alias,
        target.executed_version,
        target.account_id,
        target.region,
    )
    lambda_metrics.record(invocation, started, duration_ms, error=error, throttled=throttled)


# ---------------------------------------------------------------------------------------------
# Invoke
# ---------------------------------------------------------------------------------------------


def _parse_event(payload: bytes | str | None) -> bytes:
    if payload is None or payload in (b"", ""):
        return b"{}"
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    try:
        json.loads(payload)
    except ValueError as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    return payload


def run_target(target: Target, event: bytes) -> InvokeResult:
    """Run one resolved invocation synchronously, with faults, logs and metrics."""
    taken = _take_fault(target.function.function_name)
    fault, fault_error_type = taken if taken else (None, "")
    invoked_at = lambda_metrics.now()
    if fault == "throttle":
        _put_metrics(target, invoked_at, 0.0, False, throttled=True)
        raise TooManyRequestsException()
    if fault == "service_error":
        raise LambdaServiceException("The Lambda service encountered an internal error (injected fault).")

    spec = function_spec(target)
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    if fault == "timeout":
        time.sleep(spec.timeout)
        error = timeout_error(request_id, spec.timeout)
        outcome = Outcome(json.dumps(error).encode(), True, [f"{_timestamp()} {error['errorMessage']}"])
    elif fault == "unhandled":
        error = {
            "errorMessage": f"fault injected into {spec.name}",
            "errorType": fault_error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
        outcome = Outcome(json.dumps(error).encode(), True, [f"[ERROR] {fault_error_type}: {error['errorMessage']}"])
    elif spec.problem:
        error_type, message = spec.problem
        error = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
        outcome = Outcome(json.dumps(error).encode(), True, [f"[ERROR] {error_type}: {message}"])
    elif _mode == "inprocess":
        outcome = _run_in_process(spec, request_id, event, target.invoked_arn)
    else:
        outcome = _run_in_worker(spec, request_id, event, target.invoked_arn)
    duration_ms = (time.monotonic() - started) * 1000

    stream = _log_stream_name(spec.version)
    lines = outcome.log_lines
    if lines and lines[0].startswith("\x00stream "):
        stream = lines.pop(0).split(" ", 1)[1]
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {spec.memory_size} MB"
    )
    lines = [f"START RequestId: {request_id} Version: {spec.version}", *lines, f"END RequestId: {request_id}", report]
    _write_logs(spec, stream, lines)
    _put_metrics(target, invoked_at, duration_ms, outcome.error)

    log_text = "\n".join(lines) + "\n"
    log_tail = log_text.encode("utf-8")[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")
    return InvokeResult(200, outcome.payload, "Unhandled" if outcome.error else None, target.executed_version, log_tail)


def invoke(
    function: str,
    payload: bytes,
    qualifier: str | None = None,
    *,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
    invocation_type: str = "RequestResponse",
) -> InvokeResult:
    """Invoke a function as the Lambda Invoke API does.

    Raises moto's Lambda errors (ResourceNotFoundException for an unknown function, version or
    alias), TooManyRequestsException and ServiceException (from injected faults).
    """
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise InvalidParameterValueException(
            f"invocation type must be RequestResponse, Event or DryRun, got {invocation_type!r}"
        )
    target = resolve(function, qualifier or None, account_id, region)
    event = _parse_event(payload)
    if invocation_type == "DryRun":
        return InvokeResult(204, b"", None, target.executed_version, "")
    if invocation_type == "Event":
        thread = threading.Thread(
            target=_run_async, args=(target, event), daemon=True, name=f"lambda-event-{target.function.function_name}"
        )
        thread.start()
        return InvokeResult(202, b"", None, target.executed_version, "")
    return run_target(target, event)


def invoke_function_object(fn: LambdaFunction, payload: bytes | str | None) -> InvokeResult:
    """Run an already looked-up moto function object (moto's SNS/SQS/log-subscription paths)."""
    version = str(fn.version)
    arn = _unqualified_arn(fn.account_id, fn.region, fn.function_name)
    qualified = f"{arn}:{version}" if version != "$LATEST" else arn
    target = Target(fn, version, None, None if version == "$LATEST" else version, qualified, fn.account_id, fn.region)
    return run_target(target, _parse_event(payload))


def _run_async(target: Target, event: bytes) -> None:
    try:
        run_target(target, event)
    except Exception as exc:  # an async invocation has nobody to report to but the logs
        print(f"stepdeploy local cloud: async invoke of {target.invoked_arn} failed: {exc}", file=sys.stderr)


def worker_count(function_name: str) -> int:
    """How many worker processes the function's versions have (for tests and diagnostics)."""
    with _pools_lock:
        return sum(pool.worker_count for key, pool in _pools.items() if key[2] == function_name)


def shutdown() -> None:
    """Stop every worker process."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    _stop_workers([worker for pool in pools for worker in pool.close()])
    for worker in (worker for pool in pools for worker in pool.busy()):
        worker.kill()  # the local cloud is stopping: an invocation in flight fails, as on a lost host
    _inprocess_modules.clear()
    _remove_private_code_root()


def _remove_private_code_root() -> None:
    """A private temporary code root is removed (it is made again when needed); a configured one is its owner's."""
    global _code_root, _code_root_is_private
    with _root_lock:
        root, private = _code_root, _code_root_is_private
        if private:
            _code_root, _code_root_is_private = None, False
    if root is not None and private:
        shutil.rmtree(root, ignore_errors=True)


def _stop_workers(workers: list[Worker]) -> None:
    for worker in workers:  # all at once: each exits on the end of its requests
        worker.end_requests()
    deadline = time.monotonic() + 2.0
    for worker in workers:
        worker.stop(grace=max(0.0, deadline - time.monotonic()))


atexit.register(shutdown)

__all__ = [
    "InvokeResult",
    "LambdaServiceException",
    "TooManyRequestsException",
    "clear_faults",
    "get_mode",
    "inject_fault",
    "invoke",
    "pending_faults",
    "set_mode",
    "shutdown",
]
