"""AWS::CodeBuild::Project."""

from __future__ import annotations

from typing import Any, ClassVar

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_int,
    camel_keys,
    required_property,
    tags_to_dict,
    tags_to_list,
)


class CodeBuildProjectHandler(ResourceHandler):
    resource_type = "AWS::CodeBuild::Project"
    replace_on = frozenset({"Name"})
    name_property = "Name"
    _renames: ClassVar[dict[str, str]] = {"BuildSpec": "buildspec"}

    def _create(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Provisioned:
        project = ctx.backend("codebuild").create_project(
            project_name=name,
            description=props.get("Description"),
            project_source=camel_keys(required_property(props, "Source", ctx), self._renames),
            artifacts=camel_keys(required_property(props, "Artifacts", ctx), self._renames),
            environment=camel_keys(required_property(props, "Environment", ctx), self._renames),
            service_role=required_property(props, "ServiceRole", ctx),
            tags=tags_to_list(tags_to_dict(props.get("Tags")), "key", "value"),
            cache=camel_keys(props.get("Cache")),
            timeout=as_int(props.get("TimeoutInMinutes")),
            queued_timeout=as_int(props.get("QueuedTimeoutInMinutes")),
            source_version=props.get("SourceVersion"),
            logs_config=camel_keys(props.get("LogsConfig")),
            vpc_config=camel_keys(props.get("VpcConfig")),
        )
        return Provisioned(name, {"Arn": project["arn"]})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        return self._create(ctx, self.physical_name(ctx, props, max_length=150), props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        ctx.backend("codebuild").delete_project(current.physical_id)
        return self._create(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("codebuild").delete_project(current.physical_id)
