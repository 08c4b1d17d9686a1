"""Execution names: readable, deterministic, within Step Functions' (and CloudWatch Logs') rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepdeploy.ingress.naming import (
    MAX_NAME_CHARS,
    NAME_PATTERN,
    execution_name,
    ghe_discriminator,
    identity_hash,
    s3_discriminator,
    sanitise,
)

pytestmark = pytest.mark.unit
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
# StartExecution's documented refusals: whitespace, brackets, wildcards, specials, control characters.
STEP_FUNCTIONS_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def test_a_push_gets_repository_branch_and_short_commit():
    name = execution_name("platform/sample-app", "main", COMMIT, ghe_discriminator())
    assert name == f"sample-app-main-6113728-{identity_hash('platform/sample-app', 'main', COMMIT, '')}"


def test_the_same_trigger_always_gets_the_same_name():
    first = execution_name("platform/sample-app", "main", COMMIT, "")
    assert first == execution_name("platform/sample-app", "main", COMMIT, "")


@pytest.mark.parametrize(
    ("repository", "branch", "commit", "discriminator"),
    [
        ("other/sample-app", "main", COMMIT, ""),  # same repo name, other owner
        ("platform/sample-app", "Main", COMMIT, ""),
        ("platform/sample-app", "main", "6113728" + "0" * 33, ""),  # same short commit
        ("platform/sample-app", "main", COMMIT, "s3"),
        ("platform/sample-app", "feature/a-b", COMMIT, ""),
    ],
)
def test_triggers_that_differ_anywhere_get_different_names(repository, branch, commit, discriminator):
    assert execution_name(repository, branch, commit, discriminator) != execution_name(
        "platform/sample-app", "main", COMMIT, ""
    )


def test_branches_that_sanitise_alike_still_differ():
    assert sanitise("feature/a.b") == sanitise("feature/a-b") == "feature-a-b"
    assert execution_name("o/r", "feature/a.b", COMMIT, "") != execution_name("o/r", "feature/a-b", COMMIT, "")


@pytest.mark.parametrize(
    ("branch", "shown"),
    [
        ("feature/café", "feature-cafe"),
        ("fix/$(rm -rf ~);`id`&&echo", "fix-rm-rf-id-echo"),
        ("a..b", "a-b"),
        ("機能/ログイン", ""),
        ("release/1.2.3", "release-1-2-3"),
        ("--lead-and-trail--", "lead-and-trail"),
    ],
)
def test_branch_names_are_sanitised(branch, shown):
    assert sanitise(branch) == shown
    name = execution_name("platform/sample-app", branch, COMMIT, "")
    assert NAME_PATTERN.match(name)
    assert name.startswith(f"sample-app-{shown + '-' if shown else ''}6113728-")


def test_long_names_are_cut_to_80_keeping_commit_hash_and_suffix():
    name = execution_name("platform/" + "r" * 120, "feature/" + "b" * 200, COMMIT, "", suffix="replay-12")
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith("-6113728-" + identity_hash("platform/" + "r" * 120, "feature/" + "b" * 200, COMMIT, "")
                          + "-replay-12")
    assert name.startswith("r" * 32 + "-feature-bbb")


def test_replay_suffix_makes_a_new_name_for_each_attempt():
    base = execution_name("platform/sample-app", "main", COMMIT, "")
    first, second = (execution_name("platform/sample-app", "main", COMMIT, "", suffix=f"replay-{n}") for n in (1, 2))
    assert first == base + "-replay-1" and second == base + "-replay-2"
    assert execution_name("platform/sample-app", "main", COMMIT, "", suffix="-replay-1") == first


def test_a_suffix_too_long_is_refused():
    with pytest.raises(ValueError, match="at most 24"):
        execution_name("o/r", "main", COMMIT, "", suffix="x" * 25)


def test_s3_discriminator_tells_versions_and_notifications_apart():
    one = s3_discriminator("bucket", "uploads/o/r/a.zip", "v1", "0062E99A88DC407460")
    assert one == s3_discriminator("bucket", "uploads/o/r/a.zip", "v1", "0062E99A88DC407460")
    assert one != s3_discriminator("bucket", "uploads/o/r/a.zip", "v2", "0062E99A88DC407461")
    assert one != s3_discriminator("bucket", "uploads/o/r/b.zip", "v1", "0062E99A88DC407460")


@given(
    st.text(max_size=300), st.text(max_size=300), st.text(max_size=80), st.text(max_size=200),
    st.sampled_from(["", "replay-1", "replay-99", "-replay-7"]),
)
def test_any_input_gives_a_valid_deterministic_name(repository, branch, commit, discriminator, suffix):
    name = execution_name(repository, branch, commit, discriminator, suffix)
    assert 1 <= len(name) <= MAX_NAME_CHARS
    assert NAME_PATTERN.match(name), name
    assert not STEP_FUNCTIONS_FORBIDDEN.search(name)
    assert name == execution_name(repository, branch, commit, discriminator, suffix)
    if suffix:
        assert name.endswith(suffix.lstrip("-"))
