"""Who may change a stack: the repository that created it (DESIGN invariant 4).

The first change set stepdeploy makes for a stack tags it ``stepdeploy:repository=<owner/repo>``
(CloudFormation propagates stack tags to the stack). Before every change set, and already at Resolve
request so that a refused push leaves no trace, the stack is checked:

- the orchestrator's own stack is never a target;
- a stack tagged for another repository is refused;
- a stack that exists without the tag (stepdeploy did not create it) is refused, unless the
  allow-list entry that lets this repository deploy it ends in ``:adopt``; the adopting change
  set then tags it, and from then on it is owned like any other.
"""

from __future__ import annotations

from typing import Any

from stepdeploy.errors import RequestRejected

OWNER_TAG = "stepdeploy:repository"
UNCLAIMED_STATES = frozenset({"REVIEW_IN_PROGRESS"})
"""A stack record with nothing deployed in it yet (a CREATE change set was never executed)."""


def owner_of(stack: dict[str, Any]) -> str | None:
    for tag in stack.get("Tags") or []:
        if tag.get("Key") == OWNER_TAG:
            return str(tag.get("Value"))
    return None


def check_not_orchestrator(stack_name: str, orchestrator_stack: str) -> None:
    if orchestrator_stack and stack_name.lower() == orchestrator_stack.lower():
        raise RequestRejected(
            f"stack {stack_name} is the orchestrator's own stack; no repository may deploy it"
        )


def check_owner(
    stack: dict[str, Any] | None,
    stack_name: str,
    repository: str,
    *,
    orchestrator_stack: str,
    may_adopt: bool,
) -> None:
    """RequestRejected unless ``repository`` may change the stack ``stack`` (None: it does not exist)."""
    check_not_orchestrator(stack_name, orchestrator_stack)
    if stack is None:
        return
    owner = owner_of(stack)
    if owner is not None:
        if owner.lower() != repository.lower():
            raise RequestRejected(
                f"stack {stack_name} belongs to repository {owner} (tag {OWNER_TAG}); "
                f"repository {repository} may not change it"
            )
        return
    if str(stack.get("StackStatus")) in UNCLAIMED_STATES or may_adopt:
        return
    raise RequestRejected(
        f"stack {stack_name} exists but stepdeploy did not create it (no {OWNER_TAG} tag); to let "
        f"{repository} take it over, end its AllowedRepositories entry with :adopt "
        f"({repository}:<stack-pattern>:adopt)"
    )
