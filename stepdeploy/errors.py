"""Errors that are part of the state machine's contract.

A Python exception's class name is exactly the ``ErrorEquals`` string in the ASL. Retryable errors
(``Retryable`` subclasses) are retried by the state machine and, when retries run out, fail the
execution at that state so that it can be redriven. Terminal errors (``Terminal`` subclasses) are
caught and go to the failure path (record, report, unlock). Adapters turn AWS error codes into these
classes; nothing matches on message text.
"""

from __future__ import annotations


class StepdeployError(Exception):
    """Base of every error the pipeline raises on purpose."""


class Retryable(StepdeployError):
    """A fault that may pass: retried with backoff, then redrivable."""


class Terminal(StepdeployError):
    """A definite outcome: retrying the same input gives the same answer."""


# --- retryable ---------------------------------------------------------------------------------
class ServiceThrottled(Retryable):
    """An AWS or GHE API throttled us."""


class ServiceUnavailable(Retryable):
    """An AWS or GHE API failed with a 5xx or a connection error."""


class StackBusy(Retryable):
    """The stack is in an *_IN_PROGRESS state that another actor started; wait for it."""


class StackLocked(Retryable):
    """Another execution holds the stack's lock.

    ``holder``: the lock item, when one holds it; ``overdue``: the holder's lease has expired while
    its execution still runs (it holds the lock longer than it legitimately may)."""

    def __init__(self, message: str, *, holder: dict[str, object] | None = None, overdue: bool = False) -> None:
        super().__init__(message)
        self.holder = holder
        self.overdue = overdue


# --- terminal ----------------------------------------------------------------------------------
class ConfigurationError(Terminal):
    """The app's deployment configuration file is missing, malformed or invalid."""


class RequestRejected(Terminal):
    """The trigger cannot be turned into a deployment (not allow-listed, bad artifact, ...)."""


class ArtifactRejected(Terminal):
    """The artifact failed a safety check (path escape, zip bomb, checksum mismatch)."""


class BuildFailed(Terminal):
    """CodeBuild ended FAILED, FAULT, STOPPED or TIMED_OUT."""


class ChangeSetFailed(Terminal):
    """CloudFormation refused the change set for a reason other than 'no changes'."""


class StackUpdateFailed(Terminal):
    """Executing the change set ended in a rollback or a failed state."""


class StackNeedsAttention(Terminal):
    """The stack is in a state that needs an operator (UPDATE_ROLLBACK_FAILED, ROLLBACK_COMPLETE...)."""


class ApprovalRejected(Terminal):
    """A person rejected the change set, or nobody approved it in time."""


class Superseded(Terminal):
    """A newer commit for the same target replaced this execution."""


class VersionPublishFailed(Terminal):
    """A Lambda version could not be published."""


class DeploymentFailed(Terminal):
    """CodeDeploy failed for a reason other than an alarm (hook failed, bad AppSpec...)."""


class DeploymentRolledBack(Terminal):
    """An alarm (or a stop) made CodeDeploy roll the alias back to the previous version."""


class AlarmDuringBake(Terminal):
    """An alarm fired while baking after 100% of traffic moved; the alias was moved back."""


class ReleaseNotServed(StepdeployError):
    """Record release found that the release does not serve the traffic (an alias or the stack moved on).

    Raised only by Record release, after recording outcome NotServed; its Catch takes every error."""


TERMINAL_ERRORS: tuple[type[Terminal], ...] = tuple(Terminal.__subclasses__())
RETRYABLE_ERRORS: tuple[type[Retryable], ...] = tuple(Retryable.__subclasses__())


class StageGateFailed(StepdeployError):
    """A gate before a pipeline's stage refused the promotion (failed test, alarm during the soak, outside
    the deployment window with ``outside: fail``).

    Raised only by Check stage gates, inside the pipeline's Map, whose Catch takes it to Record failure."""
