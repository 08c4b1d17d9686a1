"""CodeDeploy for Lambda in the local cloud: a deployment really shifts an alias's traffic.

moto 5.2.5 records a deployment and leaves it ``Created``. Here each Lambda deployment runs in a
thread of its own, in virtual time (``CLOCK``): the AppSpec is read and checked against the
function, the BeforeAllowTraffic hook is invoked and awaited, the alias's RoutingConfig moves
per the deployment configuration (canary, linear, all at once), the AfterAllowTraffic hook runs,
and the deployment group's CloudWatch alarms are watched all along. A failure, an alarm or a
StopDeployment ends it; with automatic rollback for that event the alias goes back to the
current version through a new rollback deployment, as AWS does.

The moto glue (API operations, validation, serialisation) lives in patch.py; this
module knows the AppSpec, the deployment configurations and how a deployment runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.clock import CLOCK
from stepdeploy_localcloud.events.default_bus import put_service_event, service_event

log = logging.getLogger(__name__)

HOOK_TIMEOUT_VIRTUAL_SECONDS = 3600.0  # AWS waits one hour for PutLifecycleEventHookExecutionStatus
ALARM_POLL_VIRTUAL_SECONDS = 10.0
MIN_POLL_REAL_SECONDS = 0.01

BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
ALLOW_TRAFFIC = "AllowTraffic"
AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"
LIFECYCLE_EVENTS = (BEFORE_ALLOW_TRAFFIC, ALLOW_TRAFFIC, AFTER_ALLOW_TRAFFIC)
HOOK_EVENTS = (BEFORE_ALLOW_TRAFFIC, AFTER_ALLOW_TRAFFIC)

TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")

ALARM_ACTIVE_MESSAGE = (
    "One or more alarms have been activated according to the Amazon CloudWatch metrics you "
    "selected, and the affected deployments have been stopped. Activated alarms: {alarms}"
)


def new_deployment_id() -> str:
    """An id shaped like AWS's: ``d-`` and nine upper-case letters or digits."""
    alphabet = string.ascii_uppercase + string.digits
    return "d-" + "".join(secrets.choice(alphabet) for _ in range(9))


# --- Deployment configurations ------------------------------------------------------------------


class DeploymentConfigError(ValueError):
    """A trafficRoutingConfig that AWS would refuse."""


# A time-based type: the API's block of its settings, and the block's percentage and interval keys.
_TIME_BASED = {
    "TimeBasedCanary": ("timeBasedCanary", "canaryPercentage", "canaryInterval"),
    "TimeBasedLinear": ("timeBasedLinear", "linearPercentage", "linearInterval"),
}


@dataclass(frozen=True)
class TrafficRouting:
    """How a Lambda deployment configuration moves traffic (``trafficRoutingConfig``)."""

    type: str  # TimeBasedCanary | TimeBasedLinear | AllAtOnce
    percentage: int = 0
    interval_minutes: int = 0

    @classmethod
    def from_api(cls, config: dict[str, Any] | None) -> TrafficRouting:
        if not config or not config.get("type"):
            raise DeploymentConfigError(
                "A Lambda deployment configuration needs trafficRoutingConfig.type: "
                "TimeBasedCanary, TimeBasedLinear or AllAtOnce."
            )
        kind = config["type"]
        if kind == "AllAtOnce":
            return cls("AllAtOnce")
        if kind in _TIME_BASED:
            return cls._timed(kind, config.get(_TIME_BASED[kind][0]))
        raise DeploymentConfigError(
            f"trafficRoutingConfig.type {kind!r} is not valid; expected TimeBasedCanary, TimeBasedLinear or AllAtOnce."
        )

    @classmethod
    def _timed(cls, kind: str, settings: dict[str, Any] | None) -> TrafficRouting:
        block, percentage_key, interval_key = _TIME_BASED[kind]
        if not settings:
            raise DeploymentConfigError(f"trafficRoutingConfig of type {kind} needs {block}.")
        percentage = settings.get(percentage_key)
        interval = settings.get(interval_key)
        if not isinstance(percentage, int) or not 1 <= percentage <= 99:
            raise DeploymentConfigError(
                f"{block}.{percentage_key} must be a whole number from 1 to 99, got {percentage!r}."
            )
        if not isinstance(interval, int) or interval < 1:
            raise DeploymentConfigError(
                f"{block}.{interval_key} must be a whole number of minutes, at least 1, got {interval!r}."
            )
        return cls(kind, percentage, interval)

    def to_api(self) -> dict[str, Any]:
        if self.type not in _TIME_BASED:
            return {"type": "AllAtOnce"}
        block, percentage_key, interval_key = _TIME_BASED[self.type]
        return {"type": self.type, block: {percentage_key: self.percentage, interval_key: self.interval_minutes}}

    def steps(self) -> list[tuple[float, float]]:
        """The weights the target version holds before it takes all traffic.

        Each step is (target version weight, virtual seconds to hold it).
        """
        hold = self.interval_minutes * 60.0
        if self.type == "TimeBasedCanary":
            return [(self.percentage / 100, hold)]
        if self.type == "TimeBasedLinear":
            return [(round(k * self.percentage / 100, 6), hold) for k in range(1, -(-100 // self.percentage))]
        return []


def _canary(percentage: int, minutes: int) -> TrafficRouting:
    return TrafficRouting("TimeBasedCanary", percentage, minutes)


def _linear(percentage: int, minutes: int) -> TrafficRouting:
    return TrafficRouting("TimeBasedLinear", percentage, minutes)


PREDEFINED_LAMBDA_CONFIGS: dict[str, TrafficRouting] = {
    "CodeDeployDefault.LambdaCanary10Percent5Minutes": _canary(10, 5),
    "CodeDeployDefault.LambdaCanary10Percent10Minutes": _canary(10, 10),
    "CodeDeployDefault.LambdaCanary10Percent15Minutes": _canary(10, 15),
    "CodeDeployDefault.LambdaCanary10Percent30Minutes": _canary(10, 30),
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": _linear(10, 1),
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes": _linear(10, 2),
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes": _linear(10, 3),
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": _linear(10, 10),
    "CodeDeployDefault.LambdaAllAtOnce": TrafficRouting("AllAtOnce"),
}

PREDEFINED_SERVER_CONFIGS: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.OneAtATime": {"type": "HOST_COUNT", "value": 1},
    "CodeDeployDefault.HalfAtATime": {"type": "FLEET_PERCENT", "value": 50},
    "CodeDeployDefault.AllAtOnce": {"type": "HOST_COUNT", "value": 0},
}

DEFAULT_LAMBDA_CONFIG = "CodeDeployDefault.LambdaAllAtOnce"


@dataclass
class DeploymentConfig:
    name: str
    compute_platform: str
    traffic_routing: TrafficRouting | None = None
    minimum_healthy_hosts: dict[str, Any] | None = None
    config_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    create_time: datetime = field(default_factory=lambda: _utcnow())

    def to_api(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "deploymentConfigId": self.config_id,
            "deploymentConfigName": self.name,
            "createTime": self.create_time,
            "computePlatform": self.compute_platform,
        }
        if self.traffic_routing is not None:
            info["trafficRoutingConfig"] = self.traffic_routing.to_api()
        if self.minimum_healthy_hosts is not None:
            info["minimumHealthyHosts"] = self.minimum_healthy_hosts
        return info


def predefined_configs() -> dict[str, DeploymentConfig]:
    configs = {
        name: DeploymentConfig(name, "Lambda", traffic_routing=routing)
        for name, routing in PREDEFINED_LAMBDA_CONFIGS.items()
    }
    configs.update(
        {
            name: DeploymentConfig(name, "Server", minimum_healthy_hosts=dict(hosts))
            for name, hosts in PREDEFINED_SERVER_CONFIGS.items()
        }
    )
    return configs


# --- AppSpec -----------------------------------------------------------------------------------


class AppSpecError(ValueError):
    """An AppSpec that CodeDeploy would refuse (the deployment fails with INVALID_REVISION)."""


@dataclass(frozen=True)
class LambdaAppSpec:
    resource_name: str
    function_name: str
    alias: str
    current_version: str
    target_version: str
    hooks: dict[str, str]  # lifecycle event -> hook function name or ARN

    def swapped(self) -> LambdaAppSpec:
        """The AppSpec of the rollback: back from the target version to the current one."""
        return LambdaAppSpec(
            self.resource_name, self.function_name, self.alias, self.target_version, self.current_version, {}
        )

    def to_content(self) -> str:
        document = {
            "version": 0.0,
            "Resources": [
                {
                    self.resource_name: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": self.function_name,
                            "Alias": self.alias,
                            "CurrentVersion": self.current_version,
                            "TargetVersion": self.target_version,
                        },
                    }
                }
            ],
        }
        if self.hooks:
            document["Hooks"] = [{event: fn} for event, fn in self.hooks.items()]
        return json.dumps(document)


def appspec_content(revision: dict[str, Any] | None) -> str:
    """The AppSpec text of an AppSpecContent or String revision, its sha256 checked."""
    if not revision:
        raise AppSpecError("The deployment has no revision; a Lambda deployment needs an AppSpec.")
    kind = revision.get("revisionType")
    if kind == "AppSpecContent":
        holder = revision.get("appSpecContent") or {}
    elif kind == "String":
        holder = revision.get("string") or {}
    else:
        raise AppSpecError(
            f"Revision type {kind!r} is not supported for Lambda deployments in the local cloud; "
            "use AppSpecContent (or String) with the AppSpec YAML or JSON inline."
        )
    content = holder.get("content")
    if not content:
        raise AppSpecError(f"The {kind} revision has no content; expected the AppSpec YAML or JSON.")
    expected = holder.get("sha256")
    if expected:
        actual = hashlib.sha256(content.encode()).hexdigest()
        if actual.lower() != str(expected).lower():
            raise AppSpecError(f"The AppSpec content's SHA-256 is {actual}, but the revision says {expected}.")
    return str(content)


def parse_appspec(content: str) -> LambdaAppSpec:
    """Read a Lambda AppSpec (YAML or JSON) the way CodeDeploy does."""
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise AppSpecError(f"The AppSpec is neither valid YAML nor JSON: {error}") from error
    if not isinstance(document, dict):
        raise AppSpecError("The AppSpec must be a mapping with version, Resources and optional Hooks.")
    document = {str(key).lower(): value for key, value in document.items()}
    if str(document.get("version")) not in ("0.0", "0"):
        raise AppSpecError(f"The AppSpec version must be 0.0, got {document.get('version')!r}.")

    resources = document.get("resources")
    if not isinstance(resources, list) or len(resources) != 1:
        raise AppSpecError(
            "The AppSpec of a Lambda deployment must list exactly one resource under Resources, "
            f"got {0 if not isinstance(resources, list) else len(resources)}."
        )
    entry = resources[0]
    if not isinstance(entry, dict) or len(entry) != 1:
        raise AppSpecError("Each AppSpec resource must be a mapping of one name to its definition.")
    ((resource_name, resource),) = entry.items()
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Lambda::Function":
        found = resource.get("Type") if isinstance(resource, dict) else resource
        raise AppSpecError(f"AppSpec resource {resource_name} must have Type AWS::Lambda::Function, got {found!r}.")
    properties = resource.get("Properties") or {}
    missing = [key for key in ("Name", "Alias", "CurrentVersion", "TargetVersion") if not properties.get(key)]
    if missing:
        raise AppSpecError(
            f"AppSpec resource {resource_name} lacks {', '.join(missing)} under Properties "
            "(Name, Alias, CurrentVersion and TargetVersion are required)."
        )

    hooks: dict[str, str] = {}
    for hook in document.get("hooks") or []:
        if not isinstance(hook, dict) or len(hook) != 1:
            raise AppSpecError("Each AppSpec hook must be a mapping of one lifecycle event to a function.")
        ((event, function),) = hook.items()
        if event not in HOOK_EVENTS:
            raise AppSpecError(
                f"AppSpec hook {event!r} is not a Lambda lifecycle event; expected "
                "BeforeAllowTraffic or AfterAllowTraffic."
            )
        hooks[event] = str(function)

    return LambdaAppSpec(
        resource_name=str(resource_name),
        function_name=str(properties["Name"]),
        alias=str(properties["Alias"]),
        current_version=str(properties["CurrentVersion"]),
        target_version=str(properties["TargetVersion"]),
        hooks=hooks,
    )


# --- Hooks -------------------------------------------------------------------------------------

HookInvoker = Callable[[str, dict[str, str]], None]
"""Invokes a hook function asynchronously with the hook payload (the seam tests replace)."""
_hook_invoker: HookInvoker | None = None


def set_hook_invoker(invoker: HookInvoker | None) -> None:
    """Replace how hook functions are invoked (tests); None restores the local Lambda runtime."""
    global _hook_invoker
    _hook_invoker = invoker


# --- Traffic steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficStep:
    """The alias now sends ``weight`` of its traffic to ``target_version`` (a step of a shift)."""

    deployment_id: str
    function_name: str
    alias: str
    current_version: str
    target_version: str
    weight: float


TrafficStepListener = Callable[[TrafficStep], None]
_traffic_step_listener: TrafficStepListener | None = None


def set_traffic_step_listener(listener: TrafficStepListener | None) -> None:
    """Call ``listener`` after each traffic step of a shift, before the step's wait (None: no one).

    The deployment waits for the listener to return: a scenario that must fail during a canary
    (an alarm raised while the new version takes its share) drives that failure here, rather than
    racing the accelerated clock. The step's wait, with its alarm checks, starts afterwards.
    """
    global _traffic_step_listener
    _traffic_step_listener = listener


def _report_traffic_step(step: TrafficStep) -> None:
    listener = _traffic_step_listener
    if listener is None:
        return
    try:
        listener(step)
    except Exception:  # a listener's failure never changes the deployment
        log.exception("the traffic step listener failed on %s", step)


def _invoke_hook(function: str, payload: dict[str, str], account_id: str, region: str) -> None:
    if _hook_invoker is not None:
        _hook_invoker(function, payload)
        return
    from stepdeploy_localcloud.awslambda import (
        runtime as lambda_runtime,  # imported late: it pulls in the worker machinery
    )

    lambda_runtime.invoke(
        function, json.dumps(payload).encode(), account_id=account_id, region=region, invocation_type="Event"
    )


@dataclass
class HookExecution:
    execution_id: str
    lifecycle_event: str
    function: str
    status: str = "Pending"
    done: threading.Event = field(default_factory=threading.Event)


# --- The Lambda target (what ListDeploymentTargets shows) ---------------------------------------


@dataclass
class LifecycleEventRecord:
    name: str
    status: str = "Pending"
    start_time: datetime | None = None
    end_time: datetime | None = None
    diagnostics: dict[str, str] | None = None

    def to_api(self) -> dict[str, Any]:
        event: dict[str, Any] = {"lifecycleEventName": self.name, "status": self.status}
        if self.start_time:
            event["startTime"] = self.start_time
        if self.end_time:
            event["endTime"] = self.end_time
        if self.diagnostics:
            event["diagnostics"] = self.diagnostics
        return event


# --- Ending a deployment -----------------------------------------------------------------------


class DeploymentEnded(Exception):
    """Raised inside a run when the deployment cannot go on."""

    def __init__(self, status: str, code: str, message: str, rollback_event: str | None) -> None:
        super().__init__(message)
        self.status = status  # Failed | Stopped
        self.code = code
        self.message = message
        self.rollback_event = rollback_event  # which autoRollbackConfiguration event applies


def failed(code: str, message: str) -> DeploymentEnded:
    return DeploymentEnded("Failed", code, message, "DEPLOYMENT_FAILURE")


@dataclass
class StopRequest:
    auto_rollback_enabled: bool | None


# --- Runs --------------------------------------------------------------------------------------

_runs: dict[str, DeploymentRun] = {}
_runs_lock = threading.Lock()


def get_run(deployment_id: str) -> DeploymentRun | None:
    with _runs_lock:
        return _runs.get(deployment_id)


def current_traffic(deployment_id: str) -> dict[str, float]:
    """The live split of the deployment's alias: version -> weight (weights sum to 1).

    Empty while the AppSpec has not been read yet (or could not be).
    """
    run = get_run(deployment_id)
    if run is None:
        raise KeyError(f"No Lambda deployment {deployment_id} is known to the local cloud.")
    return run.traffic()


def _utcnow() -> datetime:
    from moto.core.utils import utcnow

    return utcnow()


class DeploymentRun:
    """One Lambda deployment (or its rollback) of the local cloud, run in its own thread."""

    def __init__(
        self,
        deployment: Any,  # moto.codedeploy.models.DeploymentInfo
        *,
        account_id: str,
        region: str,
        routing: TrafficRouting,
        alarm_configuration: dict[str, Any] | None,
        auto_rollback_configuration: dict[str, Any] | None,
        rollback_of: DeploymentRun | None = None,
    ) -> None:
        self.deployment = deployment
        self.deployment_id: str = deployment.deployment_id
        self.account_id = account_id
        self.region = region
        self.routing = routing
        self.alarm_configuration = alarm_configuration or {}
        self.auto_rollback_configuration = auto_rollback_configuration or {}
        self.rollback_of = rollback_of
        self.appspec: LambdaAppSpec | None = (
            rollback_of.appspec.swapped() if rollback_of and rollback_of.appspec else None
        )
        self.target_weight = 0.0
        self.target_status = "Pending"
        self.target_updated = _utcnow()
        self.lifecycle_events = [LifecycleEventRecord(name) for name in LIFECYCLE_EVENTS]
        self.hook_executions: dict[str, HookExecution] = {}
        self._stop_request: StopRequest | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()
        deployment.error_information = {}
        deployment.rollback_info = {}
        deployment.lambda_run = self
        with _runs_lock:
            _runs[self.deployment_id] = self

    # -- control from the API (server threads) --

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"codedeploy-{self.deployment_id}", daemon=True)
        self._thread.start()

    def request_stop(self, auto_rollback_enabled: bool | None) -> None:
        with self._lock:
            if self._stop_request is None:
                self._stop_request = StopRequest(auto_rollback_enabled)
        self._wake.set()

    def report_hook_status(self, execution_id: str, status: str) -> HookExecution:
        """PutLifecycleEventHookExecutionStatus; raises KeyError / RuntimeError for the API to map."""
        with self._lock:
            execution = self.hook_executions.get(execution_id)
            if execution is None:
                raise KeyError(execution_id)
            if execution.status in ("Succeeded", "Failed"):
                raise RuntimeError(execution.status)
            execution.status = status
            execution.done.set()
        self._wake.set()
        return execution

    # -- what the API shows --

    @property
    def status(self) -> str:
        return str(self.deployment.status)

    @property
    def target_id(self) -> str:
        if self.appspec is None:
            return self.deployment_id
        return f"{self.appspec.function_name}:{self.appspec.alias}"

    def target_api(self) -> dict[str, Any]:
        target: dict[str, Any] = {
            "deploymentId": self.deployment_id,
            "targetId": self.target_id,
            "status": self.target_status,
            "lastUpdatedAt": self.target_updated,
            "lifecycleEvents": [event.to_api() for event in self.lifecycle_events],
        }
        if self.appspec is not None:
            spec = self.appspec
            target["targetArn"] = (
                f"arn:aws:lambda:{self.region}:{self.account_id}:function:{spec.function_name}:{spec.alias}"
            )
            target["lambdaFunctionInfo"] = {
                "functionName": spec.function_name,
                "functionAlias": spec.alias,
                "currentVersion": spec.current_version,
                "targetVersion": spec.target_version,
                # a percentage here (AWS documents it so), where the alias has a fraction
                "targetVersionWeight": round(self.target_weight * 100, 4),
            }
        return target

    def traffic(self) -> dict[str, float]:
        if self.appspec is None:
            return {}
        try:
            alias = self._lambda().get_alias(self.appspec.alias, self.appspec.function_name)
        except Exception:  # the alias or function is gone
            return {}
        weights = {
            str(version): float(weight)
            for version, weight in ((alias.routing_config or {}).get("AdditionalVersionWeights") or {}).items()
        }
        split = {str(alias.function_version): round(1.0 - sum(weights.values()), 6)}
        split.update(weights)
        return split

    # -- the run itself --

    def _main(self) -> None:
        try:
            if self.rollback_of is not None:
                self._run_rollback()
            else:
                self._run()
        except Exception:  # a bug here must not leave a deployment InProgress forever
            log.exception("local CodeDeploy deployment %s crashed", self.deployment_id)
            if self.status not in TERMINAL_STATUSES:
                self._finish("Failed", "INTERNAL_ERROR", "The local cloud's CodeDeploy emulator failed; see its log.")
        finally:
            self.finished.set()

    def _run(self) -> None:
        self._begin()
        validated = False
        try:
            self._validate()
            validated = True
            self._check_stop_and_alarms()
            self._lifecycle_event(BEFORE_ALLOW_TRAFFIC, self._run_hook)
            self._lifecycle_event(ALLOW_TRAFFIC, self._shift_traffic)
            self._lifecycle_event(AFTER_ALLOW_TRAFFIC, self._run_hook)
        except DeploymentEnded as ended:
            self._end(ended, may_roll_back=validated)
            return
        self._set_target("Succeeded")
        self._finish("Succeeded")

    def _begin(self) -> None:
        deployment = self.deployment
        deployment.status = "InProgress"
        deployment.start_time = _utcnow()
        self._set_overview("InProgress")
        self._set_target("InProgress")
        self._emit("START")

    def _validate(self) -> None:
        if self.appspec is None:
            try:
                self.appspec = parse_appspec(appspec_content(self.deployment.revision))
            except AppSpecError as error:
                raise failed("INVALID_REVISION", str(error)) from error
        spec = self.appspec
        backend = self._lambda()
        try:
            backend.get_function(spec.function_name)
        except Exception as error:
            raise failed(
                "INVALID_LAMBDA_FUNCTION",
                f"The Lambda function {spec.function_name} named in the AppSpec does not exist.",
            ) from error
        published = {str(fn.version) for fn in backend.list_versions_by_function(spec.function_name)}
        for role, version in (("CurrentVersion", spec.current_version), ("TargetVersion", spec.target_version)):
            if version not in published or version == "$LATEST":
                raise failed(
                    "INVALID_LAMBDA_FUNCTION",
                    f"The AppSpec's {role} {version} is not a published version of Lambda function "
                    f"{spec.function_name} (published: {', '.join(sorted(published - {'$LATEST'})) or 'none'}).",
                )
        try:
            alias = backend.get_alias(spec.alias, spec.function_name)
        except Exception as error:
            raise failed(
                "INVALID_LAMBDA_CONFIGURATION",
                f"The alias {spec.alias} of Lambda function {spec.function_name} named in the AppSpec does not exist.",
            ) from error
        if str(alias.function_version) != spec.current_version:
            raise failed(
                "INVALID_LAMBDA_CONFIGURATION",
                f"The alias {spec.alias} of Lambda function {spec.function_name} points to version "
                f"{alias.function_version}, but the AppSpec's CurrentVersion is {spec.current_version}; "
                "CurrentVersion must be the version the alias serves now.",
            )

    def _lifecycle_event(self, name: str, action: Callable[[LifecycleEventRecord], None]) -> None:
        record = next(event for event in self.lifecycle_events if event.name == name)
        record.status = "InProgress"
        record.start_time = _utcnow()
        self._touch()
        action(record)
        if record.status == "InProgress":
            record.status = "Succeeded"
        record.end_time = record.end_time or _utcnow()
        self._touch()

    def _run_hook(self, record: LifecycleEventRecord) -> None:
        assert self.appspec is not None
        function = self.appspec.hooks.get(record.name)
        if function is None:
            record.status = "Skipped"
            return
        execution_id = base64.b64encode(
            json.dumps(
                {"deploymentId": self.deployment_id, "lifecycleEvent": record.name, "nonce": secrets.token_hex(8)}
            ).encode()
        ).decode()
        execution = HookExecution(execution_id, record.name, function)
        with self._lock:
            self.hook_executions[execution_id] = execution
        payload = {"DeploymentId": self.deployment_id, "LifecycleEventHookExecutionId": execution_id}
        invoke_error: list[BaseException] = []

        def invoke() -> None:
            try:
                _invoke_hook(function, payload, self.account_id, self.region)
            except Exception as error:  # reported by the run below
                invoke_error.append(error)
                self._wake.set()

        threading.Thread(target=invoke, name=f"codedeploy-hook-{self.deployment_id}", daemon=True).start()
        reported = self._watch(
            HOOK_TIMEOUT_VIRTUAL_SECONDS, until=lambda: execution.done.is_set() or bool(invoke_error)
        )
        if invoke_error:
            self._fail_event(
                record,
                "UnknownError",
                function,
                f"The hook function {function} could not be invoked: {invoke_error[0]}",
            )
            raise failed(
                "HOOK_EXECUTION_FAILURE",
                f"The {record.name} lifecycle event hook function {function} could not be invoked: {invoke_error[0]}",
            )
        if not reported:
            with self._lock:
                execution.status = "Failed"
                execution.done.set()
            self._fail_event(record, "ScriptTimedOut", function, f"{function} did not report a status within one hour.")
            raise failed(
                "TIMEOUT",
                f"The {record.name} lifecycle event hook function {function} did not call "
                "PutLifecycleEventHookExecutionStatus within one hour.",
            )
        if execution.status == "Failed":
            self._fail_event(record, "ScriptFailed", function, f"{function} reported Failed for {record.name}.")
            raise failed(
                "HOOK_EXECUTION_FAILURE",
                f"The {record.name} lifecycle event hook function {function} reported that the "
                f"lifecycle event failed (PutLifecycleEventHookExecutionStatus status Failed).",
            )
        record.diagnostics = {"errorCode": "Success", "scriptName": function, "message": "Succeeded"}

    def _fail_event(self, record: LifecycleEventRecord, code: str, function: str, message: str) -> None:
        record.status = "Failed"
        record.end_time = _utcnow()
        record.diagnostics = {"errorCode": code, "scriptName": function, "message": message}
        self._touch()

    def _shift_traffic(self, record: LifecycleEventRecord) -> None:
        assert self.appspec is not None
        for weight, hold in self.routing.steps():
            self._set_alias(self.appspec.current_version, {self.appspec.target_version: weight})
            self.target_weight = weight
            self._touch()
            _report_traffic_step(TrafficStep(self.deployment_id, self.appspec.function_name, self.appspec.alias,
                                             self.appspec.current_version, self.appspec.target_version, weight))
            self._watch(hold)
        self._set_alias(self.appspec.target_version, None)
        self.target_weight = 1.0
        self._touch()

    def _set_alias(self, version: str, weights: dict[str, float] | None) -> None:
        assert self.appspec is not None
        routing = {"AdditionalVersionWeights": weights} if weights else {}
        try:
            self._lambda().update_alias(
                name=self.appspec.alias,
                function_name=self.appspec.function_name,
                function_version=version,
                description=None,
                routing_config=routing,
            )
        except Exception as error:
            raise failed(
                "INVALID_LAMBDA_CONFIGURATION",
                f"Could not update alias {self.appspec.alias} of Lambda function "
                f"{self.appspec.function_name} to version {version}: {error}",
            ) from error

    # -- waiting, alarms, stop --

    def _watch(self, virtual_seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Wait up to ``virtual_seconds``, checking stop requests and alarms as AWS does.

        Returns True when ``until`` became true, False when the time ran out.
        """
        started = time.monotonic()
        while True:
            self._check_stop_and_alarms()
            if until is not None and until():
                return True
            elapsed_virtual = (time.monotonic() - started) * CLOCK.speed
            remaining = virtual_seconds - elapsed_virtual
            if remaining <= 0:
                return False
            poll = max(MIN_POLL_REAL_SECONDS, CLOCK.real_seconds(min(remaining, ALARM_POLL_VIRTUAL_SECONDS)))
            self._wake.wait(poll)
            self._wake.clear()

    def _check_stop_and_alarms(self) -> None:
        with self._lock:
            stop = self._stop_request
        if stop is not None:
            raise DeploymentEnded(
                "Stopped",
                "MANUAL_STOP",
                "The deployment was stopped by a StopDeployment request.",
                "DEPLOYMENT_STOP_ON_REQUEST",
            )
        in_alarm, unreadable = self._alarm_problems()
        if in_alarm:
            raise DeploymentEnded(
                "Stopped",
                "ALARM_ACTIVE",
                ALARM_ACTIVE_MESSAGE.format(alarms=", ".join(f"<{name}>" for name in in_alarm)),
                "DEPLOYMENT_STOP_ON_ALARM",
            )
        if unreadable and not self.alarm_configuration.get("ignorePollAlarmFailure"):
            raise DeploymentEnded(
                "Stopped",
                "ALARM_ACTIVE",
                "CodeDeploy could not read the state of alarm(s) "
                + ", ".join(f"<{name}>" for name in unreadable)
                + " (no such CloudWatch alarm), so the deployment was stopped; create the alarm or set "
                "ignorePollAlarmFailure in the deployment group's alarmConfiguration.",
                "DEPLOYMENT_STOP_ON_ALARM",
            )

    def _alarm_problems(self) -> tuple[list[str], list[str]]:
        config = self.alarm_configuration
        names = [alarm.get("name") for alarm in config.get("alarms") or [] if alarm.get("name")]
        if not config.get("enabled") or not names:
            return [], []
        alarms = backends.backend("cloudwatch", self.account_id, self.region).alarms
        in_alarm = [name for name in names if name in alarms and alarms[name].state_value == "ALARM"]
        unreadable = [name for name in names if name not in alarms]
        return in_alarm, unreadable

    # -- endings --

    def _end(self, ended: DeploymentEnded, may_roll_back: bool) -> None:
        for event in self.lifecycle_events:
            if event.status == "InProgress":
                event.status = "Failed"
                event.end_time = _utcnow()
            elif event.status == "Pending":
                event.status = "Skipped"
        self._set_target("Failed")
        rollback = self._start_rollback(ended) if may_roll_back and self._should_roll_back(ended) else None
        if rollback is not None:
            self.deployment.rollback_info = {
                "rollbackDeploymentId": rollback.deployment_id,
                "rollbackMessage": (
                    f"Deployment {self.deployment_id} terminated. Automatic rollback is triggered "
                    f"with a DeploymentId {rollback.deployment_id}."
                ),
            }
        self._finish(ended.status, ended.code, ended.message)
        if rollback is not None:
            rollback.start()

    def _should_roll_back(self, ended: DeploymentEnded) -> bool:
        config = self.auto_rollback_configuration
        configured = bool(config.get("enabled")) and ended.rollback_event in (config.get("events") or [])
        if ended.rollback_event == "DEPLOYMENT_STOP_ON_REQUEST":
            with self._lock:
                requested = self._stop_request.auto_rollback_enabled if self._stop_request else None
            return configured if requested is None else requested
        return configured

    def _start_rollback(self, ended: DeploymentEnded) -> DeploymentRun | None:
        if self.appspec is None:
            return None
        from moto.codedeploy.models import DeploymentInfo

        backend = backends.backend("codedeploy", self.account_id, self.region)
        original = self.deployment
        rollback_spec = self.appspec.swapped()
        content = rollback_spec.to_content()
        deployment = DeploymentInfo(
            original.application,
            original.deployment_group,
            {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": content, "sha256": hashlib.sha256(content.encode()).hexdigest()},
            },
            original.deployment_config_name,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "codeDeployRollback",
        )
        deployment.rollback_info = {}
        # a new dict rather than an insertion: moto's server threads may be iterating the old one
        backend.deployments = {**backend.deployments, deployment.deployment_id: deployment}
        run = DeploymentRun(
            deployment,
            account_id=self.account_id,
            region=self.region,
            routing=TrafficRouting("AllAtOnce"),
            alarm_configuration=None,
            auto_rollback_configuration=None,
            rollback_of=self,
        )
        deployment.rollback_info = {
            "rollbackTriggeringDeploymentId": self.deployment_id,
            "rollbackMessage": (
                f"Deployment {deployment.deployment_id} is triggered to roll back deployment {self.deployment_id}."
            ),
        }
        return run

    def _run_rollback(self) -> None:
        """Traffic goes straight back to the original version; hooks do not run."""
        assert self.appspec is not None
        self._begin()
        for event in self.lifecycle_events:
            if event.name != ALLOW_TRAFFIC:
                event.status = "Skipped"
        try:
            self._lifecycle_event(ALLOW_TRAFFIC, lambda record: self._set_alias(self.appspec.target_version, None))  # type: ignore[union-attr]
        except DeploymentEnded as ended:
            self._end(ended, may_roll_back=False)
            return
        self.target_weight = 1.0
        self._set_target("Succeeded")
        self._finish("Succeeded")

    def _finish(self, status: str, code: str | None = None, message: str | None = None) -> None:
        deployment = self.deployment
        if code:
            deployment.error_information = {"code": code, "message": message or code}
        deployment.complete_time = _utcnow()
        self._set_overview("Succeeded" if status == "Succeeded" else "Failed")
        deployment.status = status
        self._emit({"Succeeded": "SUCCESS", "Failed": "FAILURE", "Stopped": "STOP"}[status])

    # -- bookkeeping --

    def _set_target(self, status: str) -> None:
        self.target_status = status
        self._touch()

    def _touch(self) -> None:
        self.target_updated = _utcnow()

    def _set_overview(self, bucket: str) -> None:
        overview = self.deployment.deployment_overview
        for key in overview:
            overview[key] = 0
        overview[bucket] = 1

    def _lambda(self) -> Any:
        return backends.backend("lambda", self.account_id, self.region)

    def _emit(self, state: str) -> None:
        """A 'CodeDeploy Deployment State-change Notification' on the default bus; never fatal."""
        deployment = self.deployment
        group = deployment.deployment_group
        detail = {
            "account": self.account_id,
            "region": self.region,
            "deploymentId": self.deployment_id,
            "instanceGroupId": group.deployment_group_id,
            "deploymentGroup": group.deployment_group_name,
            "state": state,
            "application": deployment.application_name,
        }
        arn = f"arn:aws:codedeploy:{self.region}:{self.account_id}"
        resources = [
            f"{arn}:application:{deployment.application_name}",
            f"{arn}:deploymentgroup:{deployment.application_name}/{group.deployment_group_name}",
        ]
        event = service_event("aws.codedeploy", "CodeDeploy Deployment State-change Notification", detail, resources)
        put_service_event(self.account_id, self.region, event, f"the CodeDeploy {state} event of {self.deployment_id}")
