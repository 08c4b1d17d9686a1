"""The step engine's judgement: the new versions against the old ones over one step's window.

Pure: the numbers come from stepdeploy.aws.version_metrics and the alarms' states, the thresholds
from stepdeploy.yml (target_config.Analysis). Per function, the new version's error and throttle
rates (over its invocations) may exceed the old version's by at most ``max_*_rate_increase``
percentage points, and its p99 duration the old one's by at most ``max_p99_increase_percent``.

The verdict of a step is for the whole release: Fail if any function fails or an alarm turned to
ALARM during the release; otherwise Inconclusive if any function's new version had fewer than
``min_invocations`` invocations (too few to judge: a person decides); otherwise Pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from stepdeploy.app_config.target_config import Analysis

Verdict = Literal["Pass", "Fail", "Inconclusive"]


@dataclass(frozen=True)
class Sample:
    """One version's numbers over a window."""

    invocations: float = 0.0
    errors: float = 0.0
    throttles: float = 0.0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        """Percent of invocations that failed (0 without invocations)."""
        return 100.0 * self.errors / self.invocations if self.invocations else 0.0

    @property
    def throttle_rate(self) -> float:
        """Throttles in percent of the attempts (invocations plus throttles)."""
        attempts = self.invocations + self.throttles
        return 100.0 * self.throttles / attempts if attempts else 0.0


@dataclass(frozen=True)
class FunctionJudgement:
    function: str
    verdict: Verdict
    new: Sample
    old: Sample
    reasons: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "new": {**asdict(self.new), "error_rate": round(self.new.error_rate, 3),
                    "throttle_rate": round(self.new.throttle_rate, 3)},
            "old": {**asdict(self.old), "error_rate": round(self.old.error_rate, 3),
                    "throttle_rate": round(self.old.throttle_rate, 3)},
        }


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    functions: list[FunctionJudgement]
    alarms_fired: dict[str, str]
    """Alarms that turned to ALARM during the release -> their reason."""

    @property
    def summary(self) -> str:
        parts = [f"alarm {name} in ALARM since the release began" for name in sorted(self.alarms_fired)]
        parts += [f"{j.function}: {'; '.join(j.reasons)}" for j in self.functions if j.reasons]
        return f"{self.verdict}: " + ("; ".join(parts) if parts else "every new version within its thresholds")

    def as_record(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "summary": self.summary, "alarms_fired": dict(self.alarms_fired),
                "functions": [j.as_record() for j in self.functions]}


def judge_function(function: str, new: Sample, old: Sample, analysis: Analysis) -> FunctionJudgement:
    reasons: list[str] = []
    error_increase = new.error_rate - old.error_rate
    if new.errors and error_increase > analysis.max_error_rate_increase:
        reasons.append(f"error rate {new.error_rate:.2f}% against {old.error_rate:.2f}% "
                       f"(+{error_increase:.2f} points, at most +{analysis.max_error_rate_increase:g})")
    throttle_increase = new.throttle_rate - old.throttle_rate
    if new.throttles and throttle_increase > analysis.max_throttle_rate_increase:
        reasons.append(f"throttle rate {new.throttle_rate:.2f}% against {old.throttle_rate:.2f}% "
                       f"(+{throttle_increase:.2f} points, at most +{analysis.max_throttle_rate_increase:g})")
    if new.p99_ms is not None and old.p99_ms:
        longer = 100.0 * (new.p99_ms - old.p99_ms) / old.p99_ms
        if longer > analysis.max_p99_increase_percent:
            reasons.append(f"p99 duration {new.p99_ms:.1f} ms against {old.p99_ms:.1f} ms "
                           f"(+{longer:.0f}%, at most +{analysis.max_p99_increase_percent:g}%)")
    enough = new.invocations >= analysis.min_invocations
    if reasons and enough:
        return FunctionJudgement(function, "Fail", new, old, reasons)
    if not enough:
        reasons.append(f"{new.invocations:g} invocations of the new version, fewer than the "
                       f"{analysis.min_invocations} needed to judge")
        return FunctionJudgement(function, "Inconclusive", new, old, reasons)
    return FunctionJudgement(function, "Pass", new, old, [])


def alarms_fired(states: dict[str, dict[str, Any]], at_start: dict[str, str]) -> dict[str, str]:
    """Alarms in ALARM now that were not already in that same ALARM when the release started.

    ``states``: name -> {state, reason, updated}; ``at_start``: name -> the ``updated`` of an alarm that
    was in ALARM at the start. One that went OK and back to ALARM has a newer timestamp: it fired."""
    fired: dict[str, str] = {}
    for name, state in states.items():
        if state.get("state") != "ALARM":
            continue
        if name in at_start and at_start[name] == str(state.get("updated") or ""):
            continue
        fired[name] = str(state.get("reason") or "")
    return fired


def judge(
    samples: dict[str, tuple[Sample, Sample]], analysis: Analysis, fired: dict[str, str]
) -> Judgement:
    """``samples``: function name -> (new version's sample, old version's sample) over the same window."""
    functions = [judge_function(name, new, old, analysis) for name, (new, old) in sorted(samples.items())]
    verdicts = {j.verdict for j in functions}
    if fired or "Fail" in verdicts:
        verdict: Verdict = "Fail"
    elif "Inconclusive" in verdicts:
        verdict = "Inconclusive"
    else:
        verdict = "Pass"
    return Judgement(verdict, functions, fired)
