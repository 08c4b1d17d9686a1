"""AWS::SecretsManager::Secret."""

from __future__ import annotations

import json
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_bool,
)


class SecretHandler(ResourceHandler):
    resource_type = "AWS::SecretsManager::Secret"
    replace_on = frozenset({"Name"})
    name_property = "Name"

    def _secret_string(self, ctx: ResourceContext, props: dict[str, Any]) -> str | None:
        generate = props.get("GenerateSecretString")
        if not generate:
            return props.get("SecretString")
        password = ctx.backend("secretsmanager").get_random_password(
            password_length=int(generate.get("PasswordLength", 32)),
            exclude_characters=generate.get("ExcludeCharacters", ""),
            exclude_numbers=bool(as_bool(generate.get("ExcludeNumbers", False))),
            exclude_punctuation=bool(as_bool(generate.get("ExcludePunctuation", False))),
            exclude_uppercase=bool(as_bool(generate.get("ExcludeUppercase", False))),
            exclude_lowercase=bool(as_bool(generate.get("ExcludeLowercase", False))),
            include_space=bool(as_bool(generate.get("IncludeSpace", False))),
            require_each_included_type=bool(as_bool(generate.get("RequireEachIncludedType", True))),
        )
        password = json.loads(password)["RandomPassword"] if password.startswith("{") else password
        template = generate.get("SecretStringTemplate")
        if template and generate.get("GenerateStringKey"):
            document = json.loads(template)
            document[generate["GenerateStringKey"]] = password
            return json.dumps(document)
        return password

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        name = self.physical_name(ctx, props, max_length=256, with_stack=False)
        result = ctx.backend("secretsmanager").create_secret(
            name=name,
            secret_string=self._secret_string(ctx, props),
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags") or [],
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        arn = json.loads(result)["ARN"] if isinstance(result, str) else result["ARN"]
        return Provisioned(arn, {"Id": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        changed_value = new.get("SecretString") != old.get("SecretString") or new.get(
            "GenerateSecretString"
        ) != old.get("GenerateSecretString")
        ctx.backend("secretsmanager").update_secret(
            secret_id=current.physical_id,
            secret_string=self._secret_string(ctx, new) if changed_value else None,
            description=new.get("Description"),
            kms_key_id=new.get("KmsKeyId"),
        )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("secretsmanager").delete_secret(
            current.physical_id, recovery_window_in_days=None, force_delete_without_recovery=True
        )
