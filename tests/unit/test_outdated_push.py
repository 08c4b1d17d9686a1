"""A push delivered late must not take a target back to an older commit (pure logic, no network)."""

from __future__ import annotations

import pytest

from stepdeploy.errors import ServiceUnavailable
from stepdeploy.models import DeploymentRequest
from stepdeploy.tasks import acquire_lock
from stepdeploy.tasks.acquire_lock import newer_commit_including

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_remembered_relations() -> None:
    acquire_lock._relations.clear()

OLD, NEW, OTHER = "a" * 40, "b" * 40, "c" * 40


class Compare:
    """GHE's compare, from a table of (base, head) -> status; a missing pair is an outage."""

    def __init__(self, relations: dict[tuple[str, str], str]) -> None:
        self.relations = relations
        self.asked: list[tuple[str, str, str]] = []

    def compare(self, repository: str, base: str, head: str) -> str:
        self.asked.append((repository, base, head))
        if (base, head) not in self.relations:
            raise ServiceUnavailable("GHE is down")
        return self.relations[(base, head)]


def request(commit: str = OLD) -> DeploymentRequest:
    return DeploymentRequest(source="ghe", repository="platform/app", branch="main", commit=commit)


def test_a_candidate_ahead_of_the_request_supersedes_it():
    api = Compare({(OLD, NEW): "ahead"})
    assert newer_commit_including(request(), [NEW], api) == NEW  # type: ignore[arg-type]
    assert api.asked == [("platform/app", OLD, NEW)]


@pytest.mark.parametrize("relation", ["behind", "diverged", "identical"])
def test_a_candidate_not_ahead_does_not(relation: str):
    assert newer_commit_including(request(), [NEW], Compare({(OLD, NEW): relation})) is None  # type: ignore[arg-type]


def test_the_request_own_commit_is_not_compared_and_an_outage_skips_to_the_next_candidate():
    api = Compare({(OLD, NEW): "ahead"})
    assert newer_commit_including(request(), [OLD, OTHER, NEW], api) == NEW  # type: ignore[arg-type]
    assert [head for _, _, head in api.asked] == [OTHER, NEW]


def test_a_relation_is_asked_once_however_often_the_lock_is_retried():
    api = Compare({(OLD, NEW): "behind"})
    for _ in range(3):
        assert newer_commit_including(request(), [NEW], api) is None  # type: ignore[arg-type]
    assert len(api.asked) == 1
