"""AWS::IAM::Role."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceFailure,
    ResourceHandler,
    policy_text,
    required_property,
)


class IamRoleHandler(ResourceHandler):
    """moto's role ignores ManagedPolicyArns and cannot update policies or the boundary; this one does."""

    resource_type = "AWS::IAM::Role"
    replace_on = frozenset({"RoleName", "Path"})
    name_property = "RoleName"

    def _attach(self, ctx: ResourceContext, name: str, arns: list[str]) -> list[str]:
        """Attach managed policies; return the AWS managed ones moto does not model (kept as given)."""
        backend = ctx.backend("iam")
        known = {policy.arn for policy in backend.managed_policies.values()}
        unmodelled = []
        for arn in arns:
            if arn in known:
                backend.attach_role_policy(arn, name)
            elif ":iam::aws:policy/" in arn:
                # moto loads no AWS managed policies by default; IAM is not enforced locally.
                unmodelled.append(arn)
            else:
                raise ResourceFailure(f"Policy {arn} does not exist or is not attachable.")
        return unmodelled

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        backend = ctx.backend("iam")
        name = self.physical_name(ctx, props, max_length=64)
        role = backend.create_role(
            role_name=name,
            assume_role_policy_document=policy_text(required_property(props, "AssumeRolePolicyDocument", ctx)),
            path=props.get("Path", "/"),
            permissions_boundary=props.get("PermissionsBoundary", ""),
            description=props.get("Description", ""),
            tags=props.get("Tags") or [],
            max_session_duration=str(props.get("MaxSessionDuration", 3600)),
        )
        for policy in props.get("Policies") or []:
            role.put_policy(policy["PolicyName"], policy_text(policy["PolicyDocument"]))
        unmodelled = self._attach(ctx, name, props.get("ManagedPolicyArns") or [])
        return Provisioned(name, {"Arn": role.arn, "RoleId": role.id}, handle=unmodelled)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        backend = ctx.backend("iam")
        name = current.physical_id
        role = backend.get_role(name)
        role.assume_role_policy_document = policy_text(required_property(new, "AssumeRolePolicyDocument", ctx))
        role.description = new.get("Description", "")
        role.max_session_duration = str(new.get("MaxSessionDuration", 3600))
        if new.get("PermissionsBoundary"):  # as CloudFormation: PutRolePermissionsBoundary on a change
            backend.put_role_permissions_boundary(name, new["PermissionsBoundary"])
        elif old.get("PermissionsBoundary"):
            backend.delete_role_permissions_boundary(name)
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in new.get("Policies") or []}
        # Only the role's own Policies: AWS::IAM::Policy resources add inline policies of their own.
        for policy in old.get("Policies") or []:
            if policy["PolicyName"] not in wanted and policy["PolicyName"] in role.policies:
                role.delete_policy(policy["PolicyName"])
        for policy_name, document in wanted.items():
            role.put_policy(policy_name, policy_text(document))
        old_arns, new_arns = set(old.get("ManagedPolicyArns") or []), set(new.get("ManagedPolicyArns") or [])
        for arn in old_arns - new_arns:
            if arn in role.managed_policies:
                backend.detach_role_policy(arn, name)
        unmodelled = [a for a in (current.handle or []) if a in new_arns]
        unmodelled += self._attach(ctx, name, sorted(new_arns - old_arns))
        return Provisioned(name, current.attributes, handle=unmodelled)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        backend = ctx.backend("iam")
        name = current.physical_id
        role = backend.get_role(name)
        for arn in list(role.managed_policies):
            backend.detach_role_policy(arn, name)
        for policy in props.get("Policies") or []:
            if policy["PolicyName"] in role.policies:
                role.delete_policy(policy["PolicyName"])
        for profile in backend.instance_profiles.values():
            profile.delete_role(role_name=name)
        for policy in backend.inline_policies.values():
            policy.role_names = [n for n in policy.role_names if n != name]
        backend.delete_role(name)
