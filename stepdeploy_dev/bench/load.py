"""Load: many pushes across many repositories within a few seconds, on one local cloud.

Each repository is a copy of examples/sample-app deploying its own stack, ``sample-<n>-prod``;
odd-numbered ones use the superseded concurrency mode, even-numbered ones queued. First every
push is made to the local GHE (commits, branch moved); then one thread per repository delivers its
signed push webhooks over HTTP one after the other, all repositories at once, as GHE would after a
burst of pushes. A delivery answered with a 5xx (or not at all) is redelivered with the same delivery
id, at most REDELIVERIES times, as a person would from GHE's delivery log; redeliveries are counted.
Then the benchmark waits for every execution to end (bounded), and judges from the executions'
histories and the ledger:

- overlapping stack changes: pairs of executions whose lock intervals ("Acquire lock" left with the
  lock, to the first "Record*" state entered) overlap on the same stack; the lock says this is 0;
- pushes lost: pushes whose commit the stack's ledger never recorded (deployed, superseded, no-op
  or failed); of them, how many the webhook had accepted (2xx), and how many deliveries it refused;
- stacks on their newest commit: the stack's last Deployed release (by when it was recorded) is the
  commit of its last push.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli.demo.runner import BRANCH, OWNER, SAMPLE_APP, commit, git
from stepdeploy_dev.bench import history
from stepdeploy_dev.bench.demo_runs import history_events, load_asl
from stepdeploy_dev.bench.invocations import recording
from stepdeploy_localcloud.cloud import LocalCloud

MODES = ("superseded", "queued")
# GHE does not retry a failed delivery; people redeliver it (same delivery GUID). The benchmark does
# that for a 5xx or no answer, and counts it.
REDELIVERIES = 8
REDELIVERY_PAUSE_SECONDS = 2.0  # then 1.5 times longer each time, 15 s at most
SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class Repository:
    number: int

    @property
    def name(self) -> str:
        return f"sample-{self.number}"

    @property
    def stack(self) -> str:
        return f"sample-{self.number}-prod"

    @property
    def mode(self) -> str:
        return MODES[(self.number + 1) % 2]  # 1: superseded, 2: queued, ...


@dataclass(frozen=True)
class Push:
    repository: Repository
    index: int
    commit: str
    status: int
    delivered_at: float
    attempts: int = 1


def allowed_repositories(repositories: list[Repository]) -> str:
    return ",".join(f"{OWNER}/{r.name}:{r.stack}" for r in repositories)


def prepare_worktree(root: Path, repository: Repository) -> Path:
    worktree = root / repository.name
    shutil.copytree(SAMPLE_APP, worktree, ignore=shutil.ignore_patterns(".git", "__pycache__", ".aws-sam"))
    config_path = worktree / "stepdeploy.yml"
    config = yaml.safe_load(config_path.read_text())
    target = config["targets"][0]
    target["stack"] = repository.stack
    target["concurrency"] = repository.mode
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    git(worktree, "init", "-q", "-b", BRANCH)
    return worktree


@dataclass(frozen=True)
class PreparedPush:
    repository: Repository
    index: int
    commit: str
    payload: dict[str, Any]


def prepare_pushes(cloud: LocalCloud, worktree: Path, repository: Repository, count: int) -> list[PreparedPush]:
    """Commit and push to the local GHE ``count`` times; the webhook deliveries are made later, all at once."""
    greeter = (worktree / "greeter" / "app.py").read_text()
    prepared = []
    for index in range(count):
        sha = commit(worktree, f"Load push {index + 1}", {"greeter/app.py": f"{greeter}\n# load push {index + 1}\n"})
        record = cloud.ghe.push(worktree, OWNER, repository.name, BRANCH)
        prepared.append(PreparedPush(repository, index, sha, cloud.ghe.push_payload(record)))
    return prepared


def _deliver(
    cloud: LocalCloud, secret: str, prepared: list[PreparedPush], pushes: list[Push], lock: threading.Lock
) -> None:
    for push in prepared:
        delivery_id = str(uuid.uuid4())
        status, attempts = 0, 0
        while attempts <= REDELIVERIES and (status == 0 or status >= 500):
            if attempts:
                time.sleep(min(REDELIVERY_PAUSE_SECONDS * 1.5 ** (attempts - 1), 15.0))
            attempts += 1
            try:
                status, _, _ = cloud.ghe.deliver(cloud.webhook_url, push.payload, secret, delivery_id=delivery_id)
            except Exception as exc:  # noqa: BLE001 - no answer: redeliver, as for a 5xx
                print(f"  delivery {push.repository.name}#{push.index + 1} failed: {exc}", file=sys.stderr)
                status = 0
        with lock:
            pushes.append(Push(push.repository, push.index, push.commit, status, time.time(), attempts))


def list_all_executions(sfn: Any, state_machine_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    return [execution for page in pages for execution in page["executions"]]


def wait_for_executions(
    sfn: Any, state_machine_arn: str, expected: int, timeout: float, log: Any
) -> tuple[list[dict[str, Any]], bool]:
    """Until ``expected`` executions exist and none runs, or ``timeout``; (executions, all ended)."""
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 15
    while True:
        executions = list_all_executions(sfn, state_machine_arn)
        running = sum(1 for e in executions if e["status"] == "RUNNING")
        if len(executions) >= expected and running == 0:
            time.sleep(SETTLE_SECONDS)  # an event still on its way would start one more
            if len(list_all_executions(sfn, state_machine_arn)) == len(executions):
                return executions, True
            continue
        if time.monotonic() >= deadline:
            return executions, False
        if time.monotonic() >= next_report:
            print(f"  load: {len(executions)} executions started, {running} running", file=log)
            next_report = time.monotonic() + 15
        time.sleep(1.0)


def judge(
    pushes: list[Push],
    releases: dict[str, list[dict[str, Any]]],
    intervals: list[history.LockInterval],
    execution_names: list[str],
) -> dict[str, Any]:
    """The load's verdicts from the pushes, each stack's ledger, the executions' lock intervals and names."""
    recorded = {(stack, r.get("commit")) for stack, items in releases.items() for r in items}
    lost = [p for p in pushes if (p.repository.stack, p.commit) not in recorded]
    newest: dict[str, bool] = {}
    newest_accepted: dict[str, bool] = {}
    for stack in {p.repository.stack for p in pushes}:
        own = [p for p in pushes if p.repository.stack == stack]
        deployed = [r for r in releases.get(stack, []) if r.get("outcome") == "Deployed"]
        last_deployed = max(deployed, key=lambda r: str(r.get("ended_at")), default=None)
        on = last_deployed.get("commit") if last_deployed else None
        newest[stack] = on == max(own, key=lambda p: p.index).commit
        accepted = [p for p in own if 200 <= p.status < 300]
        newest_accepted[stack] = bool(accepted) and on == max(accepted, key=lambda p: p.index).commit

    def describe(push: Push) -> str:
        started = [n for n in execution_names if f"-{push.commit[:7]}-" in n]
        return (f"{push.repository.name}#{push.index + 1} {push.commit[:7]}: webhook {push.status} after "
                f"{push.attempts} deliveries, executions {started or 'none'}")

    return {
        "overlapping_stack_changes": len(history.overlapping_pairs(intervals)),
        "pushes_lost": len(lost),
        "accepted_pushes_lost": sum(1 for p in lost if 200 <= p.status < 300),
        "webhook_refused": sum(1 for p in pushes if not 200 <= p.status < 300),
        "lost": [describe(p) for p in lost][:20],
        "stacks_on_newest_commit": sum(newest.values()),
        "stacks_on_newest_accepted_commit": sum(newest_accepted.values()),
        "stacks_not_on_newest_commit": sorted(stack for stack, ok in newest.items() if not ok),
    }


def run_load(
    repositories: int = 20, pushes_per_repository: int = 5, *, speed: float = 60.0, timeout: float = 600.0,
    log: Any = sys.stderr,
) -> dict[str, Any]:
    load_asl()  # the lock and record states are found by name
    repos = [Repository(n) for n in range(1, repositories + 1)]
    root = Path(tempfile.mkdtemp(prefix="stepdeploy-bench-load-"))
    cloud = LocalCloud(root / "cloud", speed=speed, allowed_repositories=allowed_repositories(repos))
    try:
        started = time.monotonic()
        cloud.start()
        cloud_start_seconds = time.monotonic() - started
        worktrees = {r: prepare_worktree(root, r) for r in repos}
        with recording() as recorder:
            return _drive(cloud, repos, worktrees, pushes_per_repository, timeout, recorder, cloud_start_seconds, log)
    finally:
        cloud.stop()
        shutil.rmtree(root, ignore_errors=True)


def _drive(
    cloud: LocalCloud, repos: list[Repository], worktrees: dict[Repository, Path], count: int, timeout: float,
    recorder: Any, cloud_start_seconds: float, log: Any,
) -> dict[str, Any]:
    assert cloud.orchestrator is not None
    sfn = cloud.client("stepfunctions")
    prepared = {r: prepare_pushes(cloud, worktrees[r], r, count) for r in repos}
    secret = cloud.webhook_secret
    pushes: list[Push] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_deliver, args=(cloud, secret, prepared[r], pushes, lock), daemon=True) for r in repos
    ]
    started_wall, started = time.time(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    push_window = time.monotonic() - started
    accepted = sum(1 for p in pushes if p.status == 202)
    print(f"  load: {len(pushes)} pushes delivered in {push_window:.1f}s ({accepted} accepted)", file=log)
    executions, all_ended = wait_for_executions(sfn, cloud.orchestrator.state_machine_arn, accepted, timeout, log)
    wall = time.monotonic() - started

    intervals, statuses, transitions, failures = [], Counter(), 0, []
    for execution in executions:
        statuses[execution["status"]] += 1
        if execution["status"] not in ("RUNNING", "SUCCEEDED"):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            failures.append(f"{execution['name']}: {described.get('error')}: {str(described.get('cause'))[:300]}")
        events = history_events(sfn, execution["executionArn"])
        visits = history.state_visits(events)
        transitions += history.transitions(visits)
        interval = history.lock_interval(execution["executionArn"], visits, max(e["timestamp"] for e in events))
        if interval is not None:
            intervals.append(interval)
    ledger = Ledger(cloud.orchestrator.table_name, dynamodb_resource=cloud.resource("dynamodb"))
    releases = {r.stack: ledger.releases_of(r.stack, limit=200) for r in repos}
    verdicts = judge(pushes, releases, intervals, [e["name"] for e in executions])
    functions = {physical for physical in cloud.orchestrator.resources.values() if physical}
    invocations = recorder.between(started_wall, time.time() + 1, functions)
    outcomes = Counter(str(r.get("outcome")) for items in releases.values() for r in items)
    return {
        "pushes": len(pushes),
        "repositories": len(repos),
        "modes": dict(Counter(r.mode for r in repos)),
        "pushes_accepted": accepted,
        "push_window_seconds": round(push_window, 2),
        "redeliveries": sum(p.attempts - 1 for p in pushes),
        "pushes_redelivered": sum(1 for p in pushes if p.attempts > 1),
        "executions_started": len(executions),
        "executions_ended": sum(n for status, n in statuses.items() if status != "RUNNING"),
        "all_ended": all_ended,
        "execution_statuses": dict(statuses),
        "ledger_outcomes": dict(outcomes),
        "failures": failures[:10],
        **verdicts,
        "wall_seconds": round(wall, 2),
        "cloud_start_seconds": round(cloud_start_seconds, 2),
        "transitions": transitions,
        "lambda_invocations": len(invocations),
        "timeout_seconds": timeout,
        "speed": cloud_speed(),
    }


def cloud_speed() -> float:
    from stepdeploy_localcloud.clock import CLOCK

    return CLOCK.speed
