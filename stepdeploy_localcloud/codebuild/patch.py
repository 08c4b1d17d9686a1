"""Adapter: CodeBuild builds that really run (moto 5.2.5 reports SUCCEEDED and runs nothing).

StartBuild, BatchGetBuilds and StopBuild of moto's CodeBuildResponse are replaced by the
emulator in ``stepdeploy_localcloud.codebuild.engine``; CreateProject, BatchGetProjects, ListBuilds and
ListBuildsForProject stay moto's (started builds are recorded in moto's build history).

moto's CloudFormation has no ``AWS::CodeBuild::Project`` (it logs "No Moto CloudFormation
support" and creates nothing), so a resource model for it is registered here: Ref gives the
project name, Fn::GetAtt Arn its ARN.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.codebuild import models as codebuild_models
from moto.codebuild import responses as codebuild_responses
from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.codebuild import engine as codebuild
from stepdeploy_localcloud.patching import replace


def _backend(response: Any) -> codebuild_models.CodeBuildBackend:
    return backends.backend("codebuild", response.current_account, response.region)


def _project_by_name_or_arn(backend: codebuild_models.CodeBuildBackend, name: str) -> Any | None:
    if name in backend.codebuild_projects:
        return backend.codebuild_projects[name]
    for project in backend.codebuild_projects.values():
        if project.arn == name:
            return project
    return None


def _start_build(self: Any) -> ActionResult:
    name = self._get_param("projectName") or ""
    backend = _backend(self)
    project = _project_by_name_or_arn(backend, name)
    if project is None:
        raise ResourceNotFoundException(
            f"Project cannot be found: arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}"
        )
    metadata = copy.deepcopy(project.project_metadata)
    params = {key: self._get_param(key) for key in _START_BUILD_PARAMS}
    params["projectName"] = metadata["name"]
    try:
        request = codebuild.StartBuildRequest.from_api(params)
        build, created = codebuild.service_for(self.current_account, self.region).start(metadata, request)
    except codebuild.StartBuildRejected as exc:
        raise InvalidInputException(str(exc)) from exc
    if created:
        backend.build_history.setdefault(metadata["name"], []).insert(0, build.id)  # newest first
    return ActionResult({"build": build.snapshot()})


_START_BUILD_PARAMS = (
    "sourceVersion",
    "sourceLocationOverride",
    "sourceTypeOverride",
    "environmentVariablesOverride",
    "buildspecOverride",
    "artifactsOverride",
    "gitCloneDepthOverride",
    "timeoutInMinutesOverride",
    "privilegedModeOverride",
    "idempotencyToken",
)


def _batch_get_builds(self: Any) -> ActionResult:
    ids = self._get_param("ids") or []
    for build_id in ids:
        if ":" not in build_id:
            raise InvalidInputException(f"Invalid build ID provided: {build_id!r} (expected <project>:<uuid>)")
    service = codebuild.service_for(self.current_account, self.region)
    builds, not_found = [], []
    for build_id in ids:
        build = service.get(build_id)
        if build is None:
            not_found.append(build_id)
        else:
            builds.append(build.snapshot())
    return ActionResult({"builds": builds, "buildsNotFound": not_found})


def _stop_build(self: Any) -> ActionResult:
    build_id = self._get_param("id") or ""
    if ":" not in build_id:
        raise InvalidInputException(f"Invalid build ID provided: {build_id!r} (expected <project>:<uuid>)")
    build = codebuild.service_for(self.current_account, self.region).stop(build_id)
    if build is None:
        raise ResourceNotFoundException(f"Build {build_id} does not exist")
    return ActionResult({"build": build.snapshot()})


# ---------------------------------------------------------------------------------------------
# AWS::CodeBuild::Project in CloudFormation


def _api_key(key: str) -> str:
    if key == "BuildSpec":
        return "buildspec"
    return key[:1].lower() + key[1:]


def project_properties_to_api(value: Any) -> Any:
    """CloudFormation's PascalCase project properties as the CodeBuild API's camelCase."""
    if isinstance(value, dict):
        return {_api_key(k): project_properties_to_api(v) for k, v in value.items()}
    if isinstance(value, list):
        return [project_properties_to_api(v) for v in value]
    return value


class CloudFormationCodeBuildProject(CloudFormationModel):
    def __init__(self, account_id: str, region_name: str, name: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.name = name
        self.arn = f"arn:aws:codebuild:{region_name}:{account_id}:project/{name}"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFormationCodeBuildProject:
        props = project_properties_to_api(cloudformation_json.get("Properties") or {})
        backend = backends.backend("codebuild", account_id, region_name)
        role = props.get("serviceRole") or f"arn:aws:iam::{account_id}:role/service-role/codebuild-{resource_name}"
        backend.create_project(
            project_name=resource_name,
            description=props.get("description"),
            project_source=props.get("source") or {"type": "NO_SOURCE"},
            artifacts=props.get("artifacts") or {"type": "NO_ARTIFACTS"},
            environment=props.get("environment") or {},
            service_role=role,
            tags=props.get("tags"),
            cache=props.get("cache"),
            timeout=props.get("timeoutInMinutes"),
            queued_timeout=props.get("queuedTimeoutInMinutes"),
            source_version=props.get("sourceVersion"),
            logs_config=props.get("logsConfig"),
            vpc_config=props.get("vpcConfig"),
        )
        return cls(account_id, region_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: CloudFormationCodeBuildProject,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CloudFormationCodeBuildProject:
        backend = backends.backend("codebuild", account_id, region_name)
        history = backend.build_history.get(original_resource.name, [])
        backend.codebuild_projects.pop(original_resource.name, None)
        updated = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        if new_resource_name == original_resource.name:
            backend.build_history[new_resource_name] = history
        return updated

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backends.backend("codebuild", account_id, region_name).delete_project(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backends.backend("codebuild", account_id, region_name).delete_project(self.name)

    def is_created(self) -> bool:
        return True


def _register_cloudformation_project() -> None:
    from moto.cloudformation import parsing

    # The model map is cached on first use; a model defined later is only seen after a clear.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    if parsing.get_model_map().get("AWS::CodeBuild::Project") is not CloudFormationCodeBuildProject:
        raise RuntimeError(
            "AWS::CodeBuild::Project is handled by another model than the local cloud's: "
            "moto's CloudFormation support moved; check stepdeploy_localcloud/codebuild/patch.py"
        )


def apply() -> None:
    response_cls = codebuild_responses.CodeBuildResponse
    for name in ("start_build", "batch_get_builds", "stop_build", "create_project", "batch_get_projects"):
        if not callable(getattr(response_cls, name, None)):
            raise RuntimeError(f"moto's CodeBuildResponse has no {name}: the moto version moved")
    replace(response_cls, "start_build", _start_build)
    replace(response_cls, "batch_get_builds", _batch_get_builds)
    replace(response_cls, "stop_build", _stop_build)
    _register_cloudformation_project()
