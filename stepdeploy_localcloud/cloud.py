"""The embedded local cloud: one process that runs stepdeploy end to end with no AWS account.

``LocalCloud.start()`` starts the AWS API (moto plus the adapters listed in ``adapters``), the local GHE and
the webhook route on one loopback port, then provisions the orchestrator from the real
``template.yaml``: package the local code to the local S3 (as ``sam package`` does), transform with
aws-sam-translator, create and execute a change set. If the template is wrong, this shows it.

Nothing of the AWS side survives a restart (moto keeps its state in memory): executions, stacks,
the ledger and the logs start empty. The local GHE keeps its repositories and statuses in
``root/ghe``; a commit status still ``pending`` there belongs to an execution that no longer
exists, so start() settles it as ``error`` (``RESTARTED_DESCRIPTION``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from stepdeploy_localcloud import endpoint, patching
from stepdeploy_localcloud.clock import CLOCK

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = PROJECT_ROOT / "template.yaml"
STAGE_TEMPLATE = PROJECT_ROOT / "templates" / "stage-account.yaml"
STAGE_ACCOUNT = "222222222222"
"""The second account of the local cloud: templates/stage-account.yaml is deployed there at start."""
STAGE_REGION = "eu-west-1"
"""The second region of the local cloud: the stage template is deployed in STAGE_ACCOUNT there too, so that
a stage outside the orchestrator's region (us-east-1) has its code bucket."""
STAGE_STACK = "stepdeploy-stage"
MANAGED_STACK_PREFIX = "sample-"  # the stacks of the sample app and the benchmarks: sample-*
PACKAGE_BUCKET = "stepdeploy-local-packages"
DEFAULT_STACK = "stepdeploy"
DEFAULT_ALLOWED = "platform/sample-app:sample-*"
CHANGE_SET_BUSY_SECONDS = 10.0
STACK_BUSY_SECONDS = 30.0
"""How long the local CloudFormation looks busy (virtual seconds), as AWS's would."""
RESTARTED_DESCRIPTION = "The local cloud restarted: the execution that set this status no longer exists"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class ProvisioningFailed(RuntimeError):
    """The orchestrator's template did not deploy on the local cloud."""


def configure_moto() -> None:
    patching.configure("stepfunctions", "execute_state_machine", True)
    patching.configure("lambda", "use_docker", False)


@dataclass
class Orchestrator:
    """What the orchestrator stack created, by output and logical id."""

    stack_name: str
    outputs: dict[str, str]
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def artifact_bucket(self) -> str:
        return self.outputs["ArtifactBucketName"]

    @property
    def table_name(self) -> str:
        return self.outputs["TableName"]

    @property
    def webhook_function(self) -> str:
        return self.resources["WebhookFunction"]


class LocalCloud:
    def __init__(
        self,
        root: Path,
        *,
        port: int = 0,
        speed: float | None = None,
        stack_name: str = DEFAULT_STACK,
        allowed_repositories: str = DEFAULT_ALLOWED,
        template: Path = TEMPLATE,
        stage_accounts: tuple[str, ...] = (STAGE_ACCOUNT,),
        stage_regions: tuple[tuple[str, str], ...] = ((STAGE_ACCOUNT, STAGE_REGION),),
    ) -> None:
        self.root = Path(root)
        self.port = port
        self.stack_name = stack_name
        self.allowed_repositories = allowed_repositories
        self.template = template
        self.stage_accounts = stage_accounts
        self.stage_regions = stage_regions
        """(account, region) pairs outside the orchestrator's region where the stage template is deployed too
        (after ``stage_accounts``, in the orchestrator's region)."""
        self.stages: dict[str, dict[str, str]] = {}
        """Each stage account's stack outputs (templates/stage-account.yaml), in the orchestrator's region."""
        self.regional_stages: dict[tuple[str, str], dict[str, str]] = {}
        """The stage template's outputs in each of ``stage_regions`` (its CodeBucketName)."""
        if speed is not None:
            CLOCK.set_speed(speed)
        self.server: Any = None
        self.ghe: Any = None
        self.orchestrator: Orchestrator | None = None
        self.settled_statuses: list[dict[str, Any]] = []

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        from stepdeploy_localcloud.adapters import apply_all
        from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
        from stepdeploy_localcloud.cloudformation import api as cloudformation
        from stepdeploy_localcloud.cloudwatch import alarms
        from stepdeploy_localcloud.codebuild import engine as codebuild
        from stepdeploy_localcloud.ghe.server import LocalGHE
        from stepdeploy_localcloud.server import LocalServer

        configure_moto()
        apply_all()
        cloudformation.CHANGE_SET_VIRTUAL_SECONDS = CHANGE_SET_BUSY_SECONDS
        cloudformation.STACK_OPERATION_VIRTUAL_SECONDS = STACK_BUSY_SECONDS
        self._previous_endpoint = endpoint.endpoint_url() if endpoint.is_running() else None
        self.root.mkdir(parents=True, exist_ok=True)
        self._use_root_for_scratch()
        lambda_runtime.refuse_invocations(False)
        self.server = LocalServer(port=self.port)
        url = self.server.start()
        self.port = self.server.port
        # moto's backends live as long as the process: a second local cloud starts from nothing.
        self.reset()
        host = f"127.0.0.1:{self.port}"
        self.ghe = LocalGHE(self.root / "ghe", host)
        self.settled_statuses = self.ghe.settle_pending(RESTARTED_DESCRIPTION)
        self.server.set_ghe(self.ghe)
        codebuild.set_git_resolver(self.ghe.clone_path)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ["AWS_DEFAULT_REGION"] = endpoint.REGION
        log.info("local cloud listening on %s", url)
        self.orchestrator = self.provision(host)
        for account in self.stage_accounts:
            if account != endpoint.ACCOUNT_ID:  # the orchestrator's own account: only in stage_regions
                self.stages[account] = self.provision_stage(account)
        for account, region in self.stage_regions:
            self.regional_stages[(account, region)] = self.provision_stage(
                account, region, account_resources=account not in self.stages)
        self.server.set_webhook_function(self.orchestrator.webhook_function)
        self._store_ghe_token()
        alarms.start()
        return self

    def stop(self) -> None:
        from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
        from stepdeploy_localcloud.cloudformation import api as cloudformation
        from stepdeploy_localcloud.cloudwatch import alarms
        from stepdeploy_localcloud.codebuild import engine as codebuild

        try:
            alarms.stop()
            codebuild.stop_all_builds()
            lambda_runtime.refuse_invocations()
            lambda_runtime.shutdown()
            self._remove_scratch()  # before the server stops: nothing writes there any more
            if self.server is not None:
                self.server.stop()
        finally:  # what it wrote goes even when stopping a part failed
            self._remove_scratch()
            # From here a stray invocation runs under a private temporary code root, not the state folder.
            lambda_runtime.refuse_invocations(False)
        cloudformation.CHANGE_SET_VIRTUAL_SECONDS = cloudformation.STACK_OPERATION_VIRTUAL_SECONDS = 0.0
        if getattr(self, "_previous_endpoint", None):
            endpoint.set_endpoint_url(self._previous_endpoint)  # another server of this process

    # What the local cloud writes besides its state: under its root, removed at stop (function code and
    # layers extracted per code hash, build workspaces, build logs' local copies).
    SCRATCH = ("lambda", "codebuild")

    def _use_root_for_scratch(self) -> None:
        from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
        from stepdeploy_localcloud.codebuild import engine as codebuild

        for name in self.SCRATCH:  # left by a run that was killed
            shutil.rmtree(self.root / name, ignore_errors=True)
        lambda_runtime.set_code_root(self.root / "lambda")
        codebuild.set_workspace_root(self.root / "codebuild" / "workspaces")
        codebuild.set_log_dir(self.root / "codebuild" / "logs")

    def _remove_scratch(self) -> None:
        from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
        from stepdeploy_localcloud.codebuild import engine as codebuild

        lambda_runtime.set_code_root(None)
        codebuild.set_workspace_root(None)
        codebuild.set_log_dir(None)
        for name in self.SCRATCH:
            for attempt in range(5):  # a process that was writing as it stopped may have added a file
                shutil.rmtree(self.root / name, ignore_errors=True)
                if not (self.root / name).exists():
                    break
                time.sleep(0.1 * (attempt + 1))
            else:
                log.warning("could not remove %s", self.root / name)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        import requests

        requests.post(f"{self.server.url}/moto-api/reset", timeout=30).raise_for_status()

    # --- clients --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def webhook_url(self) -> str:
        return str(self.server.webhook_url)

    def _connection(self) -> dict[str, str]:
        return {"endpoint_url": self.url, "region_name": endpoint.REGION,
                "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

    def client(self, service: str) -> Any:
        return boto3.client(service, **self._connection())

    def account_client(self, service: str, account: str, region: str = endpoint.REGION) -> Any:
        """A client acting in ``account`` and ``region``: an access key of that account's (as an
        administrator there would have), made in the local cloud's own IAM."""
        from stepdeploy_localcloud import backends

        key = backends.backend("iam", account, endpoint.REGION).create_temp_access_key()
        return boto3.client(
            service, endpoint_url=self.url, region_name=region,
            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        )

    def resource(self, service: str) -> Any:
        return boto3.resource(service, **self._connection())

    @property
    def webhook_secret(self) -> str:
        assert self.orchestrator is not None
        secret_arn = self.orchestrator.outputs["WebhookSecretArn"]
        return str(self.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])

    def _store_ghe_token(self) -> None:
        assert self.orchestrator is not None
        self.client("secretsmanager").put_secret_value(
            SecretId=self.orchestrator.outputs["GheTokenSecretArn"], SecretString=str(self.ghe.token)
        )

    # --- provisioning ---------------------------------------------------------------------------
    def provision(self, ghe_host: str) -> Orchestrator:
        """Deploy template.yaml as `sam build && sam deploy` would, through a change set."""
        from stepdeploy_localcloud.cloudformation.package import package

        s3 = self.client("s3")
        s3.create_bucket(Bucket=PACKAGE_BUCKET)
        packaged = package(self.template, PACKAGE_BUCKET, s3, prefix="stepdeploy/")
        cfn = self.client("cloudformation")
        parameters = {
            "GheHost": ghe_host,
            "GheProtocol": "http",
            "AllowedRepositories": self.allowed_repositories,
            "ManagedStackPrefix": MANAGED_STACK_PREFIX,
            "StageAccounts": ",".join(self.stage_accounts),
        }
        started = time.monotonic()
        change_set = cfn.create_change_set(
            StackName=self.stack_name,
            ChangeSetName="stepdeploy-local",
            ChangeSetType="CREATE",
            TemplateBody=json.dumps(packaged),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
        )
        self._wait_change_set(cfn, change_set["Id"])
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
        stack = self._wait_stack(cfn, self.stack_name)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        resources = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for r in cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]
        }
        log.info("orchestrator provisioned in %.1fs", time.monotonic() - started)
        return Orchestrator(self.stack_name, outputs, resources)

    def provision_stage(
        self, account: str, region: str = endpoint.REGION, *, account_resources: bool = True
    ) -> dict[str, str]:
        """Deploy templates/stage-account.yaml in ``account`` and ``region`` as its administrator would; its
        outputs. Outside the orchestrator's region it names that region (OrchestratorRegion); in a further
        region of an account whose roles exist, ``account_resources`` is False (AccountResources=false)."""
        assert self.orchestrator is not None
        cfn = self.account_client("cloudformation", account, region)
        parameters = {
            "OrchestratorAccount": endpoint.ACCOUNT_ID,
            "OrchestratorStack": self.stack_name,
            "ArtifactBucket": self.orchestrator.artifact_bucket,
            "ManagedStackPrefix": MANAGED_STACK_PREFIX,
            "AccountResources": "true" if account_resources else "false",
        }
        if region != endpoint.REGION:
            parameters["OrchestratorRegion"] = endpoint.REGION
        change_set = cfn.create_change_set(
            StackName=STAGE_STACK,
            ChangeSetName="stepdeploy-stage-local",
            ChangeSetType="CREATE",
            TemplateBody=STAGE_TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
        )
        self._wait_change_set(cfn, change_set["Id"])
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
        stack = self._wait_stack(cfn, STAGE_STACK)
        log.info("stage account %s provisioned in %s (%s)", account, region, STAGE_TEMPLATE.name)
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _wait_change_set(self, cfn: Any, change_set_id: str) -> None:
        for _ in range(600):
            described = cfn.describe_change_set(ChangeSetName=change_set_id)
            if described["Status"] == "CREATE_COMPLETE":
                return
            if described["Status"] == "FAILED":
                raise ProvisioningFailed(f"template.yaml: change set failed: {described.get('StatusReason')}")
            time.sleep(0.05)
        raise ProvisioningFailed("template.yaml: change set did not complete")

    def _wait_stack(self, cfn: Any, stack_name: str) -> dict[str, Any]:
        for _ in range(1200):
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
            status = stack["StackStatus"]
            if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
                return dict(stack)
            if "ROLLBACK" in status or status.endswith("FAILED"):
                events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
                failed = [e for e in events if e.get("ResourceStatus", "").endswith("FAILED")]
                reasons = "; ".join(
                    f"{e['LogicalResourceId']} ({e.get('ResourceType')}): {e.get('ResourceStatusReason')}"
                    for e in failed[:5]
                )
                raise ProvisioningFailed(f"stack {stack_name}: {status}: {reasons}")
            time.sleep(0.05)
        raise ProvisioningFailed(f"stack {stack_name} did not finish")

    # --- GHE ------------------------------------------------------------------------------------
    def push(self, worktree: Path, owner: str, repo: str, branch: str = "main") -> tuple[int, str, str]:
        """Push the worktree's HEAD to the local GHE and deliver the signed push webhook over HTTP."""
        record = self.ghe.push(worktree, owner, repo, branch)
        payload = self.ghe.push_payload(record)
        status, body, delivery = self.ghe.deliver(self.webhook_url, payload, self.webhook_secret)
        return status, body, delivery


def fresh_root(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
