"""Advance release: stepdeploy's own engine moves every changed function together, one step at a time.

For a target whose ``deployment.strategy`` is ``{steps: [...], pause_minutes, analysis}`` (CodeDeploy
releases the others). Each call does one thing, then Wait for release step sleeps on a task token for
``wait_seconds`` (the pause after a step), which an operator's command, or one of the target's alarms
going to ALARM while a step runs, cuts short:

- first call: note the alarms already in ALARM (they do not block the release), write the release's
  control record, and move every alias to the first step (``UpdateAlias`` with
  ``RoutingConfig.AdditionalVersionWeights``: the new version gets the step's weight);
- after a step's pause: judge the step (stepdeploy.release.release_analysis, on each version's own metrics over
  the step's window): Pass moves every alias to the next step, Fail points every alias back at its
  previous version and raises DeploymentRolledBack, Inconclusive pauses the release until a person
  resumes (continue) or aborts it;
- an operator's command (the control record's ``command``): ``pause``, ``resume``, ``promote`` (every
  alias to 100 % now) or ``abort`` (every alias back now, DeploymentRolledBack).

The release is done when every alias serves its new version alone. Each step, judgement and command
goes to the ledger's journal of the release with its numbers and who asked.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from stepdeploy.app_config.target_config import StepStrategy
from stepdeploy.aws.alarms import Alarms, resolve_alarm_names
from stepdeploy.aws.clients import client
from stepdeploy.aws.cloudformation import CloudFormation
from stepdeploy.aws.lambda_versions import LambdaVersions
from stepdeploy.aws.ledger import ledger
from stepdeploy.aws.version_metrics import VersionMetrics
from stepdeploy.errors import DeploymentRolledBack
from stepdeploy.models import Document, ExecutionContext, FunctionRelease, ReleaseProgress, iso, utc_now
from stepdeploy.observability import logger
from stepdeploy.release.release_analysis import Judgement, Sample, alarms_fired, judge
from stepdeploy.settings import settings
from stepdeploy.template.preferences import gating_alarms

PAUSED_WAIT_SECONDS = 3600
"""A paused release sleeps this long between looks at its control record (a command wakes it at once)."""
VERBS = ("pause", "resume", "promote", "abort")


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def releases_of(document: Document) -> list[FunctionRelease]:
    return [f for f in (document.versions.functions if document.versions else []) if f.needs_shift]


def strategy_of(document: Document) -> StepStrategy:
    request = document.require_request()
    assert request.target is not None
    steps = request.target.deployment.steps
    if steps is None:
        raise ValueError("Advance release runs for a deployment.strategy of {steps: [...]} only; "
                         "CodeDeploy releases the others (Start traffic shift)")
    return steps


def move_aliases(lam: LambdaVersions, releases: list[FunctionRelease], percent: int) -> None:
    """Every alias to ``percent`` % on its new version, one after the other without a pause."""
    for release in releases:
        assert release.previous_version is not None
        if percent >= 100:
            lam.point_alias(release.function_name, release.alias, release.version)
        else:
            lam.weigh_alias(release.function_name, release.alias, release.previous_version, release.version,
                            percent / 100)


def roll_back(lam: LambdaVersions, releases: list[FunctionRelease]) -> list[str]:
    """Every alias back on its previous version alone; what moved, for the message."""
    moved = []
    for release in releases:
        if release.previous_version is None:
            continue
        lam.point_alias(release.function_name, release.alias, release.previous_version)
        moved.append(f"{release.function_name}:{release.alias} -> {release.previous_version}")
    return moved


def begin(document: Document, strategy: StepStrategy, execution: ExecutionContext) -> ReleaseProgress:
    request = document.require_request()
    assert request.target is not None
    entries = gating_alarms(request.target.deployment,
                            document.artifact.deployment_preferences if document.artifact else {})
    alarms = resolve_alarm_names(CloudFormation(client("cloudformation")), request.stack, entries) if entries else []
    states = Alarms(client("cloudwatch")).states(alarms) if alarms else {}
    progress = ReleaseProgress(
        steps=strategy.steps,
        pause_seconds=strategy.pause_minutes * 60,
        alarms=alarms,
        alarms_at_start={name: str(s.get("updated") or "") for name, s in states.items() if s["state"] == "ALARM"},
    )
    ledger().start_progress(request.stack, execution.id, {
        "execution_name": execution.name, "commit": request.commit, "repository": request.repository,
        "status": "running", "step": -1, "percent": 0, "steps": strategy.steps, "started_at": progress.started_at,
        "functions": [f"{r.function_name}:{r.alias} {r.previous_version} -> {r.version}"
                      for r in releases_of(document)],
    })
    return progress


def measure(document: Document, progress: ReleaseProgress, strategy: StepStrategy, now: datetime) -> Judgement:
    """The step's judgement: each function's new and old version over the same window, and the alarms."""
    start = _moment(progress.step_started_at)
    end = max(now, start + timedelta(seconds=1))
    metrics = VersionMetrics(client("cloudwatch"))
    samples: dict[str, tuple[Sample, Sample]] = {}
    for release in releases_of(document):
        assert release.previous_version is not None
        got = metrics.samples(release.function_name, release.alias, [release.version, release.previous_version],
                              start, end)
        samples[release.function_name] = (got[release.version], got[release.previous_version])
    states = Alarms(client("cloudwatch")).states(progress.alarms) if progress.alarms else {}
    return judge(samples, strategy.analysis, alarms_fired(states, progress.alarms_at_start))


def _notify_inconclusive(document: Document, progress: ReleaseProgress, summary: str) -> None:
    topic = settings().notification_topic_arn
    if not topic:
        return
    request = document.require_request()
    client("sns").publish(
        TopicArn=topic,
        Subject=f"stepdeploy: {request.stack} paused at {progress.percent}%, decide"[:100],
        Message=json.dumps({
            "message": f"{request.repository}@{request.short_commit}: the release of {request.stack} could not be "
                       f"judged at {progress.percent}% ({summary}). Run: stepdeploy resume {request.stack}  "
                       f"(go on), stepdeploy promote {request.stack} (100% now) or stepdeploy abort {request.stack}",
            "stack": request.stack, "commit": request.commit, "percent": progress.percent,
        }, indent=2),
    )


class Step:
    """One call of Advance release: what it changes, recorded as it goes."""

    def __init__(self, document: Document, execution: ExecutionContext, progress: ReleaseProgress) -> None:
        self.document = document
        self.execution = execution
        self.progress = progress
        self.stack = document.require_request().stack
        self.lam = LambdaVersions(client("lambda"))
        self.releases = releases_of(document)

    def note(self, entry: dict[str, Any]) -> None:
        ledger().journal(self.stack, self.execution.name or self.execution.id, {"at": iso(), **entry})

    def save(self, *, clear_command: bool = False) -> ReleaseProgress:
        p = self.progress
        ledger().update_progress(self.stack, self.execution.id, {
            "status": p.status, "step": p.step, "percent": p.percent, "paused_reason": p.paused_reason,
            "updated_at": iso(),
        }, clear_command=clear_command)
        if p.status != "done":  # the lease covers the wait: a queued push waits as long, no longer
            ledger().ensure_lock(self.stack, self.execution.id, p.wait_seconds + settings().lock_lease_seconds)
        return p

    def next_step(self, now: datetime, *, to_full: bool = False) -> None:
        p = self.progress
        index = len(p.steps) - 1 if to_full else p.step + 1
        percent = p.steps[index]
        move_aliases(self.lam, self.releases, percent)
        p.step, p.percent, p.step_started_at = index, percent, iso(now)
        p.status, p.paused_reason = "running", None
        self.note({"type": "step", "step": index, "percent": percent})
        if percent >= 100:
            p.status, p.done, p.finished_at, p.wait_seconds = "done", True, iso(now), 1
        else:
            p.wait_seconds = p.pause_seconds

    def pause(self, reason: str) -> None:
        p = self.progress
        p.status, p.paused_reason, p.wait_seconds = "paused", reason, PAUSED_WAIT_SECONDS

    def roll_back(self, why: str) -> DeploymentRolledBack:
        moved = roll_back(self.lam, self.releases)
        p = self.progress
        p.status, p.done, p.finished_at = "done", True, iso()
        self.note({"type": "rollback", "reason": why, "aliases": moved})
        self.save(clear_command=True)
        return DeploymentRolledBack(f"{why}. Every alias is back on its previous version: {', '.join(moved)}")

    def command(self, command: dict[str, Any], now: datetime) -> None:
        verb, by = str(command.get("verb")), str(command.get("by") or "someone")
        p = self.progress
        self.note({"type": "command", "verb": verb, "by": by, "step": p.step, "percent": p.percent})
        if verb == "abort":
            raise self.roll_back(f"release aborted by {by} at {p.percent}%")
        if verb == "promote":
            self.next_step(now, to_full=True)
        elif verb == "pause":
            self.pause("operator")
        elif verb == "resume" and p.status == "paused":
            if p.paused_reason == "inconclusive":  # a person decided: go on to the next step
                self.next_step(now)
            else:  # the step's pause starts again; its window keeps what it measured so far
                p.status, p.paused_reason, p.wait_seconds = "running", None, p.pause_seconds
        elif verb == "resume":  # running already: sleep what is left of the step's pause
            elapsed = (now - _moment(p.step_started_at)).total_seconds() * settings().poll.speed
            p.wait_seconds = max(1, math.ceil(p.pause_seconds - elapsed))
        else:
            raise ValueError(f"unknown release command {verb!r}; expected one of {', '.join(VERBS)}")

    def judge_step(self, strategy: StepStrategy, now: datetime) -> None:
        p = self.progress
        judgement = measure(self.document, p, strategy, now)
        record = {"step": p.step, "percent": p.percent, "window": [p.step_started_at, iso(now)],
                  **judgement.as_record()}
        p.judgements = [*p.judgements, {k: record[k] for k in ("step", "percent", "verdict", "summary")}]
        self.note({"type": "judgement", **record})
        logger.info("release step judged", extra=record)
        if judgement.verdict == "Fail":
            raise self.roll_back(f"release judged at {p.percent}%: {judgement.summary}")
        if judgement.verdict == "Inconclusive":
            self.pause("inconclusive")
            _notify_inconclusive(self.document, p, judgement.summary)
        else:
            self.next_step(now)


def advance_release(document: Document, execution: ExecutionContext) -> ReleaseProgress:
    strategy = strategy_of(document)
    now = utc_now()
    progress = document.progress or begin(document, strategy, execution)
    step = Step(document, execution, progress.model_copy(deep=True))
    control = ledger().progress(step.stack) or {}
    command = control.get("command") if control.get("execution_arn") == execution.id else None
    if command:
        step.command(command, now)
    elif step.progress.step < 0:
        step.next_step(now)
    elif step.progress.status == "running":  # the step's pause is over, or an alarm woke it: judge now
        step.judge_step(strategy, now)
    # paused and no command: the reconciling look found nothing to do; sleep again
    return step.save(clear_command=bool(command))


def abandon_release(document: Document, execution_arn: str, reason: str) -> list[str]:
    """A failed execution leaves no release half-way: every alias back, the control record closed."""
    progress = document.progress
    if progress is None or progress.done or document.request is None or document.request.target is None:
        return []
    moved = roll_back(LambdaVersions(client("lambda")), releases_of(document))
    stack = document.request.stack
    control = ledger().progress(stack) or {}
    if control.get("execution_arn") == execution_arn and control.get("status") != "done":
        ledger().update_progress(stack, execution_arn, {"status": "done", "updated_at": iso()}, clear_command=True)
        ledger().journal(stack, execution_arn.rsplit(":", 1)[-1],
                         {"at": iso(), "type": "rollback", "reason": reason, "aliases": moved})
    return moved
