"""Everything about a target that can be checked before anything is touched (DESIGN invariant 3).

``check_build`` needs only stepdeploy.yml; ``check_target_against_template`` needs a template: the
repository's own (at Resolve request, when the file is in the repository at the configured path)
and the packaged one (at Package artifact, before Create change set). Hooks, functions, alarms and
parameter names must exist there; otherwise a missing hook would be found only after the stack was
updated, an unknown parameter silently dropped, and a missing alarm only warned about while baking.
Every refusal is a ConfigurationError naming the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import re
from typing import Any

from stepdeploy.app_config.target_config import CONFIG_FILE, DeploymentConfig, PipelineTarget, Target, relative_path
from stepdeploy.errors import ConfigurationError

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})
ALARM_TYPES = frozenset({"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"})


def check_build(config: DeploymentConfig, *, file: str = CONFIG_FILE, external_buildspec: bool = False) -> None:
    """The buildspec is a relative path in the repository unless the platform team allows more."""
    buildspec = config.build.buildspec
    if buildspec is None or external_buildspec:
        return
    if "\n" in buildspec or buildspec.lstrip().startswith(("version:", "{")):
        found = "an inline buildspec"
    elif buildspec.startswith(("arn:", "s3://")) or "://" in buildspec:
        found = f"the location {buildspec!r}"
    elif not relative_path(buildspec):
        found = repr(buildspec)
    else:
        return
    raise ConfigurationError(
        f"{file}: build.buildspec: expected a relative path in the repository (e.g. buildspec.yml); got {found}. "
        "Inline buildspecs and S3 locations need the orchestrator's AllowExternalBuildspec setting"
    )


def _resources(template: Any, template_name: str) -> dict[str, Any]:
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        raise ConfigurationError(f"{template_name}: Resources: expected a mapping of resources; found none")
    return resources


def _of_type(resources: dict[str, Any], types: frozenset[str]) -> list[str]:
    return sorted(lid for lid, r in resources.items() if isinstance(r, dict) and r.get("Type") in types)


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "(none)"


def check_target_against_template(
    target: Target,
    template: Any,
    *,
    template_name: str,
    file: str = CONFIG_FILE,
    reserved: frozenset[str] = frozenset(),
) -> list[str]:
    """Refuse hooks, functions and parameters the template does not have; return the alarm entries that
    are not alarms of the template (names of existing CloudWatch alarms: the caller checks they exist)."""
    resources = _resources(template, template_name)
    where = f"{file}: targets (stack {target.stack})"
    functions = _of_type(resources, FUNCTION_TYPES)
    deployment = target.deployment
    for field in ("before_allow_traffic", "after_allow_traffic"):
        hook = getattr(deployment.hooks, field)
        if hook and hook not in functions:
            raise ConfigurationError(
                f"{where}.deployment.hooks.{field}: expected a Lambda function of {template_name} "
                f"({_listing(functions)}); found {hook!r}, which it does not define"
            )
    unknown = [f for f in deployment.functions or [] if f not in functions]
    if unknown:
        raise ConfigurationError(
            f"{where}.deployment.functions: expected logical ids of Lambda functions of {template_name} "
            f"({_listing(functions)}); found {', '.join(map(repr, unknown))}, which it does not define"
        )
    hooked = [f for f in deployment.functions or [] if f in deployment.hooks.names()]
    if hooked:
        raise ConfigurationError(
            f"{where}.deployment.functions: {', '.join(hooked)} is also a hook; expected hooks and shifted "
            "functions to be different functions"
        )
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise ConfigurationError(f"{template_name}: Parameters: expected a mapping")
    clash = sorted(set(target.parameters) & reserved)
    if clash:
        raise ConfigurationError(
            f"{where}.parameters: {', '.join(clash)}: reserved for the code locations stepdeploy adds; expected "
            "other names"
        )
    undeclared = sorted(set(target.parameters) - set(declared))
    if undeclared:
        raise ConfigurationError(
            f"{where}.parameters: expected parameters that {template_name} declares "
            f"({_listing(sorted(set(declared) - reserved))}); found {', '.join(undeclared)}, which it does not"
        )
    alarms = set(_of_type(resources, ALARM_TYPES))
    return [a for a in deployment.alarms if a not in alarms]


ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


def image_region(uri: Any) -> str | None:
    """The region of an ECR image URI; None for anything else (a parameter, another registry)."""
    match = ECR_IMAGE.match(uri) if isinstance(uri, str) else None
    return match["region"] if match else None


def check_images_in_region(template: Any, region: str, *, template_name: str, where: str) -> None:
    """Lambda pulls a function's image only from ECR in its own region: for a stage in another region than
    the orchestrator's (whose builds push to its own region), every container-image function must name an
    image of ``region`` literally. ConfigurationError naming the function, what it found and the region."""
    resources = _resources(template, template_name)
    globals_ = template.get("Globals", {}) if isinstance(template, dict) else {}
    function_globals = globals_.get("Function", {}) if isinstance(globals_, dict) else {}
    function_globals = function_globals if isinstance(function_globals, dict) else {}
    for logical_id in _of_type(resources, FUNCTION_TYPES):
        props = resources[logical_id].get("Properties") or {}
        if not isinstance(props, dict):
            continue
        if resources[logical_id]["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType", function_globals.get("PackageType")) != "Image":
                continue
            uri = props.get("ImageUri", function_globals.get("ImageUri"))
        else:
            code = props.get("Code")
            if props.get("PackageType") != "Image" and not (isinstance(code, dict) and "ImageUri" in code):
                continue
            uri = code.get("ImageUri") if isinstance(code, dict) else None
        found = image_region(uri)
        if found != region:
            what = f"an image in {found}" if found else f"the image {uri!r}, not an ECR image of a known region"
            raise ConfigurationError(
                f"{where}.region: {template_name}: {logical_id} is a container-image function with {what}, but "
                f"the stack deploys in {region} and Lambda pulls images only from ECR in its own region; "
                "container-image functions in another region than the orchestrator's are not supported: "
                "expected a zip function or an image URI of that region"
            )


def check_external_alarms(target: Target, names: list[str], existing: set[str], *, file: str = CONFIG_FILE) -> None:
    """Alarm entries that are not alarms of the template must be existing CloudWatch alarms."""
    missing = [n for n in names if n not in existing]
    if missing:
        raise ConfigurationError(
            f"{file}: targets (stack {target.stack}).deployment.alarms: expected logical ids of alarms of the "
            f"template or names of existing CloudWatch alarms; found {', '.join(map(repr, missing))}, "
            "which is neither"
        )


def validate(
    text: str | bytes,
    template: Any = None,
    *,
    branch: str | None = None,
    file: str = CONFIG_FILE,
    template_name: str = "template.yaml",
    external_buildspec: bool = False,
    existing_alarms: set[str] | None = None,
) -> DeploymentConfig:
    """Every check that needs no AWS call, in the order the pipeline makes them (pure: for tests and
    for `stepdeploy` users checking a file before they push it)."""
    from stepdeploy.app_config.target_config import parse_config

    config = parse_config(text, file=file)
    check_build(config, file=file, external_buildspec=external_buildspec)
    if template is not None:
        chosen = [config.target_for(branch)] if branch else config.targets
        targets = [t for c in chosen if c is not None
                   for t in (c.stage_targets() if isinstance(c, PipelineTarget) else [c])]
        for target in targets:
            external = check_target_against_template(target, template, template_name=template_name, file=file)
            if existing_alarms is not None:
                check_external_alarms(target, external, existing_alarms, file=file)
    return config
