"""The application's deployment configuration file (pipeline as code): ``stepdeploy.yml``.

It lives at the root of the application's repository (and of a prebuilt artifact) and says which
branch goes to which stack, how traffic shifts and what gates it. A bad file fails the execution
early with a message that names the file, the key and what was expected.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails

from stepdeploy.app_config.config_text import bad_character
from stepdeploy.app_config.stage_window import AllowedRange, Window, parse_moment
from stepdeploy.errors import ConfigurationError

CONFIG_FILE = "stepdeploy.yml"

PREDEFINED_DEPLOYMENT_CONFIGS = (
    "LambdaAllAtOnce",
    "LambdaCanary10Percent5Minutes",
    "LambdaCanary10Percent10Minutes",
    "LambdaCanary10Percent15Minutes",
    "LambdaCanary10Percent30Minutes",
    "LambdaLinear10PercentEvery1Minute",
    "LambdaLinear10PercentEvery2Minutes",
    "LambdaLinear10PercentEvery3Minutes",
    "LambdaLinear10PercentEvery10Minutes",
)
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
ALIAS_NAME = re.compile(r"^(?!^[0-9]+$)[A-Za-z0-9-_]{1,128}$")
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def _one_line(value: str, what: str, limit: int = 128) -> str:
    bad = bad_character(value)
    if bad or not value.strip() or len(value) > limit:
        raise ValueError(f"{what}: one line of printable text, {limit} characters at most")
    return value


def _logical_ids(values: list[str] | str | None) -> None:
    for value in [values] if isinstance(values, str) else values or []:
        if not LOGICAL_ID.match(value):
            raise ValueError("logical ids of the template (letters and digits)")


def account_id(value: object) -> object:
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d{12}", value)):
        raise ValueError("an AWS account id of 12 digits (quote it in YAML)")
    return value


def region_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", value):
        raise ValueError("an AWS region name such as eu-west-1")
    return value


def stack_name(value: str) -> str:
    if not STACK_NAME.match(value):
        raise ValueError("a CloudFormation stack name: a letter, then letters, digits or '-', 128 at most")
    return value


def parameter_names(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if not LOGICAL_ID.match(name):
            raise ValueError(f"parameter names of letters and digits; got {name!r}")
    return value


# The keys a single-stack target and a pipeline's stage share, each checked the same way in both.
AccountId = Annotated[str | None, BeforeValidator(account_id)]
RegionName = Annotated[str | None, AfterValidator(region_name)]
StackName = Annotated[str, AfterValidator(stack_name)]
EnvironmentName = Annotated[str, AfterValidator(lambda value: _one_line(value, "an environment name", 64))]
BranchPattern = Annotated[str, AfterValidator(lambda value: _one_line(value, "a branch name or pattern", 255))]
StackParameters = Annotated[dict[str, str | int | float | bool], AfterValidator(parameter_names)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CustomStrategy(_Strict):
    """A custom CodeDeploy configuration: ``canary`` (one step) or ``linear`` (equal steps)."""

    type: Literal["canary", "linear"]
    percent: Annotated[int, Field(ge=1, le=99)]
    interval_minutes: Annotated[int, Field(ge=1, le=2880)]

    @property
    def name(self) -> str:
        kind = "Canary" if self.type == "canary" else "Linear"
        return f"Stepdeploy{kind}{self.percent}PercentEvery{self.interval_minutes}Minutes"


class Analysis(_Strict):
    """How stepdeploy's step engine judges the new versions against the old ones after each step."""

    min_invocations: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    """Fewer invocations of a function's new version in a step than this: Inconclusive (a person decides)."""
    max_error_rate_increase: Annotated[float, Field(ge=0, le=100)] = 1.0
    """Percentage points the new version's error rate may exceed the old one's."""
    max_throttle_rate_increase: Annotated[float, Field(ge=0, le=100)] = 1.0
    """Percentage points the new version's throttle rate may exceed the old one's."""
    max_p99_increase_percent: Annotated[float, Field(ge=0, le=10_000)] = 25.0
    """How much longer (in percent of the old one) the new version's p99 duration may be."""


class StepStrategy(_Strict):
    """stepdeploy's own engine: every changed function moves together through ``steps`` (percent of traffic
    on the new versions), ``pause_minutes`` after each, judged by ``analysis``."""

    steps: Annotated[list[int], Field(min_length=1, max_length=20)]
    pause_minutes: Annotated[int, Field(ge=1, le=1440)] = 5
    analysis: Analysis = Analysis()

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if any(not 1 <= step <= 100 for step in value) or any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("percentages from 1 to 100 in increasing order, e.g. [1, 5, 25, 50, 100]")
        if value[-1] != 100:
            raise ValueError(f"a last step of 100 (all traffic on the new versions); got {value}")
        return value


def _strategy_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "codedeploy-name"
    if isinstance(value, CustomStrategy):
        return "codedeploy-custom"
    if isinstance(value, StepStrategy):
        return "stepdeploy-steps"
    if isinstance(value, dict):
        return "stepdeploy-steps" if "steps" in value else "codedeploy-custom"
    return None


Strategy = Annotated[
    Annotated[str, Tag("codedeploy-name")]
    | Annotated[CustomStrategy, Tag("codedeploy-custom")]
    | Annotated[StepStrategy, Tag("stepdeploy-steps")],
    Discriminator(
        _strategy_kind,
        custom_error_type="strategy",
        custom_error_message="a CodeDeployDefault.Lambda* name, {type, percent, interval_minutes} or "
        "{steps, pause_minutes, analysis}",
    ),
]


class Hooks(_Strict):
    before_allow_traffic: str | None = None
    after_allow_traffic: str | None = None

    @field_validator("before_allow_traffic", "after_allow_traffic")
    @classmethod
    def _hook(cls, value: str | None) -> str | None:
        _logical_ids(value)
        return value

    def names(self) -> list[str]:
        return [h for h in (self.before_allow_traffic, self.after_allow_traffic) if h]


class Deployment(_Strict):
    alias: str = "live"
    strategy: Strategy = "CodeDeployDefault.LambdaAllAtOnce"
    alarms: Annotated[list[str], Field(max_length=10)] = []
    hooks: Hooks = Hooks()
    bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 0
    functions: list[str] | None = None
    """Logical ids of the functions to shift; default every function of the stack but the hooks."""

    @field_validator("functions")
    @classmethod
    def _functions(cls, value: list[str] | None) -> list[str] | None:
        _logical_ids(value)
        return value

    @field_validator("alarms")
    @classmethod
    def _alarms(cls, value: list[str]) -> list[str]:
        for name in value:
            _one_line(name, "alarm names", 255)
        return value

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        if not ALIAS_NAME.match(value):
            raise ValueError("an alias name of letters, digits, '-' or '_', not only digits")
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str | CustomStrategy | StepStrategy) -> str | CustomStrategy | StepStrategy:
        if isinstance(value, str):
            short = value.removeprefix("CodeDeployDefault.")
            if short not in PREDEFINED_DEPLOYMENT_CONFIGS:
                raise ValueError(
                    "one of " + ", ".join(PREDEFINED_DEPLOYMENT_CONFIGS)
                    + " (optionally prefixed CodeDeployDefault.), {type, percent, interval_minutes} or "
                    "{steps, pause_minutes, analysis}"
                )
            return f"CodeDeployDefault.{short}"
        return value

    @model_validator(mode="after")
    def _no_hooks_with_steps(self) -> Deployment:
        if self.steps is not None and self.hooks.names():
            raise ValueError(
                "hooks run in CodeDeploy's traffic shifts; the step engine (strategy: {steps: ...}) does not run "
                "them: remove deployment.hooks or use a CodeDeploy strategy"
            )
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only what stepdeploy.yml said: parsed again (in a later step), the rest is default and
        ``model_fields_set`` still tells what was written (a template's DeploymentPreference fills the rest)."""
        data = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}

    @property
    def steps(self) -> StepStrategy | None:
        """The step schedule when stepdeploy's own engine releases (None: CodeDeploy does)."""
        return self.strategy if isinstance(self.strategy, StepStrategy) else None

    @property
    def deployment_config_name(self) -> str:
        if isinstance(self.strategy, StepStrategy):
            raise ValueError("a step strategy has no CodeDeploy deployment configuration")
        return self.strategy if isinstance(self.strategy, str) else self.strategy.name


class Approval(_Strict):
    required: bool = False
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = 60


class Target(_Strict):
    """Where one branch (or branch pattern) deploys."""

    branch: BranchPattern
    stack: StackName
    environment: EnvironmentName = "default"
    parameters: StackParameters = {}
    approval: Approval = Approval()
    deployment: Deployment = Deployment()
    concurrency: Literal["superseded", "queued"] = "superseded"
    account: AccountId = None
    """Another AWS account to deploy into (12 digits), through its stepdeploy stage role."""
    region: RegionName = None
    """Another region to deploy into; default: the orchestrator's."""

    def matches(self, branch: str) -> bool:
        return fnmatch.fnmatchcase(branch, self.branch)

    def parameter_strings(self) -> dict[str, str]:
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.parameters.items()}


STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")


class TestGate(_Strict):
    """An automated test of the stage just deployed: a Lambda function that answers pass or fail.

    ``function`` is a logical id of a function of the previous stage's stack, or a function name. It
    receives ``{repository, commit, stage, stack, outputs}`` (the stack's outputs) and answers
    ``{"passed": true|false, "message": "..."}``."""

    function: str

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,140}", value):
            raise ValueError("a function's logical id or name (letters, digits, '-' or '_')")
        return value


class Freeze(_Strict):
    start: str = Field(alias="from")
    end: str = Field(alias="to")


class DeploymentWindow(_Strict):
    """When a promotion into the stage may start; outside it the promotion waits (or fails)."""

    timezone: str = "UTC"
    allow: Annotated[list[str], Field(max_length=20)] = []
    freeze: Annotated[list[Freeze], Field(max_length=50)] = []
    outside: Literal["wait", "fail"] = "wait"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as Europe/Paris or UTC") from None
        return value

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str]) -> list[str]:
        for entry in value:
            AllowedRange.parse(entry)
        return value

    @model_validator(mode="after")
    def _freezes(self) -> DeploymentWindow:
        zone = ZoneInfo(self.timezone)
        for period in self.freeze:
            if parse_moment(period.start, zone) >= parse_moment(period.end, zone):
                raise ValueError(f"a freeze whose 'to' is after its 'from'; got {period.start!r} to {period.end!r}")
        return self

    def window(self) -> Window:
        zone = ZoneInfo(self.timezone)
        return Window(
            zone=zone,
            allowed=tuple(AllowedRange.parse(entry) for entry in self.allow),
            freezes=tuple((parse_moment(f.start, zone), parse_moment(f.end, zone)) for f in self.freeze),
        )


class Gates(_Strict):
    """What must hold before a promotion into the stage starts (each optional)."""

    test: TestGate | None = None
    soak_minutes: Annotated[int, Field(ge=0, le=10080)] = 0
    """How long the previous stage runs with its alarms quiet before this one starts."""
    window: DeploymentWindow | None = None


class Stage(_Strict):
    """One stage of a pipeline: a stack of its own, deployed with the artifact the push built once."""

    name: str
    stack: StackName
    environment: EnvironmentName | None = None
    parameters: StackParameters = {}
    approval: Approval = Approval()
    deployment: Deployment = Deployment()
    account: AccountId = None
    region: RegionName = None
    gates: Gates = Gates()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not STAGE_NAME.match(value):
            raise ValueError("a stage name: a lower-case letter, then lower-case letters, digits or '-', 30 at most")
        return value

    def target(self, branch: str, concurrency: Literal["superseded", "queued"]) -> Target:
        """The stage as a single-stack target (the same checks, the same deploy states)."""
        return Target(
            branch=branch, stack=self.stack, environment=self.environment or self.name, parameters=self.parameters,
            approval=self.approval, deployment=self.deployment, concurrency=concurrency, account=self.account,
            region=self.region,
        )


class PipelineTarget(_Strict):
    """A branch whose push is built once and promoted through ordered stages."""

    branch: BranchPattern
    name: str | None = None
    """The pipeline's name for `stepdeploy pipeline` and `promote`; default: the branch."""
    concurrency: Literal["superseded", "queued"] = "superseded"
    pipeline: Annotated[list[Stage], Field(min_length=1, max_length=10)]

    @field_validator("name")
    @classmethod
    def _pipeline_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}", value):
            raise ValueError("a pipeline name of letters, digits, '.', '_', '/' or '-', 64 at most")
        return value

    @model_validator(mode="after")
    def _stages(self) -> PipelineTarget:
        names = [s.name for s in self.pipeline]
        stacks = [s.stack for s in self.pipeline]
        for what, values in (("stage names", names), ("stacks", stacks)):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{what} that are all different; {', '.join(map(repr, twice))} appears twice")
        first = self.pipeline[0]
        if first.gates.test is not None or first.gates.soak_minutes:
            raise ValueError(
                f"no test or soak gate on the first stage ({first.name!r}): they check the stage before, "
                "and there is none"
            )
        return self

    @property
    def pipeline_name(self) -> str:
        return self.name or self.branch

    @property
    def stacks(self) -> list[str]:
        return [s.stack for s in self.pipeline]

    def matches(self, branch: str) -> bool:
        return fnmatch.fnmatchcase(branch, self.branch)

    def stage_targets(self) -> list[Target]:
        return [stage.target(self.branch, self.concurrency) for stage in self.pipeline]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.pipeline if s.name == name), None)


def _target_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "pipeline-target" if "pipeline" in value else "stack-target"
    return "pipeline-target" if isinstance(value, PipelineTarget) else "stack-target"


AnyTarget = Annotated[
    Annotated[Target, Tag("stack-target")] | Annotated[PipelineTarget, Tag("pipeline-target")],
    Discriminator(_target_kind),
]


class BuildSettings(_Strict):
    buildspec: str | None = None
    """Path of the buildspec in the repository; default: the repository's buildspec.yml or ours.
    Inline buildspecs and S3 locations only where the platform team allows them (target_checks.py)."""


class DeploymentConfig(_Strict):
    version: Literal[1]
    template: str = "template.yaml"
    build: BuildSettings = BuildSettings()
    targets: Annotated[list[AnyTarget], Field(min_length=1, max_length=100)]

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        if bad_character(value) or not relative_path(value):
            raise ValueError("a relative path inside the bundle (no leading '/', no '..', no URL)")
        return value

    @model_validator(mode="after")
    def _unique_stacks(self) -> DeploymentConfig:
        seen: dict[str, str] = {}
        for target in self.targets:
            for stack in target.stacks if isinstance(target, PipelineTarget) else [target.stack]:
                if stack in seen and seen[stack] != target.branch:
                    raise ValueError(f"stack {stack!r} is the target of two branch patterns")
                seen[stack] = target.branch
        return self

    def pipeline(self, name: str) -> PipelineTarget | None:
        return next((t for t in self.targets if isinstance(t, PipelineTarget) and t.pipeline_name == name), None)

    def target_for(self, branch: str) -> Target | PipelineTarget | None:
        return next((t for t in self.targets if t.matches(branch)), None)


def relative_path(value: str) -> bool:
    """A relative POSIX path that stays inside its root: no '/...', no '..', no scheme, no backslash."""
    if not value or len(value) > 1024 or value.startswith("/") or "\\" in value or ":" in value:
        return False
    return ".." not in value.split("/") and value.strip() == value


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "int", "float", "bool", "CustomStrategy", "codedeploy-name", "codedeploy-custom",
                      "stepdeploy-steps", "stack-target", "pipeline-target") or str(part).startswith(
                          "function-after[_strategy()"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "is not a known key"
    if kind == "missing":
        return "is required"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
    message = message.removeprefix("List should have ")
    got = error.get("input")
    if isinstance(got, dict | list):
        return f"expected {message}"
    shown = repr(got)
    return f"expected {message}; got {shown if len(shown) <= 80 else shown[:77] + '...'}"


def parse_config(text: str | bytes, *, file: str = CONFIG_FILE) -> DeploymentConfig:
    """Parse and validate the file's text; ConfigurationError names file, key and expectation."""
    from stepdeploy.app_config.config_yaml import (
        load_config_yaml,  # only the functions that read a stepdeploy.yml pay for PyYAML
    )

    data = load_config_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigurationError(f"{file}: expected a mapping with 'version' and 'targets', got {type(data).__name__}")
    try:
        return DeploymentConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A mapping given for `strategy` fails the string branch of the union too; keep the useful one.
        def shadowed(e: Any) -> bool:
            head = e["loc"][:-1]
            return e["type"] == "string_type" and any(
                o is not e and o["loc"][: len(head)] == head and len(o["loc"]) > len(head) for o in errors
            )

        errors = [e for e in errors if not shadowed(e)] or errors
        problems = [f"{_location(e['loc'])}: {_describe(e)}" for e in errors]
        raise ConfigurationError(f"{file}: " + "; ".join(dict.fromkeys(problems))) from None
