"""Version retention: which published versions of a function to keep, and why; the rest may go.

Lambda's code storage is limited per region (75 GB by default) and every published version keeps its
own copy of the code. After a successful release (and from ``stepdeploy versions prune``) a function
keeps:

- every version one of its aliases routes to, primary or by weight (an alias's version cannot be
  deleted anyway, and a traffic shift may be in progress);
- the versions of its last ``retain`` releases: the distinct versions the ledger's Deployed and
  RolledBack records say it served, newest first (a release that left it unchanged is not one of its
  releases);
- the version ``stepdeploy rollback STACK`` would go back to (the same choice as the CLI's);
- every version newer than all the ledger knows of: a deployment that has not recorded its release
  yet may be publishing or shifting to it.

Every other published version is deleted. ``retain`` 0 keeps every version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import error_code, is_transient

if TYPE_CHECKING:
    from stepdeploy.aws.lambda_versions import LambdaVersions

RELEASED = ("Deployed", "RolledBack")


@dataclass(frozen=True)
class Verdict:
    version: str
    keep: bool
    reason: str


@dataclass(frozen=True)
class FunctionPlan:
    function_name: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def deletions(self) -> list[str]:
        return [v.version for v in self.verdicts if not v.keep]

    @property
    def kept(self) -> list[str]:
        return [v.version for v in self.verdicts if v.keep]


def serving(record: dict[str, Any]) -> dict[str, str]:
    """Function name -> the version a release left its alias on."""
    return {str(f["function_name"]): str(f["version"]) for f in record.get("versions") or [] if f.get("function_name")}


def current_position(records: list[dict[str, Any]]) -> int | None:
    """Index (records newest first) of the release whose versions the aliases serve, per the ledger."""
    for index, record in enumerate(records):
        if record.get("outcome") not in RELEASED or not record.get("versions"):
            continue
        restored = record.get("rolled_back_to")
        if record.get("outcome") == "RolledBack" and restored:
            found = next((j for j, r in enumerate(records) if r.get("execution_name") == restored), None)
            return found if found is not None else index
        return index
    return None


def rollback_target(records: list[dict[str, Any]], live: dict[str, str]) -> dict[str, Any] | None:
    """The release ``stepdeploy rollback STACK`` goes back to by default: the newest Deployed release
    before the current one that serves other versions than the aliases do now."""
    position = current_position(records)
    if position is None:
        return None
    for record in records[position + 1 :]:
        if record.get("outcome") != "Deployed" or not record.get("versions"):
            continue
        wanted = serving(record)
        if any(wanted.get(name, version) != version for name, version in live.items()):
            return record
    return None


def released_versions(records: list[dict[str, Any]], function_name: str) -> list[tuple[str, str]]:
    """(version, which release served it) of each distinct version the function was released at, newest
    first; a release's previous version counts too (it served before that release)."""
    order: list[str] = []
    released_by: dict[str, str] = {}
    served_before: dict[str, str] = {}
    for record in records:
        if record.get("outcome") not in RELEASED:
            continue
        name = str(record.get("execution_name") or "?")
        for function in record.get("versions") or []:
            if function.get("function_name") != function_name:
                continue
            for key, labels in (("version", released_by), ("previous_version", served_before)):
                version = str(function.get(key) or "")
                if not version.isdigit():
                    continue
                if version not in order:
                    order.append(version)
                labels.setdefault(version, name)
    return [
        (v, f"release {released_by[v]}" if v in released_by else f"served before release {served_before[v]}")
        for v in order
    ]


def _alias_routes(aliases: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Version -> why an alias keeps it."""
    routes: dict[str, str] = {}
    for alias in aliases:
        name = alias.get("Name")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        for version, weight in weights.items():
            routes.setdefault(str(version), f"alias {name} routes {float(weight):.0%} of its traffic to it")
        primary = str(alias.get("FunctionVersion"))
        share = 1 - sum(float(w) for w in weights.values())
        routes[primary] = f"alias {name} points to it" + (f" ({share:.0%} of its traffic)" if weights else "")
    return routes


def plan_function(
    function_name: str,
    versions: Iterable[str],
    aliases: Iterable[dict[str, Any]],
    records: list[dict[str, Any]],
    retain: int,
    rollback_version: str | None = None,
) -> FunctionPlan:
    """The verdict on every published version (oldest first). ``records``: the stack's ledger, newest first."""
    numbered = sorted({str(v) for v in versions if str(v).isdigit()}, key=int)
    if retain <= 0:
        return FunctionPlan(function_name, [Verdict(v, True, "retention is off (RetainReleases 0)") for v in numbered])
    released = released_versions(records, function_name)
    if not released:
        return FunctionPlan(
            function_name, [Verdict(v, True, "the ledger has no release of this function") for v in numbered]
        )
    routes = _alias_routes(aliases)
    retained = {version: f"{label} (one of its last {retain})" for version, label in released[:retain]}
    older = dict(released[retain:])
    newest_known = max(int(version) for version, _ in released)
    verdicts = []
    for version in numbered:
        if version in routes:
            verdicts.append(Verdict(version, True, routes[version]))
        elif version in retained:
            verdicts.append(Verdict(version, True, retained[version]))
        elif version == rollback_version:
            verdicts.append(Verdict(version, True, "stepdeploy rollback would go back to it"))
        elif int(version) > newest_known:
            verdicts.append(Verdict(version, True, "newer than every release in the ledger (a deployment may use it)"))
        elif version in older:
            verdicts.append(Verdict(version, False, f"{older[version]}, beyond the last {retain}"))
        else:
            verdicts.append(Verdict(version, False, "never served by a recorded release"))
    return FunctionPlan(function_name, verdicts)


def live_versions(records: list[dict[str, Any]], aliases: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Function name -> the version its released alias (the one the ledger names) points to now."""
    alias_of: dict[str, str] = {}
    for record in records:
        for function in record.get("versions") or []:
            alias_of.setdefault(str(function.get("function_name")), str(function.get("alias")))
    live = {}
    for name, found in aliases.items():
        alias = next((a for a in found if a.get("Name") == alias_of.get(name)), None)
        if alias is not None:
            live[name] = str(alias["FunctionVersion"])
    return live


def plan_stack(
    records: list[dict[str, Any]],
    functions: dict[str, tuple[list[str], list[dict[str, Any]]]],
    retain: int,
) -> list[FunctionPlan]:
    """Plans for each function name -> (its published versions, its aliases); ``records`` newest first."""
    live = live_versions(records, {name: aliases for name, (_versions, aliases) in functions.items()})
    target = rollback_target(records, live)
    back_to = serving(target) if target else {}
    return [
        plan_function(name, versions, aliases, records, retain, back_to.get(name))
        for name, (versions, aliases) in functions.items()
    ]


def functions_of(records: list[dict[str, Any]]) -> list[str]:
    """The functions the newest release with versions names (the stack's managed functions)."""
    newest = next((r for r in records if r.get("outcome") in RELEASED and r.get("versions")), None)
    return list(serving(newest)) if newest else []




# --- reading and deleting versions (through the Lambda adapter) ----------------------------------


def survey(lam: LambdaVersions, function_names: Iterable[str]) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """Function name -> (its published versions, its aliases); a function that no longer exists is left out."""
    found = {}
    for name in function_names:
        try:
            versions = [str(v["Version"]) for v in lam.versions(name)]
            found[name] = (versions, lam.aliases(name))
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
    return found


@dataclass(frozen=True)
class Pruned:
    function_name: str
    deleted: list[str]
    failed: dict[str, str]
    """Version -> the error code DeleteFunction answered."""


def delete(lam: LambdaVersions, plan: FunctionPlan) -> Pruned:
    """Delete the plan's versions; one that cannot be deleted is reported, the others still go."""
    deleted, failed = [], {}
    for version in plan.deletions:
        try:
            lam.delete_version(plan.function_name, version)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                deleted.append(version)  # gone already (a retry, or someone else)
                continue
            if is_transient(exc):
                raise
            failed[version] = code
        else:
            deleted.append(version)
    return Pruned(plan.function_name, deleted, failed)


__all__ = [
    "FunctionPlan",
    "Pruned",
    "Verdict",
    "current_position",
    "delete",
    "functions_of",
    "live_versions",
    "plan_function",
    "plan_stack",
    "released_versions",
    "rollback_target",
    "serving",
    "survey",
]
