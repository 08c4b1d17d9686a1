"""The build log of an execution, read from CloudWatch Logs where its CodeBuild build wrote it.

The build id is in the execution's document (``build.build_id``, in the output of the states after
Start build); CodeBuild's BatchGetBuilds names the log group and stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_logs import CloudWatchLogsClient

TAIL_LINES = 20
MAX_LINES = 10000


def latest_piece(events: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The newest ``document[key]`` a state's output carried (e.g. ``build``, ``shift``, ``bake``)."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails")
        if not details:
            continue
        try:
            document = json.loads(details.get("output") or "{}")
        except ValueError:
            continue
        piece = document.get(key) if isinstance(document, dict) else None
        if isinstance(piece, dict):
            return piece
    return None


@dataclass
class BuildLog:
    build_id: str
    group: str | None = None
    stream: str | None = None
    lines: list[str] = field(default_factory=list)
    total: int = 0
    """Lines the log has (at most MAX_LINES read)."""
    problem: str | None = None
    """Why no lines could be read, in a few words."""

    def as_dict(self) -> dict[str, Any]:
        return {"build_id": self.build_id, "group": self.group, "stream": self.stream, "lines": self.lines,
                "total": self.total, "problem": self.problem}


def read_build_log(
    codebuild: CodeBuildClient, logs: CloudWatchLogsClient, build_id: str, *, tail: int | None = TAIL_LINES
) -> BuildLog:
    """The last ``tail`` lines of the build's log (all of them with ``tail=None``)."""
    found = BuildLog(build_id)
    try:
        builds = codebuild.batch_get_builds(ids=[build_id]).get("builds") or []
    except ClientError as exc:
        found.problem = f"CodeBuild: {exc}"
        return found
    if not builds:
        found.problem = f"CodeBuild has no build {build_id} any more"
        return found
    where = builds[0].get("logs") or {}
    found.group, found.stream = where.get("groupName"), where.get("streamName")
    if not found.group or not found.stream:
        found.problem = "the build wrote no CloudWatch log"
        return found
    lines: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": found.group, "logStreamName": found.stream, "startFromHead": True}
    try:
        while len(lines) < MAX_LINES:
            page = logs.get_log_events(**kwargs)
            lines.extend(str(e.get("message", "")).rstrip("\n") for e in page.get("events") or [])
            token = page.get("nextForwardToken")
            if not page.get("events") or not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
    except ClientError as exc:
        found.problem = f"CloudWatch Logs: {exc}"
        return found
    found.total = len(lines)
    found.lines = lines if tail is None else lines[-tail:]
    return found
