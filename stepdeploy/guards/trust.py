"""The checks the tasks make before anything is touched: ownership of the stack and the target
against the template (target_checks.py, ownership.py), with the AWS reads they need.

- Resolve request (before a lock, a build or a change set): the buildspec setting, the target's account
  (a listed stage account whose stage role can be assumed: stepdeploy.aws.accounts), the stack's
  owner and name (under ManagedStackPrefix), and the target and the permissions boundary against
  the repository's own template when the configured template path is in the repository (a template
  the build generates is checked at Package artifact instead);
- Package artifact (before Create change set): the target and the permissions boundary against the
  packaged template (stepdeploy.template.bundle.package_template sets the boundary);
- Create change set: the stack's owner again, just before the change set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepdeploy.app_config.target_config import CONFIG_FILE, DeploymentConfig
from stepdeploy.aws.accounts import check_stage, current_stage, deploy_names, deploying_into, in_another_region
from stepdeploy.aws.alarms import Alarms
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.errors import ConfigurationError, RequestRejected
from stepdeploy.ghe.api import FileTooLarge
from stepdeploy.guards.ownership import check_owner
from stepdeploy.guards.permissions_boundary import check_permissions_boundary
from stepdeploy.guards.target_checks import (
    check_build,
    check_external_alarms,
    check_images_in_region,
    check_target_against_template,
)
from stepdeploy.models import DeploymentRequest
from stepdeploy.settings import settings
from stepdeploy.template.bundle import BUCKET_PARAMETER


def check_stack_owner(request: DeploymentRequest, *, file: str = CONFIG_FILE) -> dict[str, Any] | None:
    """RequestRejected unless the request's repository may change its stack; returns the stack."""
    s = settings()
    repository = request.repository or ""
    stack = CloudFormation().describe_stack(request.stack)
    try:
        check_owner(
            stack,
            request.stack,
            repository,
            orchestrator_stack=s.orchestrator_stack,
            may_adopt=s.may_adopt(repository, request.stack),
        )
    except RequestRejected as exc:
        raise RequestRejected(f"{file}: targets (stack {request.stack}).stack: {exc}") from None
    return stack


def check_managed_prefix(request: DeploymentRequest, *, file: str = CONFIG_FILE) -> None:
    """RequestRejected unless the stack's name starts with ManagedStackPrefix: the deploy role may create and
    change only the resources of such stacks, so any other stack would fail half-way through its update."""
    prefix = settings().managed_stack_prefix
    if prefix and not request.stack.startswith(prefix):
        raise RequestRejected(
            f"{file}: targets (stack {request.stack}).stack: expected a stack name that starts with the "
            f"orchestrator's ManagedStackPrefix {prefix!r} (the deploy role changes only resources of such "
            f"stacks); found {request.stack!r}"
        )


def reserved_parameters(template: Any) -> frozenset[str]:
    """The parameter names stepdeploy adds when it packages this template."""
    resources = template.get("Resources") if isinstance(template, dict) else None
    names = {BUCKET_PARAMETER}
    for logical_id in resources or {}:
        names |= {f"{logical_id}CodeKey", f"{logical_id}ImageUri"}
    return frozenset(names)


def check_alarms_exist(request: DeploymentRequest, names: list[str], file: str) -> None:
    assert request.target is not None
    if names:
        existing = set(Alarms().states(names))
        check_external_alarms(request.target, names, existing, file=file)


def check_request_before_build(
    request: DeploymentRequest,
    config: DeploymentConfig,
    read_file: Callable[[str], bytes | None],
    *,
    file: str = CONFIG_FILE,
) -> None:
    assert request.target is not None
    check_build(config, file=file, external_buildspec=settings().external_buildspec)
    with deploying_into(check_stage(request.target)):
        _check_against_stack_and_template(request, config, read_file, file)


def _check_against_stack_and_template(
    request: DeploymentRequest,
    config: DeploymentConfig,
    read_file: Callable[[str], bytes | None],
    file: str,
) -> None:
    assert request.target is not None
    check_stack_owner(request, file=file)
    check_managed_prefix(request, file=file)
    try:
        text = read_file(config.template)
    except FileTooLarge:
        text = None  # checked at Package artifact, in the bundle
    if text is None:
        return
    from stepdeploy.template import cfn_yaml  # only when a template is read: PyYAML stays out of the cold start

    try:
        template = cfn_yaml.load(text)
    except cfn_yaml.TemplateError as exc:
        raise ConfigurationError(f"{config.template} (the template {file} names): {exc}") from None
    boundary = deploy_names().permissions_boundary_arn
    if boundary and isinstance(template, dict):
        check_permissions_boundary(template, boundary, name=config.template)
    stage = current_stage()
    if stage is not None and in_another_region(stage):
        check_images_in_region(template, stage.region, template_name=config.template,
                               where=f"{file}: targets (stack {request.target.stack})")
    external = check_target_against_template(
        request.target, template, template_name=config.template, file=file, reserved=reserved_parameters(template)
    )
    check_alarms_exist(request, external, file)


def check_packaged_template(request: DeploymentRequest, template: Any, code_parameters: set[str]) -> None:
    """The target against the packaged template (Package artifact, before Create change set)."""
    assert request.target is not None
    external = check_target_against_template(
        request.target,
        template,
        template_name=f"{request.template_path} (packaged)",
        reserved=frozenset(code_parameters) | {BUCKET_PARAMETER},
    )
    check_alarms_exist(request, external, CONFIG_FILE)
