"""The document that flows through the state machine, one typed piece per step.

Every task receives ``{"document": <this>, "execution": {...}}`` and returns the whole document with
its own piece set (the ASL uses ``OutputPath: $.Payload``). Pieces are small: the document stays far
below Step Functions' 256 KiB limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stepdeploy.app_config.target_config import Gates, Target


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or utc_now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Piece(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Object(Piece):
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Trigger(Piece):
    """The execution's input, as the EventBridge rules' input transformers shape it."""

    source: Literal["ghe", "s3"]
    event: dict[str, Any]


class StagePlan(Piece):
    """One stage of a pipeline as the parent execution promotes it (the Map's item)."""

    name: str
    stack: str
    account: str | None = None
    region: str | None = None
    alarms: list[str] = []
    """The stage's deployment alarms: a soak before the next stage watches them."""
    gates: Gates = Gates()


class PipelineInfo(Piece):
    """The push is built once, then each stage is deployed by a child execution named after it."""

    name: str
    stages: list[StagePlan]


class DeploymentRequest(Piece):
    skip: bool = False
    reason: str | None = None
    source: Literal["ghe", "s3"]
    repository: str | None = None
    branch: str | None = None
    commit: str | None = None
    pusher: str | None = None
    clone_url: str | None = None
    delivery_id: str | None = None
    pushed_at: str | None = None
    artifact: S3Object | None = None
    template_path: str = "template.yaml"
    buildspec: str | None = None
    target: Target | None = None
    pipeline: PipelineInfo | None = None
    """Set on a pipeline's parent execution (which builds, then promotes); ``target`` is its first stage."""
    stage: str | None = None
    """Set on a stage's child execution: the stage of ``pipeline_name`` that ``target`` is."""
    pipeline_name: str | None = None
    approval_timeout_seconds: int = 3600
    requested_at: str = Field(default_factory=iso)

    @property
    def stack(self) -> str:
        if self.target is None:
            raise ValueError("the request has no target")
        return self.target.stack

    @property
    def short_commit(self) -> str:
        return (self.commit or "")[:7]


class LockInfo(Piece):
    stack: str
    owner: str
    acquired_at: str
    lease_expires_at: str


class LockWait(Piece):
    """Acquire lock found the stack's lock held: wait ``seconds``, then try again ("Wait for lock")."""

    holder: str | None = None
    holder_commit: str | None = None
    reason: str
    since: str = Field(default_factory=iso)
    checks: int = 1
    waited_seconds: int = 0
    """Time spent in "Wait for lock" so far (the sum of the waits that ran to their time-out)."""
    seconds: int
    woken: dict[str, Any] | None = None
    """Set by "Wait for lock" when woken early (the output a waker sent: ``by``, ``reason``)."""
    timed_out: dict[str, Any] | None = None
    """Set by "Wait for lock" when the wait ran its ``seconds`` (the reconciling check)."""


class BuildInfo(Piece):
    build_id: str
    status: str = "IN_PROGRESS"
    done: bool = False
    logs_url: str | None = None
    artifact: S3Object | None = None
    artifact_sha256: str | None = None
    """The sha256 (hex) CodeBuild reports of the artifact it uploaded (``artifacts.sha256sum``)."""
    started_at: str = Field(default_factory=iso)
    finished_at: str | None = None


class ArtifactInfo(Piece):
    """The app's packaged template and the code locations passed as parameter overrides."""

    bundle: S3Object
    digest: str
    template: S3Object
    parameters: dict[str, str]
    code_keys: dict[str, str] = {}
    """Logical id of each function -> the S3 key (content hash) or image URI of its code."""
    aliased_functions: list[str] = []
    """Logical ids of the functions whose event sources the packaged template points at the alias."""
    deployment_preferences: dict[str, dict[str, Any]] = {}
    """Logical id -> the template's SAM DeploymentPreference, mapped (template.preferences.MappedPreference)."""
    preference_hooks: list[str] = []
    """Functions the DeploymentPreferences name as hooks: never shifted themselves."""
    regional_copy: S3Object | None = None
    """A stage outside the orchestrator's region: the copy of ``template`` in the stage's code bucket, where
    the code was copied too (the bucket parameter names it); CloudFormation there reads them."""


class ChangeSetInfo(Piece):
    stack_name: str
    change_set_name: str
    change_set_id: str | None = None
    change_set_type: Literal["CREATE", "UPDATE"]
    status: str = "CREATE_PENDING"
    done: bool = False
    no_changes: bool = False
    changes: list[dict[str, Any]] = []
    started_at: str = Field(default_factory=iso)


class ApprovalInfo(Piece):
    approved: bool
    by: str | None = None
    comment: str | None = None
    at: str = Field(default_factory=iso)


class StackInfo(Piece):
    stack_name: str
    status: str
    stack_id: str | None = None
    client_request_token: str | None = None
    """The token given to ExecuteChangeSet: the stack's status events of this update carry it."""
    done: bool = False
    started_at: str = Field(default_factory=iso)
    finished_at: str | None = None


class FunctionRelease(Piece):
    logical_id: str
    function_name: str
    alias: str
    version: str
    previous_version: str | None = None
    changed: bool = True
    alias_created: bool = False

    @property
    def needs_shift(self) -> bool:
        return self.changed and not self.alias_created and self.previous_version not in (None, self.version)


class VersionsInfo(Piece):
    functions: list[FunctionRelease] = []
    shift_needed: bool = False


class ShiftDeployment(Piece):
    logical_id: str
    function_name: str
    deployment_id: str
    status: str = "Created"


class ShiftInfo(Piece):
    deployments: list[ShiftDeployment] = []
    done: bool = False
    alarms: list[str] = []
    """The alarms that gate the shift and the bake (resolved names)."""
    bake_seconds: int = 1
    """How long Wait while baking sleeps after the shift (the bake time; at least 1 s)."""
    started_at: str = Field(default_factory=iso)
    finished_at: str | None = None


class ReleaseProgress(Piece):
    """stepdeploy's step engine (strategy: {steps: ...}): where the coordinated release of every changed
    function stands. Advance release writes it; Wait for release step sleeps ``wait_seconds`` on it."""

    steps: list[int]
    step: int = -1
    """Index in ``steps`` of the weight every alias now has (-1: not moved yet)."""
    percent: int = 0
    step_started_at: str = Field(default_factory=iso)
    pause_seconds: int
    wait_seconds: int = 1
    status: Literal["running", "paused", "done"] = "running"
    paused_reason: str | None = None
    """``inconclusive`` (the analysis could not judge: a person decides) or ``operator``."""
    alarms: list[str] = []
    alarms_at_start: dict[str, str] = {}
    """Alarms already in ALARM when the release started -> their state's timestamp (they do not block it)."""
    judgements: list[dict[str, Any]] = []
    """Each step's verdict with its numbers (the ledger keeps them too)."""
    done: bool = False
    started_at: str = Field(default_factory=iso)
    finished_at: str | None = None


class BakeInfo(Piece):
    until: str
    remaining_seconds: float = 0.0
    """Bake time still to go (AWS seconds), as of ``checked_at``."""
    checked_at: str = ""
    done: bool = False
    alarms: list[str] = []
    wait_seconds: int = 0
    """Whole seconds Wait while baking sleeps for (the bake time still to go, rounded up; 0 when done)."""


class GateInfo(Piece):
    """Check stage gates: whether the promotion into ``stage`` may start, and how to start it."""

    stage: str
    wait_seconds: int = 0
    """0: the gates are open (deploy the stage now); else how long to wait before checking again."""
    reason: str = ""
    waiting_at: str = ""
    """The gate that waits (``window`` or ``soak``); empty when the gates are open."""
    passed: list[str] = []
    child_name: str = ""
    child_input: dict[str, Any] = {}


class ReleaseInfo(Piece):
    outcome: str
    stack: str
    commit: str | None = None
    versions: dict[str, str] = {}
    """Function name -> the version its alias serves after this execution."""


class PrunedFunction(Piece):
    function_name: str
    deleted: list[str] = []
    kept: list[str] = []
    failed: dict[str, str] = {}
    """Version -> the error DeleteFunction answered (the version stays)."""


class PruneInfo(Piece):
    """Prune versions: what retention deleted after the release (never fails the deployment)."""

    retain: int
    functions: list[PrunedFunction] = []


class ErrorInfo(Piece):
    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")


class Document(Piece):
    """Everything the state machine carries; pieces appear as the steps run."""

    source: Literal["ghe", "s3"]
    event: dict[str, Any]
    replay_of: str | None = None  # the execution `stepdeploy replay` ran again: deploys its commit on purpose
    stage: str | None = None  # a pipeline's stage this execution deploys (started by its parent or `promote`)
    parent_execution: str | None = None  # the pipeline execution (or operator) that started this stage
    promoted_by: str | None = None  # `stepdeploy promote`: an operator chose this commit for the stage
    request: DeploymentRequest | None = None
    lock: LockInfo | None = None
    lock_wait: LockWait | None = None
    build: BuildInfo | None = None
    artifact: ArtifactInfo | None = None
    changeset: ChangeSetInfo | None = None
    approval: ApprovalInfo | None = None
    stack: StackInfo | None = None
    versions: VersionsInfo | None = None
    shift: ShiftInfo | None = None
    bake: BakeInfo | None = None
    progress: ReleaseProgress | None = None
    release: ReleaseInfo | None = None
    pruned: PruneInfo | None = None
    gate: GateInfo | None = None
    promotion: list[dict[str, Any]] | None = None
    """A pipeline's parent: what each stage's child execution ended with (the Map's result)."""
    error: ErrorInfo | None = None

    @property
    def deliberate(self) -> bool:
        """An operator chose this commit (replay, promote): deploying older code is not an accident."""
        return bool(self.replay_of or self.promoted_by)

    def require_request(self) -> DeploymentRequest:
        if self.request is None or self.request.target is None:
            raise ValueError("the document has no resolved request with a target")
        return self.request


class ExecutionContext(Piece):
    """What the ASL passes from the context object ($$)."""

    id: str = Field(alias="Id")
    name: str = Field(default="", alias="Name")
    start_time: str | None = Field(default=None, alias="StartTime")
    state: str = ""
    task_token: str | None = None
    stage: str | None = None
    """Inside the pipeline's Map: the stage of this iteration ($$.Map.Item.Value.name, kept by ItemSelector)."""


def dump(document: Document) -> dict[str, Any]:
    return document.model_dump(mode="json", by_alias=True, exclude_none=True)
