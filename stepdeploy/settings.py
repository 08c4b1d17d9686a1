"""The orchestrator's settings: every environment variable its functions read, parsed once per cold start.

No other runtime module reads ``os.environ``: it asks ``settings()``. (What an application repository
asks for, its stepdeploy.yml, is stepdeploy.app_config.target_config.)
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from stepdeploy.polling import PollSettings
from stepdeploy.template.bundle import Limits

ADOPT = "adopt"
PRIVILEGED = "privileged"
FLAGS = (ADOPT, PRIVILEGED)


@dataclass(frozen=True)
class AllowRule:
    repository: str
    stack_pattern: str
    adopt: bool = False
    """May take over a matching stack that exists but that stepdeploy did not create."""
    privileged: bool = False
    """Its builds run in CodeBuild's privileged mode (a Docker daemon: container-image functions)."""

    def allows(self, repository: str, stack: str) -> bool:
        return repository.lower() == self.repository.lower() and fnmatch.fnmatchcase(stack, self.stack_pattern)


def parse_allowed_repositories(text: str) -> tuple[AllowRule, ...]:
    """``owner/repo:stack-pattern[:adopt][:privileged]`` entries separated by commas; every entry names its stacks.

    A bare ``owner/repo`` (which used to mean "any stack") is refused: the platform team writes down
    which stacks each repository may deploy. ``:adopt`` lets the repository take over a matching stack
    that exists but that stepdeploy did not create; ``:privileged`` runs its builds in CodeBuild's
    privileged mode (Docker, for container-image functions), which every other build runs without.
    """
    rules = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        repository, _, rest = entry.partition(":")
        pattern, *flags = rest.split(":")
        if repository.count("/") != 1 or not all(repository.split("/")) or not pattern.strip():
            raise ValueError(
                f"ALLOWED_REPOSITORIES entry {entry!r}: expected owner/repo:stack-pattern "
                "(e.g. platform/orders:orders-*), optionally followed by :adopt and/or :privileged"
            )
        unknown = [flag for flag in flags if flag not in FLAGS]
        if unknown or len(set(flags)) != len(flags):
            raise ValueError(
                f"ALLOWED_REPOSITORIES entry {entry!r}: flags {':'.join(flags)!r}; expected "
                "owner/repo:stack-pattern followed by at most :adopt and :privileged, each once"
            )
        rules.append(AllowRule(repository, pattern.strip(), adopt=ADOPT in flags, privileged=PRIVILEGED in flags))
    return tuple(rules)


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", ""):
        raise RuntimeError(f"environment variable {name}: expected true or false, got {raw!r}")
    return value == "true"


@dataclass(frozen=True)
class Settings:
    table_name: str
    artifact_bucket: str
    upload_prefix: str
    codebuild_project: str
    codedeploy_application: str
    codedeploy_role_arn: str
    cloudformation_role_arn: str
    ghe_host: str
    ghe_api_url: str
    ghe_token_secret_arn: str
    webhook_secret_arn: str
    event_bus_name: str
    allowed_repositories: tuple[AllowRule, ...]
    notification_topic_arn: str
    lock_lease_seconds: int
    poll_seconds: int
    state_machine_arn: str
    retain_releases: int
    limits: Limits
    poll: PollSettings
    orchestrator_stack: str = ""
    """The orchestrator's own stack: never a deployment target."""
    external_buildspec: bool = False
    """stepdeploy.yml may give an inline buildspec or an S3 location (not only a path in the repository)."""
    managed_stack_prefix: str = ""
    """Every target stack's name starts with it: the deploy role may change only resources under it."""
    permissions_boundary_arn: str = ""
    """The boundary Package artifact puts on every role of an application stack (ApplicationBoundaryPolicy)."""
    ghe_protocol: str = "https"
    """The scheme of clone URLs (GheProtocol): https, or http for a local or test GHE."""
    lifecycle_event: str = ""
    """The hook runner's lifecycle event (BeforeAllowTraffic or AfterAllowTraffic); set on the runners only."""
    account_id: str = ""
    """The orchestrator's own AWS account (ORCHESTRATOR_ACCOUNT)."""
    region: str = ""
    """The orchestrator's region (AWS_REGION, which Lambda sets)."""
    partition: str = "aws"
    stage_role_name: str = "stepdeploy-stage"
    """The role (and name prefix of the CloudFormation and CodeDeploy roles, boundary and CodeDeploy
    application) that templates/stage-account.yaml creates in a stage account."""
    stage_external_id: str = ""
    """The ExternalId the stage role's trust policy requires: the orchestrator stack's name."""
    stage_accounts: tuple[str, ...] = ()
    """The accounts a target may deploy into besides the orchestrator's own (STAGE_ACCOUNTS)."""
    endpoint_url: str = ""
    """AWS_ENDPOINT_URL: the endpoint every boto3 client honours (the local cloud's, when set)."""

    def hook_runner(self, lifecycle_event: str) -> str:
        """The orchestrator's runner function for a lifecycle event (template.yaml names it so)."""
        if not self.orchestrator_stack:
            raise RuntimeError(
                "environment variable ORCHESTRATOR_STACK is not set; the hook runners are named after it"
            )
        return f"{self.orchestrator_stack}-hook-{lifecycle_event}"

    def repository_allowed(self, repository: str, stack: str | None = None) -> bool:
        return any(
            rule.allows(repository, stack) if stack else rule.repository.lower() == repository.lower()
            for rule in self.allowed_repositories
        )

    def may_adopt(self, repository: str, stack: str) -> bool:
        return any(rule.adopt and rule.allows(repository, stack) for rule in self.allowed_repositories)

    def builds_privileged(self, repository: str, stack: str) -> bool:
        """Only an allow-list entry with ``:privileged`` for this stack runs its build privileged."""
        return any(rule.privileged and rule.allows(repository, stack) for rule in self.allowed_repositories)

    def clone_url(self, repository: str) -> str:
        """The repository's clone URL on the configured GHE host: never the one an event carries."""
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name or not self.ghe_host:
            raise ValueError(
                f"cannot build a clone URL for repository {repository!r} on GHE host {self.ghe_host!r}: "
                "expected owner/repo and GHE_HOST set"
            )
        return f"{self.ghe_protocol}://{self.ghe_host}/{owner}/{name}.git"


def parse_limits(environ: Mapping[str, str]) -> Limits:
    """MAX_ARTIFACT_BYTES and MAX_COMPRESSION_RATIO; a bad value fails at cold start, named."""
    values: dict[str, Any] = {}
    for var, name, kind in (
        ("MAX_ARTIFACT_BYTES", "max_bytes", int),
        ("MAX_COMPRESSION_RATIO", "max_ratio", float),
    ):
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise RuntimeError(f"environment variable {var}: expected a positive number, got {raw!r}") from None
        if value <= 0:
            raise RuntimeError(f"environment variable {var}: expected a positive number, got {raw!r}")
        values[name] = value
    return Limits(**values)


def parse_retain_releases(raw: str) -> int:
    """RETAIN_RELEASES: how many releases of each function keep their versions (0 keeps every version)."""
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(
            f"environment variable RETAIN_RELEASES: expected a whole number from 0 to 100, got {raw!r}"
        ) from None
    if not 0 <= value <= 100:
        raise RuntimeError(f"environment variable RETAIN_RELEASES: expected a whole number from 0 to 100, got {raw!r}")
    return value


def _protocol(raw: str) -> str:
    if raw not in ("https", "http"):
        raise RuntimeError(f"environment variable GHE_PROTOCOL: expected https or http, got {raw!r}")
    return raw
def parse_stage_accounts(text: str) -> tuple[str, ...]:
    """STAGE_ACCOUNTS: comma-separated 12-digit account ids that targets may deploy into."""
    accounts = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise RuntimeError(
                f"environment variable STAGE_ACCOUNTS: {account!r} is not an AWS account id; "
                "expected comma-separated 12-digit account ids"
            )
    return accounts


def _get(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is not set; the template sets it for every function")
    return value


@cache
def settings() -> Settings:
    """Parsed once per cold start; a missing variable fails fast and names itself."""
    return Settings(
        table_name=_get("TABLE_NAME", ""),
        artifact_bucket=_get("ARTIFACT_BUCKET", ""),
        upload_prefix=_get("UPLOAD_PREFIX", "uploads/"),
        codebuild_project=_get("CODEBUILD_PROJECT", ""),
        codedeploy_application=_get("CODEDEPLOY_APPLICATION", ""),
        codedeploy_role_arn=_get("CODEDEPLOY_ROLE_ARN", ""),
        cloudformation_role_arn=_get("CLOUDFORMATION_ROLE_ARN", ""),
        ghe_host=_get("GHE_HOST", ""),
        ghe_api_url=_get("GHE_API_URL", ""),
        ghe_token_secret_arn=_get("GHE_TOKEN_SECRET_ARN", ""),
        webhook_secret_arn=_get("WEBHOOK_SECRET_ARN", ""),
        event_bus_name=_get("EVENT_BUS_NAME", ""),
        allowed_repositories=parse_allowed_repositories(_get("ALLOWED_REPOSITORIES", "")),
        notification_topic_arn=_get("NOTIFICATION_TOPIC_ARN", ""),
        lock_lease_seconds=int(_get("LOCK_LEASE_SECONDS", "7200")),
        poll_seconds=int(_get("POLL_SECONDS", "15")),
        state_machine_arn=_get("STATE_MACHINE_ARN", ""),
        retain_releases=parse_retain_releases(_get("RETAIN_RELEASES", "5")),
        limits=parse_limits(os.environ),
        # On the local cloud, STEPDEPLOY_CLOCK_SPEED (set by its Lambda runtime) scales waits to its clock.
        poll=PollSettings(
            interval=float(_get("POLL_INTERVAL_SECONDS", "1")),
            budget=float(_get("POLL_BUDGET_SECONDS", "600")),
            speed=float(_get("STEPDEPLOY_CLOCK_SPEED", "1")),
        ),
        orchestrator_stack=_get("ORCHESTRATOR_STACK", ""),
        external_buildspec=_flag("ALLOW_EXTERNAL_BUILDSPEC", _get("ALLOW_EXTERNAL_BUILDSPEC", "false")),
        managed_stack_prefix=_get("MANAGED_STACK_PREFIX", ""),
        permissions_boundary_arn=_get("PERMISSIONS_BOUNDARY_ARN", ""),
        ghe_protocol=_protocol(_get("GHE_PROTOCOL", "https")),
        lifecycle_event=_get("LIFECYCLE_EVENT", ""),
        account_id=_get("ORCHESTRATOR_ACCOUNT", ""),
        region=_get("AWS_REGION", _get("AWS_DEFAULT_REGION", "")),
        partition=_get("ORCHESTRATOR_PARTITION", "aws") or "aws",
        stage_role_name=_get("STAGE_ROLE_NAME", "stepdeploy-stage") or "stepdeploy-stage",
        stage_external_id=_get("STAGE_EXTERNAL_ID", _get("ORCHESTRATOR_STACK", "")),
        stage_accounts=parse_stage_accounts(_get("STAGE_ACCOUNTS", "")),
        endpoint_url=_get("AWS_ENDPOINT_URL", ""),
    )
