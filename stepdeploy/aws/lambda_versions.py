"""Lambda: versions and aliases of the app's functions.

``fingerprint`` is what makes a version a different version: its code and every setting a published
version freezes. Comparing fingerprints, rather than trusting CloudFormation's view, publishes a
version when only the configuration changed (SAM misses these: DESIGN lesson 4, FACTS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stepdeploy.aws import clients
from stepdeploy.aws.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


def _sorted(values: Any) -> list[Any]:
    return sorted(values or [])


def fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a GetFunctionConfiguration answer that a published version freezes."""
    vpc = config.get("VpcConfig") or {}
    image = (config.get("ImageConfigResponse") or {}).get("ImageConfig") or {}
    logging_config = config.get("LoggingConfig") or {}
    return {
        "CodeSha256": config.get("CodeSha256"),
        "PackageType": config.get("PackageType") or "Zip",
        "Runtime": config.get("Runtime"),
        "Handler": config.get("Handler"),
        "MemorySize": config.get("MemorySize"),
        "Timeout": config.get("Timeout"),
        "Role": config.get("Role"),
        "Environment": (config.get("Environment") or {}).get("Variables") or {},
        "Layers": [layer.get("Arn") for layer in config.get("Layers") or []],
        "Architectures": config.get("Architectures") or ["x86_64"],
        "EphemeralStorage": (config.get("EphemeralStorage") or {}).get("Size") or 512,
        "TracingMode": (config.get("TracingConfig") or {}).get("Mode") or "PassThrough",
        "Vpc": [
            _sorted(vpc.get("SubnetIds")),
            _sorted(vpc.get("SecurityGroupIds")),
            bool(vpc.get("Ipv6AllowedForDualStack")),
        ],
        "DeadLetter": (config.get("DeadLetterConfig") or {}).get("TargetArn"),
        "KMSKeyArn": config.get("KMSKeyArn"),
        "FileSystems": sorted(
            (fs.get("Arn"), fs.get("LocalMountPath")) for fs in config.get("FileSystemConfigs") or []
        ),
        "Image": [image.get("EntryPoint"), image.get("Command"), image.get("WorkingDirectory")],
        "SnapStart": (config.get("SnapStart") or {}).get("ApplyOn") or "None",
        "Logging": [
            logging_config.get("LogFormat") or "Text",
            logging_config.get("ApplicationLogLevel"),
            logging_config.get("SystemLogLevel"),
            logging_config.get("LogGroup"),
        ],
    }


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the fingerprint parts that differ (for the log and the release record)."""
    a, b = fingerprint(old), fingerprint(new)
    return [name for name in a if a[name] != b[name]]


class LambdaVersions:
    def __init__(self, client: LambdaClient | None = None) -> None:
        self._lambda = client or clients.client("lambda")

    def configuration(self, function_name: str, qualifier: str | None = None) -> dict[str, Any]:
        params = {"FunctionName": function_name}
        if qualifier:
            params["Qualifier"] = qualifier
        config = dict(self._lambda.get_function_configuration(**params))
        config.pop("ResponseMetadata", None)
        return config

    def alias(self, function_name: str, alias: str) -> dict[str, Any] | None:
        try:
            return dict(self._lambda.get_alias(FunctionName=function_name, Name=alias))
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise

    def versions(self, function_name: str) -> list[dict[str, Any]]:
        """Published versions (not $LATEST), oldest first."""
        found: list[dict[str, Any]] = []
        for page in self._lambda.get_paginator("list_versions_by_function").paginate(FunctionName=function_name):
            found.extend(dict(v) for v in page.get("Versions", []) if v.get("Version") != "$LATEST")
        return sorted(found, key=lambda v: int(v["Version"]))

    def publish(
        self, function_name: str, code_sha256: str, revision_id: str | None, description: str
    ) -> dict[str, Any]:
        """PublishVersion pinned to the code (and revision) we compared: a race fails, never ships other code."""
        params: dict[str, Any] = {"FunctionName": function_name, "CodeSha256": code_sha256, "Description": description}
        if revision_id:
            params["RevisionId"] = revision_id
        return dict(self._lambda.publish_version(**params))

    def create_alias(self, function_name: str, alias: str, version: str, description: str) -> bool:
        """True if created; False if it exists already (a concurrent or earlier attempt)."""
        try:
            self._lambda.create_alias(
                FunctionName=function_name, Name=alias, FunctionVersion=version, Description=description
            )
        except ClientError as exc:
            if error_code(exc) in ("ResourceConflictException", "ConflictException"):
                return False
            raise
        return True

    def point_alias(self, function_name: str, alias: str, version: str) -> None:
        """All of the alias's traffic on ``version`` (any weighted routing removed)."""
        self._lambda.update_alias(
            FunctionName=function_name,
            Name=alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )

    def weigh_alias(self, function_name: str, alias: str, primary: str, additional: str, weight: float) -> None:
        """The alias on ``primary`` with ``weight`` (0 to 1) of its invocations routed to ``additional``."""
        if not 0.0 < weight < 1.0:
            raise ValueError(f"{function_name}:{alias}: a routing weight between 0 and 1 (exclusive); got {weight}")
        self._lambda.update_alias(
            FunctionName=function_name,
            Name=alias,
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": {additional: round(weight, 5)}},
        )

    def aliases(self, function_name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self._lambda.get_paginator("list_aliases").paginate(FunctionName=function_name):
            found.extend(dict(a) for a in page.get("Aliases", []))
        return found

    def delete_version(self, function_name: str, version: str) -> None:
        self._lambda.delete_function(FunctionName=function_name, Qualifier=version)
