"""Where a deployment's stage lives: the AWS account and region of its stack, reached through a role there.

A target of ``stepdeploy.yml`` may name another ``account`` and ``region``. Every call that touches the
application's stack, its functions, versions and aliases, CodeDeploy, alarms and metrics then goes to
that account and region, with credentials of the stage role there
(``arn:PARTITION:iam::ACCOUNT:role/STAGE_ROLE_NAME``, shipped as ``templates/stage-account.yaml``).
Everything of the orchestrator itself (ledger, locks, Step Functions, secrets, CodeBuild, the artifact
bucket, SNS, EventBridge) stays in the orchestrator's account: only ``STAGE_SERVICES`` move. A stage in
another region than the orchestrator's also gets, through ``stepdeploy.aws.clients.stage_client("s3")``, a
copy of the packaged code in its region's code bucket (``Stage.code_bucket``): Lambda reads code only from
a bucket of its own region.

The task handler sets the stage of the document's target for the duration of a step (``deploying_into``);
``stepdeploy.aws.clients.client`` asks ``current_stage()``, so task modules keep calling
``client("cloudformation")``. Credentials are cached per (account, region, execution) until shortly before
they expire: the session name says the execution, so CloudTrail in the stage account names it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from stepdeploy.errors import RequestRejected

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

    from stepdeploy.app_config.target_config import Target
    from stepdeploy.models import Document

STAGE_SERVICES = frozenset({"cloudformation", "lambda", "codedeploy", "cloudwatch"})
"""The services of the application's stack: called in the stage's account and region."""
DEFAULT_STAGE_ROLE_NAME = "stepdeploy-stage"
STAGE_TEMPLATE = "templates/stage-account.yaml"
REFRESH_MARGIN_SECONDS = 300
"""Credentials this close to their expiry are renewed before a call."""
SESSION_SECONDS = 3600
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "RegionDisabledException"})


@dataclass(frozen=True)
class Stage:
    """A stage in another account (or region): the names stepdeploy-stage gives its resources there."""

    account: str
    region: str
    role_name: str
    partition: str = "aws"
    external_id: str = ""
    session_name: str = "stepdeploy"

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}"

    @property
    def cloudformation_role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}-cloudformation"

    @property
    def codedeploy_role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}-codedeploy"

    @property
    def permissions_boundary_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:policy/{self.role_name}-boundary"

    @property
    def codedeploy_application(self) -> str:
        return self.role_name

    @property
    def code_bucket(self) -> str:
        """The bucket the stage template creates outside the orchestrator's region: Lambda and CloudFormation
        there read the packaged code and template from it (copies, under the orchestrator bucket's keys)."""
        return f"stepdeploy-code-{self.account}-{self.region}"


def in_another_region(stage: Stage | None) -> bool:
    """Whether ``stage`` is outside the orchestrator's region: its code is read from ``stage.code_bucket``."""
    from stepdeploy.settings import settings

    return stage is not None and stage.region != settings().region


@dataclass(frozen=True)
class DeployNames:
    """What an application stack is deployed with, in the account it lives in."""

    codedeploy_application: str
    codedeploy_role_arn: str
    cloudformation_role_arn: str
    permissions_boundary_arn: str


@dataclass
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires: float


_current: ContextVar[Stage | None] = ContextVar("stepdeploy_stage", default=None)
_execution: ContextVar[str] = ContextVar("stepdeploy_execution", default="stepdeploy")
_credentials: dict[tuple[str, str, str, str], _Credentials] = {}
_lock = threading.Lock()


def current_stage() -> Stage | None:
    return _current.get()


def session_name(execution_id: str) -> str:
    """The execution's name (the last part of its ARN), as STS allows it: ``[\\w+=,.@-]``, 2 to 64 characters."""
    name = re.sub(r"[^\w+=,.@-]", "-", execution_id.rsplit(":", 1)[-1], flags=re.ASCII)[:64]
    return name if len(name) >= 2 else "stepdeploy"


class Placed(Protocol):
    """Where something is deployed: a target, or a pipeline's stage plan."""

    @property
    def account(self) -> str | None: ...

    @property
    def region(self) -> str | None: ...


def stage_of(target: Target | Placed | None, execution_id: str | None = None) -> Stage | None:
    """The stage of a target that names another account or region; None for the orchestrator's own.
    ``execution_id``: default, the execution of the running step."""
    if target is None or (target.account is None and target.region is None):
        return None
    from stepdeploy.settings import settings

    s = settings()
    account = target.account or s.account_id
    region = target.region or s.region
    if not account:
        raise RuntimeError("the orchestrator's account is unknown (ORCHESTRATOR_ACCOUNT is not set)")
    if account == s.account_id and region == s.region:
        return None
    return Stage(
        account=account,
        region=region,
        role_name=s.stage_role_name,
        partition=s.partition,
        external_id=s.stage_external_id,
        session_name=session_name(execution_id or _execution.get()),
    )


@contextmanager
def deploying_into(stage: Stage | None) -> Iterator[None]:
    """For the duration: stage services go to ``stage`` (None: the orchestrator's account)."""
    token = _current.set(stage)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def in_stage_of(document: Document | None, execution_id: str) -> Iterator[None]:
    """For the duration of a step of ``execution_id``: ``deploying_into`` the stage of the document's
    target (its request's), if it names one."""
    request = document.request if document is not None else None
    running = _execution.set(execution_id)
    try:
        with deploying_into(stage_of(request.target if request is not None else None, execution_id)):
            yield
    finally:
        _execution.reset(running)


def check_stage(target: Target | None) -> Stage | None:
    """Before anything is touched: the target's account is one the platform team listed (StageAccounts; the
    orchestrator's own account too for a stage in another region, whose stage role is then in its own
    account), no hook runs there (CodeDeploy invokes hooks in its own account and region, the runners are
    the orchestrator's), the stage role can be assumed and, in another region, the stage template was
    deployed there (its code bucket exists). RequestRejected or ConfigurationError naming what to do."""
    from stepdeploy.errors import ConfigurationError
    from stepdeploy.settings import settings

    stage = stage_of(target)
    if stage is None or target is None:
        return None
    s = settings()
    where = f"stepdeploy.yml: targets (stack {target.stack})"
    if stage.account not in s.stage_accounts:
        own = stage.account == s.account_id
        raise RequestRejected(
            f"{where}.{'region' if own else 'account'}: {stage.account} is not one of the orchestrator's stage "
            f"accounts ({', '.join(s.stage_accounts) or 'none'}); "
            + (f"a stage in the orchestrator's own account but another region ({stage.region}) deploys through "
               "the stage role there: " if own else "")
            + "the platform team lists it in the StageAccounts parameter of the orchestrator stack "
            f"and deploys {STAGE_TEMPLATE} there"
        )
    if target.deployment.hooks.names():
        raise ConfigurationError(
            f"{where}.deployment.hooks: traffic hooks are not supported for a target in another account or "
            "region (CodeDeploy there cannot invoke the orchestrator's hook runners); remove the hooks or "
            "deploy this target in the orchestrator's account"
        )
    credentials(stage)
    if in_another_region(stage):
        check_code_bucket(stage, where)
    return stage


def check_code_bucket(stage: Stage, where: str) -> None:
    """The stage's region has the stage template's code bucket, which the stage role may list; else
    RequestRejected naming the region, the bucket and how to deploy the template there."""
    from stepdeploy.aws.clients import stage_client, translate_aws_errors
    from stepdeploy.settings import settings

    with deploying_into(stage), translate_aws_errors(f"s3 head-bucket {stage.code_bucket}"):
        s3 = stage_client("s3")
        try:
            s3.head_bucket(Bucket=stage.code_bucket)
            return
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"404", "NoSuchBucket", "NotFound", "403", "AccessDenied", "301", "PermanentRedirect"}:
                raise
    raise RequestRejected(
        f"{where}.region: no stage template is deployed in {stage.region} of account {stage.account} (its "
        f"code bucket {stage.code_bucket} is missing or not readable by {stage.role_arn}); Lambda reads code "
        f"only from a bucket of its own region: deploy {STAGE_TEMPLATE} in account {stage.account}, region "
        f"{stage.region}, with OrchestratorRegion={settings().region}, AccountResources=false if its roles "
        "exist already (another region of that account), and the other parameters as in the first region"
    )


def deploy_names() -> DeployNames:
    """The CodeDeploy application and roles and the permissions boundary of the current stage's account."""
    from stepdeploy.settings import settings

    stage = current_stage()
    if stage is not None:
        return DeployNames(
            codedeploy_application=stage.codedeploy_application,
            codedeploy_role_arn=stage.codedeploy_role_arn,
            cloudformation_role_arn=stage.cloudformation_role_arn,
            permissions_boundary_arn=stage.permissions_boundary_arn,
        )
    s = settings()
    return DeployNames(
        codedeploy_application=s.codedeploy_application,
        codedeploy_role_arn=s.codedeploy_role_arn,
        cloudformation_role_arn=s.cloudformation_role_arn,
        permissions_boundary_arn=s.permissions_boundary_arn,
    )


def refusal(stage: Stage, error: ClientError | None = None) -> RequestRejected:
    """The stage role cannot be assumed: say which account, which role, and what to deploy there."""
    from stepdeploy.settings import settings

    s = settings()
    why = ""
    if error is not None:
        details = error.response.get("Error", {})
        why = f" ({details.get('Code', '')}: {details.get('Message', '')})"
    return RequestRejected(
        f"cannot assume the stage role {stage.role_arn} in account {stage.account} ({stage.region}){why}; "
        f"deploy {STAGE_TEMPLATE} in account {stage.account} as stack {stage.role_name} with "
        f"OrchestratorAccount={s.account_id or '<the orchestrator account>'}, "
        f"ExternalId={stage.external_id or '<the orchestrator stack name>'} and RoleName={stage.role_name}, "
        f"and list {stage.account} in the orchestrator's StageAccounts parameter"
    )


def credentials(stage: Stage, sts: STSClient | None = None) -> _Credentials:
    """The stage role's credentials, from the cache while they last; RequestRejected when STS refuses."""
    key = (stage.account, stage.region, stage.role_name, stage.session_name)
    with _lock:
        cached = _credentials.get(key)
        if cached is not None and cached.expires - REFRESH_MARGIN_SECONDS > time.time():
            return cached
    if sts is None:
        from stepdeploy.aws.clients import orchestrator_client

        sts = orchestrator_client("sts")
    params: dict[str, Any] = {
        "RoleArn": stage.role_arn,
        "RoleSessionName": stage.session_name,
        "DurationSeconds": SESSION_SECONDS,
    }
    if stage.external_id:
        params["ExternalId"] = stage.external_id
    try:
        answer = sts.assume_role(**params)["Credentials"]
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _DENIED:
            raise refusal(stage, exc) from None
        raise
    fresh = _Credentials(
        access_key=answer["AccessKeyId"],
        secret_key=answer["SecretAccessKey"],
        token=answer["SessionToken"],
        expires=answer["Expiration"].timestamp(),
    )
    with _lock:
        _credentials[key] = fresh
    return fresh


def forget_credentials() -> None:
    """Drop every cached credential (tests; a role whose trust changed)."""
    with _lock:
        _credentials.clear()
