"""`stepdeploy demo`: ten scenarios against the sample app, on the local cloud, watched live: six
with CodeDeploy, three with stepdeploy's step engine (demo_steps.py), and last the app as a pipeline of
stages across two accounts (demo_stages.py).

Every scenario goes through a real entry point (a signed HTTP push to the webhook, or an S3 upload)
and is judged on what a user would check: the execution's status and error, and the aliases.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from stepdeploy_cli.demo import traffic
from stepdeploy_cli.demo.canary_alarm import AlarmOnFirstCanaryStep
from stepdeploy_cli.demo.stages import stages_scenario
from stepdeploy_cli.demo.steps import local_operator, step_scenarios
from stepdeploy_cli.demo.upload_role import upload_client
from stepdeploy_cli.watch import ExecutionView, wait_for_execution
from stepdeploy_localcloud.cloud import DEFAULT_ALLOWED, PROJECT_ROOT, LocalCloud, Orchestrator

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

SAMPLE_APP = PROJECT_ROOT / "examples" / "sample-app"
OWNER, REPO, BRANCH = "platform", "sample-app", "main"
STACK = "sample-prod"
FUNCTIONS = ("GreeterFunction", "CounterFunction", "NotifierFunction")


def git(worktree: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=worktree, check=True, capture_output=True, text=True,
        env={"GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.com",
             "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.com",
             "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(worktree)},
    ).stdout.strip()


def commit(worktree: Path, message: str, edits: Mapping[str, str | None]) -> str:
    """Commit ``edits`` (path -> new text; None removes the file) in the worktree; the new commit's SHA."""
    for path, text in edits.items():
        if text is None:
            (worktree / path).unlink(missing_ok=True)
            continue
        (worktree / path).parent.mkdir(parents=True, exist_ok=True)
        (worktree / path).write_text(text)
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "--allow-empty", "-m", message)
    return git(worktree, "rev-parse", "HEAD")


class Traffic:
    """Real requests through the sample app's event sources, in the background, as users would send them:
    GET /greet through the HTTP API and messages to the greetings queue. Each answer (the version in
    the API's reply) and each processed message (the version the greeter recorded for it) is counted,
    split by whether the greeter's alias was shifting when it was sent. Errors feed the alarms."""

    def __init__(self, cloud: LocalCloud, outputs: dict[str, str], greeter: str) -> None:
        self.cloud = cloud
        self.greeter = greeter
        self.url = traffic.api_url(cloud.url, outputs["GreetApiId"], "/greet")
        self.queue_url = outputs["GreetingsQueueUrl"]
        self.table = cloud.resource("dynamodb").Table(outputs["ProcessedTableName"])
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.invocations = 0
        self._answers: dict[str, traffic.Split] = {}
        self._errors: traffic.Split = Counter()
        self._messages: dict[str, list[str]] = {}

    def start(self) -> None:
        threading.Thread(target=self._run, name="demo-traffic", daemon=True).start()

    def _phase(self, lam: LambdaClient) -> str:
        try:
            alias = lam.get_alias(FunctionName=self.greeter, Name="live")
        except Exception:  # noqa: BLE001 - no alias yet
            return "steady"
        return "shift" if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") else "steady"

    def _run(self) -> None:
        lam, sqs = self.cloud.client("lambda"), self.cloud.client("sqs")
        while not self.stop_event.is_set():
            phase = self._phase(lam)
            try:
                version = str(traffic.get_json(self.url)["version"])
                with self.lock:
                    self._answers.setdefault(phase, Counter())[version] += 1
            except Exception:  # noqa: BLE001 - a 502: the function failed (the buggy version), or is being updated
                with self.lock:
                    self._errors[phase] += 1
            try:
                message = sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"name": "Ada"}))
                with self.lock:
                    self._messages.setdefault(phase, []).append(str(message["MessageId"]))
            except Exception:  # noqa: BLE001 - the queue is being updated
                pass
            self.invocations += 2
            self.stop_event.wait(0.02)

    def take(self) -> dict[str, Any]:
        """What was counted since the last call, by phase: API answers, API errors, queue messages processed."""
        with self.lock:
            answers, errors, messages = self._answers, self._errors, self._messages
            self._answers, self._errors, self._messages = {}, Counter(), {}
        time.sleep(0.2)  # the last message's record
        return {
            phase: {
                "api": dict(answers.get(phase, {})),
                "api_errors": errors.get(phase, 0),
                "queue": dict(traffic.processed(self.table, [f"sqs#{m}" for m in messages.get(phase, [])])),
            }
            for phase in ("shift", "steady")
            if answers.get(phase) or errors.get(phase) or messages.get(phase)
        }

    def measure(self, samples: int = 20) -> dict[str, dict[str, int]]:
        """A burst of requests and messages now, counted by the version that served them."""
        sqs = self.cloud.client("sqs")
        return {
            "api": dict(traffic.through_api(self.url, samples)),
            "queue": dict(traffic.through_queue(sqs, self.queue_url, self.table, samples)),
        }

    def stop(self) -> None:
        self.stop_event.set()


def shares(split: dict[str, int]) -> str:
    total = sum(split.values())
    if not total:
        return "none"
    return " ".join(f"v{v} {n / total:.0%}" for v, n in sorted(split.items())) + f" (n={total})"


class Demo:
    def __init__(self, cloud: LocalCloud, worktree: Path, console: Console, live: bool) -> None:
        self.cloud = cloud
        self.worktree = worktree
        self.console = console
        self.live = live
        self.sfn = cloud.client("stepfunctions")
        self.seen: set[str] = set()
        self.traffic: Traffic | None = None
        self.uploader: S3Client | None = None  # an S3 client acting as the repository's upload role

    # --- helpers --------------------------------------------------------------------------------
    @property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator the local cloud provisioned when it started."""
        if self.cloud.orchestrator is None:
            raise RuntimeError("the local cloud has no orchestrator: start it (LocalCloud.start) before the demo")
        return self.cloud.orchestrator

    def function_names(self) -> dict[str, str]:
        cfn = self.cloud.client("cloudformation")
        try:
            resources = cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        except Exception:  # noqa: BLE001 - no stack yet
            return {}
        return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
                if r["LogicalResourceId"] in FUNCTIONS}

    def stack_outputs(self) -> dict[str, str]:
        stack = self.cloud.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def alias_versions(self) -> dict[str, str]:
        client = self.cloud.client("lambda")
        versions = {}
        for logical, name in self.function_names().items():
            try:
                versions[logical] = client.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
            except Exception:  # noqa: BLE001
                versions[logical] = "(no alias)"
        return versions

    def executions(self) -> dict[str, datetime]:
        """Every execution of the orchestrator's state machine: its ARN and when it started."""
        paginator = self.sfn.get_paginator("list_executions")
        return {e["executionArn"]: e["startDate"]
                for page in paginator.paginate(stateMachineArn=self.orchestrator.state_machine_arn)
                for e in page["executions"]}

    def new_execution(self, timeout: float = 30.0) -> str:
        """The newest execution not seen before, skipping a pipeline stage's child execution (a run of the
        same state machine its parent started): what a trigger just started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = {arn: at for arn, at in self.executions().items() if arn not in self.seen}
            for arn in sorted(fresh, key=fresh.__getitem__, reverse=True):
                self.seen.add(arn)
                described = self.sfn.describe_execution(executionArn=arn)
                if "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID" not in json.loads(described.get("input") or "{}"):
                    return arn
            time.sleep(0.05)
        raise TimeoutError("no execution started within 30 s of the trigger")

    def push(self, message: str, edits: Mapping[str, str | None], branch: str = BRANCH) -> str:
        self.seen |= set(self.executions())
        commit(self.worktree, message, edits)
        status, body, _ = self.cloud.push(self.worktree, OWNER, REPO, branch)
        if status != 202:
            raise RuntimeError(f"the webhook answered {status}: {body}")
        return self.new_execution()

    def upload(self, name: str, edits: dict[str, str], commit_id: str) -> str:
        source = Path(tempfile.mkdtemp())
        shutil.copytree(self.worktree, source / "app", ignore=shutil.ignore_patterns(".git"))
        for path, text in edits.items():
            (source / "app" / path).write_text(text)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for file in sorted((source / "app").rglob("*")):
                relative = file.relative_to(source / "app").as_posix()
                if file.is_file() and not relative.startswith("tests/"):
                    bundle.write(file, relative)
        shutil.rmtree(source)
        self.seen |= set(self.executions())
        if self.uploader is None:  # the repository's upload role, as the platform team sets it up
            self.uploader = upload_client(self.cloud.client, f"{OWNER}/{REPO}")
        self.uploader.put_object(
            Bucket=self.orchestrator.artifact_bucket,
            Key=f"uploads/{OWNER}/{REPO}/{name}.zip",
            Body=buffer.getvalue(),
            Metadata={"branch": BRANCH, "commit": commit_id, "sha256": hashlib.sha256(buffer.getvalue()).hexdigest()},
        )
        return self.new_execution()

    def run(self, name: str, trigger: Callable[[], str], expect: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        started = time.monotonic()
        self.console.rule(f"[bold]{name}")
        execution_arn = trigger()
        view = ExecutionView(self.sfn, execution_arn, traffic=self.traffic_split)
        described = wait_for_execution(view, console=self.console, live=self.live, timeout=300)
        traffic_seen = self.traffic.take() if self.traffic else None
        if self.traffic is None and self.function_names():
            self.traffic = Traffic(self.cloud, self.stack_outputs(), self.function_names()["GreeterFunction"])
            self.traffic.start()
        result = {
            "name": name,
            "status": described["status"],
            "outcome": view.outcome(),
            "error": described.get("error"),
            "cause": described.get("cause"),
            "execution_arn": execution_arn,
            "alias_versions": self.alias_versions(),
            "state_transitions": view.state_transitions(),
            "wall_seconds": round(time.monotonic() - started, 2),
        }
        if traffic_seen is not None and self.traffic is not None:
            result["traffic"] = {**traffic_seen, "after": self.traffic.measure()}
        result["as_expected"] = bool(expect(result))
        mark = "[green]as expected[/green]" if result["as_expected"] else "[red]NOT as expected[/red]"
        self.console.print(
            f"{result['status']} {result['outcome']} aliases={result['alias_versions']} "
            f"transitions={result['state_transitions']} {result['wall_seconds']}s {mark}"
        )
        for phase, label in (("shift", "during the shift"), ("after", "after")):
            seen = (result.get("traffic") or {}).get(phase)
            if seen:
                errors = f", {seen['api_errors']} API errors" if seen.get("api_errors") else ""
                self.console.print(
                    f"  traffic {label}: API {shares(seen['api'])}{errors}; queue {shares(seen['queue'])}"
                )
        if result.get("cause") and result["status"] != "SUCCEEDED":
            self.console.print(f"  cause: {str(result['cause'])[:400]}")
        return result

    def traffic_split(self) -> dict[str, dict[str, float]]:
        client = self.cloud.client("lambda")
        split: dict[str, dict[str, float]] = {}
        for logical, name in self.function_names().items():
            try:
                alias = client.get_alias(FunctionName=name, Name="live")
            except Exception:  # noqa: BLE001
                continue
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            split[logical] = {alias["FunctionVersion"]: round(1 - sum(weights.values()), 3), **weights}
        return split


GREETER = (SAMPLE_APP / "greeter" / "app.py").read_text()
GREETER_V2 = GREETER.replace("""{name}!\"""", """{name}! Welcome back.\"""")
GREETER_BUGGY = GREETER_V2.replace("Welcome back.", "Welcome back!").replace(
    """name = ((event or {}).get("queryStringParameters") or {}).get("name") or (event or {}).get("name", "world")""",
    """name = event["name"]  # bug: callers that send no name get a KeyError""",
)
GREETER_FIXED = GREETER_V2.replace("Welcome back.", "Good to see you.")
FAILING_TEST_PATH = "tests/test_polite.py"
"""The "build fails" scenario's failing unit test; it stays in the worktree until a scenario removes it."""
FAILING_TEST = '''import unittest

from greeter.app import greet


class BrokenTest(unittest.TestCase):
    def test_greeting_is_polite(self):
        self.assertIn("Please", greet("Ada"))
'''


def scenarios(demo: Demo) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    first = demo.run(
        "first push",
        lambda: demo.push("First version", {}),
        lambda r: r["status"] == "SUCCEEDED" and all(v == "1" for v in r["alias_versions"].values()),
    )
    results.append(first)
    results.append(demo.run(
        "code change (canary)",
        lambda: demo.push("Greeter says welcome back", {"greeter/app.py": GREETER_V2}),
        lambda r: r["status"] == "SUCCEEDED" and r["alias_versions"].get("GreeterFunction") == "2"
        and r["alias_versions"].get("CounterFunction") == "1",
    ))
    before_rollback = dict(results[-1]["alias_versions"])
    # Users calling without a name hit the bug at the canary's first step, until the alarm fires.
    with AlarmOnFirstCanaryStep(demo.cloud, STACK, "GreeterFunction", "GreeterErrorsAlarm").installed():
        results.append(demo.run(
            "alarm during canary (rollback)",
            lambda: demo.push("Greeter requires a name", {"greeter/app.py": GREETER_BUGGY}),
            lambda r: r["status"] == "FAILED" and r["error"] == "DeploymentRolledBack"
            and r["alias_versions"] == before_rollback,
        ))
    results.append(demo.run(
        "nothing deployable changed (no-op)",
        lambda: demo.push("Docs only", {"README.md": (SAMPLE_APP / "README.md").read_text() + "\nMore docs.\n"}),
        lambda r: r["status"] == "SUCCEEDED" and r["outcome"] == "NoChanges" and r["alias_versions"] == before_rollback,
    ))
    head = git(demo.worktree, "rev-parse", "HEAD")
    results.append(demo.run(
        "prebuilt artifact uploaded to S3",
        lambda: demo.upload("release-fixed", {"greeter/app.py": GREETER_FIXED}, head),
        lambda r: r["status"] == "SUCCEEDED" and r["alias_versions"].get("GreeterFunction") == "4",
    ))
    before_failure = dict(results[-1]["alias_versions"])
    results.append(demo.run(
        "build fails",
        lambda: demo.push("A failing test", {"greeter/app.py": GREETER_FIXED, FAILING_TEST_PATH: FAILING_TEST}),
        lambda r: r["status"] == "FAILED" and r["error"] == "BuildFailed"
        and r["alias_versions"] == before_failure and "Logs:" in str(r["cause"]),
    ))
    results.extend(step_scenarios(demo))
    results.append(stages_scenario(demo, local_operator(demo)))  # last: main becomes a pipeline of stages
    return results


@contextlib.contextmanager
def sample_app_on_local_cloud(
    prefix: str = "stepdeploy-demo-", *, speed: float = 60.0, console: Console | None = None, live: bool = False,
    make_demo: Callable[[LocalCloud, Path, Console, bool], Demo] = Demo,
    app: Path = SAMPLE_APP,
    allowed_repositories: str = DEFAULT_ALLOWED,
    cloud_options: Mapping[str, Any] | None = None,
) -> Iterator[Demo]:
    """A started local cloud and a fresh git worktree of the sample app (or ``app``), both removed
    afterwards (and the process's clock back at its speed). ``allowed_repositories`` is the
    orchestrator's AllowedRepositories (``...:privileged`` for an app whose build runs docker);
    ``cloud_options``, more keyword arguments of ``LocalCloud`` (its stage accounts and regions)."""
    from stepdeploy_localcloud.clock import CLOCK

    speed_before = CLOCK.speed
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cloud = LocalCloud(root / "cloud", speed=speed, allowed_repositories=allowed_repositories,
                       **dict(cloud_options or {}))
    demo: Demo | None = None
    try:
        cloud.start()
        worktree = root / "sample-app"
        shutil.copytree(app, worktree)
        git(worktree, "init", "-q", "-b", BRANCH)
        demo = make_demo(cloud, worktree, console or Console(quiet=True), live)
        yield demo
    finally:
        if demo is not None and demo.traffic:
            demo.traffic.stop()
        cloud.stop()
        CLOCK.set_speed(speed_before)
        shutil.rmtree(root, ignore_errors=True)


def run_demo(*, speed: float = 60.0, live: bool = True, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    started = time.monotonic()
    with sample_app_on_local_cloud(speed=speed, console=console, live=live) as demo:
        console.print(f"local cloud up at {demo.cloud.url} in {time.monotonic() - started:.1f}s")
        results = scenarios(demo)
    return {"scenarios": results, "wall_seconds": round(time.monotonic() - started, 2)}
