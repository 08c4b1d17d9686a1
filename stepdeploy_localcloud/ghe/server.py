"""The local GitHub Enterprise: bare git repositories, push webhooks, and a small REST API.

Repositories live in ``root/<owner>/<repo>.git``. ``push`` moves a branch of a bare repository
to a working tree's HEAD and returns a ``PushRecord``; ``push_payload`` turns it into the push
event GHE sends (same shape as GitHub's, URLs under the GHE host, API under ``/api/v3``);
``headers`` signs it as GHE's hookshot does, and ``deliver`` POSTs it.

``api_app`` is a WSGI app for the REST API subset the pipeline uses (contents, commits, commit
statuses, deployments). The local server mounts it at ``/api/v3``. Commit statuses and
deployments are kept as JSON files under ``root/.ghe`` so the CLI of another process can show them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

ZERO_SHA = "0" * 40
ENTERPRISE_VERSION = "3.14.2"
HOOKSHOT_VERSION = "GitHub-Hookshot/8f3f1c2"
MAX_COMMITS_IN_PAYLOAD = 2048
CONTENTS_API_MAX_BYTES = 1024 * 1024
"""GHE's contents API returns files up to 1 MB; larger ones come with `encoding: none` and no content."""
STATUS_STATES = ("error", "failure", "pending", "success")
DEPLOYMENT_STATUS_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
DOCS_URL = "https://docs.github.com/enterprise-server@3.14/rest"

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class GitError(RuntimeError):
    """A git command run by the local GHE failed."""


class GHEError(ValueError):
    """A request to the local GHE named something it does not have."""


@dataclass(frozen=True)
class PushRecord:
    """What one push did to one branch; enough to rebuild the webhook payload."""

    owner: str
    repo: str
    ref: str
    before: str
    after: str
    created: bool
    deleted: bool
    forced: bool
    base_ref: str | None
    pusher_name: str
    pusher_email: str
    pushed_at: int
    commit_shas: tuple[str, ...] = ()
    distinct_shas: frozenset[str] = field(default_factory=frozenset)

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/")


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _iso_z(value: str) -> str:
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _login_for(name: str) -> str:
    login = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")
    return login or "ghost"


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def _check_name(kind: str, value: str) -> None:
    if not _NAME.match(value) or value in (".", ".."):
        raise GHEError(f"invalid {kind} name {value!r}: expected letters, digits, '-', '_' or '.'")


def sign(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256`` value: HMAC-SHA256 of the raw body, keyed by the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_sha1(body: bytes, secret: str) -> str:
    """Legacy ``X-Hub-Signature`` value (GHE still sends it next to the SHA-256 one)."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def encode_body(payload: dict[str, Any], content_type: str = "json") -> bytes:
    """The raw body hookshot sends: compact JSON, or ``payload=<urlencoded JSON>`` for form hooks."""
    text = json.dumps(payload, separators=(",", ":"))
    if content_type == "json":
        return text.encode()
    if content_type == "form":
        return urlencode({"payload": text}).encode()
    raise ValueError(f"unknown webhook content type {content_type!r}: expected 'json' or 'form'")


class LocalGHE:
    def __init__(
        self,
        root: Path,
        host: str,
        *,
        token: str | None = "local-ghe-token",
        scheme: str = "http",
        api_user: str = "stepdeploy-bot",
    ) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.scheme = scheme
        self.token = token
        self.api_user = api_user
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._outage = False
        self.deliveries: list[dict[str, Any]] = []
        self.api_app = _ApiApp(self)

    # ----- URLs

    @property
    def web_base(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def api_base(self) -> str:
        return f"{self.scheme}://{self.host}/api/v3"

    def clone_url(self, owner: str, repo: str) -> str:
        return f"{self.web_base}/{owner}/{repo}.git"

    # ----- repositories

    def repo_path(self, owner: str, repo: str) -> Path:
        return self.root / owner / f"{repo}.git"

    def _find_repo(self, owner: str, repo: str) -> Path | None:
        """GitHub names are case-insensitive; the folder keeps the spelling of ensure_repo."""
        exact = self.repo_path(owner, repo)
        if exact.is_dir():
            return exact
        for owner_dir in self.root.iterdir() if self.root.is_dir() else ():
            if owner_dir.name.lower() != owner.lower() or not owner_dir.is_dir():
                continue
            for candidate in owner_dir.iterdir():
                if candidate.name.lower() == f"{repo}.git".lower():
                    return candidate
        return None

    def has_repo(self, owner: str, repo: str) -> bool:
        return self._find_repo(owner, repo) is not None

    def ensure_repo(
        self,
        owner: str,
        repo: str,
        *,
        default_branch: str = "main",
        private: bool = True,
        owner_type: str = "Organization",
    ) -> Path:
        _check_name("owner", owner)
        _check_name("repository", repo)
        with self._lock:
            path = self._find_repo(owner, repo)
            if path is None:
                path = self.repo_path(owner, repo)
                path.parent.mkdir(parents=True, exist_ok=True)
                _git(None, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
                # CodeBuild fetches one commit by SHA with --depth 1.
                _git(path, "config", "uploadpack.allowReachableSHA1InWant", "true")
                _git(path, "config", "uploadpack.allowAnySHA1InWant", "true")
            meta = self._read_meta()
            repos = meta.setdefault("repos", {})
            if f"{owner}/{repo}".lower() not in repos:
                number = int(meta.get("next_repo_number", 1))
                meta["next_repo_number"] = number + 1
                repos[f"{owner}/{repo}".lower()] = {
                    "id": 100_000 + number,
                    "hook_id": 400_000 + number,
                    "owner_type": owner_type,
                    "private": private,
                    "created_at": int(time.time()),
                }
                self._write_meta(meta)
            return path

    def _repo_meta(self, owner: str, repo: str) -> dict[str, Any]:
        meta = self._read_meta().get("repos", {}).get(f"{owner}/{repo}".lower())
        if meta is None:
            raise GHEError(f"no repository {owner}/{repo} in the local GHE at {self.root}")
        return meta

    def _require_repo(self, owner: str, repo: str) -> Path:
        path = self._find_repo(owner, repo)
        if path is None:
            raise GHEError(f"no repository {owner}/{repo} in the local GHE at {self.root}")
        return path

    def default_branch(self, owner: str, repo: str) -> str:
        path = self._require_repo(owner, repo)
        head = _git(path, "symbolic-ref", "HEAD").strip()
        return head.removeprefix("refs/heads/")

    def branch_sha(self, owner: str, repo: str, branch: str) -> str | None:
        path = self._require_repo(owner, repo)
        out = _git(path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
        return out.strip() or None

    def resolve(self, owner: str, repo: str, ref: str) -> str | None:
        """A full commit SHA for a SHA (full or abbreviated), branch, tag or full ref; None if unknown."""
        path = self._require_repo(owner, repo)
        if ref.startswith("-") or not ref:
            return None
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            out = _git(path, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if out.strip():
                return out.strip()
        return None

    def clone_path(self, url: str) -> str:
        """The bare repository behind a clone URL of this GHE (http(s)://host/owner/repo(.git))."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != self.host.lower():
            raise GHEError(f"{url!r} is not a repository URL of the local GHE: expected {self.web_base}/OWNER/REPO.git")
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) != 2:
            raise GHEError(f"{url!r} is not a repository URL: expected {self.web_base}/OWNER/REPO.git")
        owner, repo = segments[0], segments[1].removesuffix(".git")
        path = self._find_repo(owner, repo)
        if path is None:
            raise GHEError(f"{url!r}: no repository {owner}/{repo} in the local GHE at {self.root}")
        return str(path)

    # ----- pushing

    def push(
        self,
        worktree: Path,
        owner: str,
        repo: str,
        branch: str,
        *,
        pusher: str | None = None,
        pusher_email: str | None = None,
    ) -> PushRecord:
        """Force-push the working tree's HEAD to refs/heads/<branch> of the bare repository."""
        path = self.ensure_repo(owner, repo)
        after = _git(Path(worktree), "rev-parse", "--verify", "HEAD^{commit}", bare=False).strip()
        ref = f"refs/heads/{branch}"
        with self._lock:
            before = self.branch_sha(owner, repo, branch) or ZERO_SHA
            first_push = not _git(path, "for-each-ref", "--count=1", "refs/heads").strip()
            _git(Path(worktree), "push", "--quiet", "--force", str(path), f"+{after}:{ref}", bare=False)
            if first_push:  # as on GitHub, the first branch pushed becomes the default branch
                _git(path, "symbolic-ref", "HEAD", ref)
            meta = self._read_meta()
            meta["repos"][f"{owner}/{repo}".lower()]["pushed_at"] = int(time.time())
            self._write_meta(meta)
            return self._record_push(path, owner, repo, ref, before, after, worktree, pusher, pusher_email)

    def delete_branch(self, owner: str, repo: str, branch: str, *, pusher: str = "ghost") -> PushRecord:
        path = self._require_repo(owner, repo)
        ref = f"refs/heads/{branch}"
        with self._lock:
            before = self.branch_sha(owner, repo, branch)
            if before is None:
                raise GHEError(f"no branch {branch!r} in {owner}/{repo}")
            _git(path, "update-ref", "-d", ref)
            return PushRecord(
                owner=owner,
                repo=repo,
                ref=ref,
                before=before,
                after=ZERO_SHA,
                created=False,
                deleted=True,
                forced=False,
                base_ref=None,
                pusher_name=pusher,
                pusher_email=f"{pusher}@users.noreply.{self.host.split(':')[0]}",
                pushed_at=int(time.time()),
            )

    def _record_push(
        self,
        path: Path,
        owner: str,
        repo: str,
        ref: str,
        before: str,
        after: str,
        worktree: Path,
        pusher: str | None,
        pusher_email: str | None,
    ) -> PushRecord:
        heads = [
            line.split(" ", 1)
            for line in _git(path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads").splitlines()
        ]
        other_heads = [sha for sha, name in heads if name != ref]
        # GitHub's "distinct": not already on another branch before this push.
        new_to_repo = _git(path, "rev-list", after, "--not", *other_heads, "--").split()
        created = before == ZERO_SHA
        if created:
            shas = list(reversed(new_to_repo))
            forced = False
            base_ref = next((name for sha, name in heads if sha == after and name != ref), None)
        else:
            shas = list(reversed(_git(path, "rev-list", after, f"^{before}", "--").split()))
            code = _git(path, "merge-base", "--is-ancestor", before, after, check=False, want_code=True)
            forced = code != "0"
            base_ref = None
        if pusher is None:
            pusher = _login_for(_git(Path(worktree), "log", "-1", "--format=%cn", after, bare=False).strip())
            pusher_email = pusher_email or _git(Path(worktree), "log", "-1", "--format=%ce", after, bare=False).strip()
        return PushRecord(
            owner=owner,
            repo=repo,
            ref=ref,
            before=before,
            after=after,
            created=created,
            deleted=False,
            forced=forced,
            base_ref=base_ref,
            pusher_name=pusher,
            pusher_email=pusher_email or f"{pusher}@users.noreply.{self.host.split(':')[0]}",
            pushed_at=int(time.time()),
            commit_shas=tuple(shas[-MAX_COMMITS_IN_PAYLOAD:]),
            distinct_shas=frozenset(new_to_repo),
        )

    # ----- payloads

    def user_object(self, login: str) -> dict[str, Any]:
        user_id = self._user_id(login)
        users = f"{self.api_base}/users/{login}"
        return {
            "login": login,
            "id": user_id,
            "node_id": _node_id("User", user_id),
            "avatar_url": f"{self.web_base}/avatars/u/{user_id}?",
            "gravatar_id": "",
            "url": users,
            "html_url": f"{self.web_base}/{login}",
            "followers_url": f"{users}/followers",
            "following_url": f"{users}/following{{/other_user}}",
            "gists_url": f"{users}/gists{{/gist_id}}",
            "starred_url": f"{users}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{users}/subscriptions",
            "organizations_url": f"{users}/orgs",
            "repos_url": f"{users}/repos",
            "events_url": f"{users}/events{{/privacy}}",
            "received_events_url": f"{users}/received_events",
            "type": "User",
            "site_admin": False,
        }

    def repository_object(self, owner: str, repo: str, *, push_event: bool = False) -> dict[str, Any]:
        """The ``repository`` object; push events carry integer timestamps and a ``url`` to the web page."""
        self._require_repo(owner, repo)
        meta = self._repo_meta(owner, repo)
        owner_obj = self.user_object(owner)
        owner_obj["type"] = meta.get("owner_type", "User")
        if push_event:
            owner_obj = {"name": owner, "email": None, **owner_obj}
        html = f"{self.web_base}/{owner}/{repo}"
        api = f"{self.api_base}/repos/{owner}/{repo}"
        default_branch = self.default_branch(owner, repo)
        obj: dict[str, Any] = {
            "id": meta["id"],
            "node_id": _node_id("Repository", meta["id"]),
            "name": repo,
            "full_name": f"{owner}/{repo}",
            "private": meta.get("private", True),
            "owner": owner_obj,
            "html_url": html,
            "description": None,
            "fork": False,
            "url": html if push_event else api,
        }
        for key, suffix in _REPO_API_URLS:
            obj[key] = api + suffix
        pushed = int(meta.get("pushed_at", meta["created_at"]))
        obj.update(
            {
                "created_at": meta["created_at"] if push_event else _epoch_iso(meta["created_at"]),
                "updated_at": _now_iso(),
                "pushed_at": pushed if push_event else _epoch_iso(pushed),
                "git_url": f"git://{self.host}/{owner}/{repo}.git",
                "ssh_url": f"git@{self.host.split(':')[0]}:{owner}/{repo}.git",
                "clone_url": self.clone_url(owner, repo),
                "svn_url": html,
                "homepage": None,
                "size": 0,
                "stargazers_count": 0,
                "watchers_count": 0,
                "language": None,
                "has_issues": True,
                "has_projects": True,
                "has_downloads": True,
                "has_wiki": True,
                "has_pages": False,
                "forks_count": 0,
                "mirror_url": None,
                "archived": False,
                "disabled": False,
                "open_issues_count": 0,
                "license": None,
                "forks": 0,
                "open_issues": 0,
                "watchers": 0,
                "default_branch": default_branch,
                "is_template": False,
                "topics": [],
                "visibility": "private" if meta.get("private", True) else "public",
                "web_commit_signoff_required": False,
                "custom_properties": {},
            }
        )
        if push_event:
            obj["stargazers"] = 0
            obj["master_branch"] = default_branch
        return obj

    def _commit_object(self, path: Path, owner: str, repo: str, sha: str, distinct: bool) -> dict[str, Any]:
        info = _commit_info(path, sha)
        added, removed, modified = _changed_files(path, sha, info["parents"])
        return {
            "id": sha,
            "tree_id": info["tree"],
            "distinct": distinct,
            "message": info["message"],
            "timestamp": info["author_date"],
            "url": f"{self.web_base}/{owner}/{repo}/commit/{sha}",
            "author": {
                "name": info["author_name"],
                "email": info["author_email"],
                "username": _login_for(info["author_name"]),
            },
            "committer": {
                "name": info["committer_name"],
                "email": info["committer_email"],
                "username": _login_for(info["committer_name"]),
            },
            "added": added,
            "removed": removed,
            "modified": modified,
        }

    def push_payload(self, record: PushRecord, *, installation_id: int | None = None) -> dict[str, Any]:
        """The push event GHE sends for ``record``."""
        path = self._require_repo(record.owner, record.repo)
        html = f"{self.web_base}/{record.owner}/{record.repo}"
        if record.deleted:
            compare = f"{html}/compare/{record.before[:12]}...{ZERO_SHA[:12]}"
        elif record.created:
            compare = f"{html}/commit/{record.after}"
        else:
            compare = f"{html}/compare/{record.before[:12]}...{record.after[:12]}"
        commits = [
            self._commit_object(path, record.owner, record.repo, sha, sha in record.distinct_shas)
            for sha in record.commit_shas
        ]
        head_commit = None
        if not record.deleted:
            head_commit = next((c for c in commits if c["id"] == record.after), None) or self._commit_object(
                path, record.owner, record.repo, record.after, record.after in record.distinct_shas
            )
        payload: dict[str, Any] = {
            "ref": record.ref,
            "before": record.before,
            "after": record.after,
            "created": record.created,
            "deleted": record.deleted,
            "forced": record.forced,
            "base_ref": record.base_ref,
            "compare": compare,
            "commits": commits,
            "head_commit": head_commit,
            "repository": self.repository_object(record.owner, record.repo, push_event=True),
            "pusher": {"name": record.pusher_name, "email": record.pusher_email},
            "sender": self.user_object(record.pusher_name),
        }
        if self._repo_meta(record.owner, record.repo).get("owner_type") == "Organization":
            payload["organization"] = self._organization_object(record.owner)
        if installation_id is not None:
            payload["installation"] = {
                "id": installation_id,
                "node_id": _node_id("Installation", installation_id),
            }
        return payload

    def ping_payload(self, owner: str, repo: str, webhook_url: str, content_type: str = "json") -> dict[str, Any]:
        meta = self._repo_meta(owner, repo)
        hook_id = meta["hook_id"]
        hooks = f"{self.api_base}/repos/{owner}/{repo}/hooks/{hook_id}"
        now = _now_iso()
        return {
            "zen": "Keep it logically awesome.",
            "hook_id": hook_id,
            "hook": {
                "type": "Repository",
                "id": hook_id,
                "name": "web",
                "active": True,
                "events": ["push"],
                "config": {"content_type": content_type, "url": webhook_url, "insecure_ssl": "0"},
                "updated_at": now,
                "created_at": now,
                "url": hooks,
                "test_url": f"{hooks}/test",
                "ping_url": f"{hooks}/pings",
                "deliveries_url": f"{hooks}/deliveries",
                "last_response": {"code": None, "status": "unused", "message": None},
            },
            "repository": self.repository_object(owner, repo),
            "sender": self.user_object(self.api_user),
        }

    def _organization_object(self, login: str) -> dict[str, Any]:
        org_id = self._user_id(login)
        api = f"{self.api_base}/orgs/{login}"
        return {
            "login": login,
            "id": org_id,
            "node_id": _node_id("Organization", org_id),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.web_base}/avatars/u/{org_id}?",
            "description": None,
        }

    # ----- delivery

    def headers(
        self,
        body: bytes,
        secret: str | None,
        event: str = "push",
        *,
        content_type: str = "json",
        delivery_id: str | None = None,
        hook_id: int | None = None,
        target_id: int | None = None,
    ) -> dict[str, str]:
        """The headers hookshot sends with ``body``; no signature headers when the hook has no secret."""
        headers = {
            "Accept": "*/*",
            "User-Agent": HOOKSHOT_VERSION,
            "Content-Type": "application/json" if content_type == "json" else "application/x-www-form-urlencoded",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": str(hook_id if hook_id is not None else 400_001),
            "X-GitHub-Enterprise-Host": self.host,
            "X-GitHub-Enterprise-Version": ENTERPRISE_VERSION,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(target_id if target_id is not None else 100_000),
        }
        if secret:
            headers["X-Hub-Signature"] = sign_sha1(body, secret)
            headers["X-Hub-Signature-256"] = sign(body, secret)
        return headers

    def deliver(
        self,
        url: str,
        payload: dict[str, Any],
        secret: str | None,
        event: str = "push",
        content_type: str = "json",
        *,
        delivery_id: str | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, str, str]:
        """POST the event to ``url`` as hookshot does; returns (status, response text, delivery id).

        ``delivery_id`` redelivers: GitHub keeps the GUID of the original delivery.
        """
        import requests

        body = encode_body(payload, content_type)
        hook_id = target_id = None
        repo = payload.get("repository") or {}
        owner_login = (repo.get("owner") or {}).get("login")
        if owner_login and repo.get("name") and self.has_repo(owner_login, repo["name"]):
            meta = self._repo_meta(owner_login, repo["name"])
            hook_id, target_id = meta["hook_id"], meta["id"]
        headers = self.headers(
            body,
            secret,
            event,
            content_type=content_type,
            delivery_id=delivery_id,
            hook_id=hook_id,
            target_id=target_id,
        )
        started = time.monotonic()
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
        self.deliveries.append(
            {
                "id": headers["X-GitHub-Delivery"],
                "event": event,
                "url": url,
                "status_code": response.status_code,
                "duration": round(time.monotonic() - started, 3),
                "delivered_at": _now_iso(),
                "redelivery": delivery_id is not None,
            }
        )
        return response.status_code, response.text, headers["X-GitHub-Delivery"]

    # ----- recorded API state

    def set_outage(self, down: bool) -> None:
        """While down, every API call answers 503 (for "a GHE outage never fails a deployment")."""
        self._outage = down

    @property
    def outage(self) -> bool:
        return self._outage

    def statuses(self, owner: str, repo: str, sha: str) -> list[dict[str, Any]]:
        """Commit statuses of ``sha`` (or a ref), newest first."""
        resolved = self.resolve(owner, repo, sha) if self.has_repo(owner, repo) else None
        state = self._read_repo_state(owner, repo)
        return list(reversed(state["statuses"].get(resolved or sha, [])))

    def add_status(
        self, owner: str, repo: str, sha: str, state: str, *, description: str | None = None,
        target_url: str | None = None, context: str = "default",
    ) -> dict[str, Any]:
        """Record a commit status of ``sha`` (a full commit id), as the statuses API does."""
        if state not in STATUS_STATES:
            raise ValueError(f"a commit status state must be one of {', '.join(STATUS_STATES)}, got {state!r}")
        now = _now_iso()
        status_id = self._next_id("next_status_id")
        status = {
            "url": f"{self.api_base}/repos/{owner}/{repo}/statuses/{sha}",
            "avatar_url": None,
            "id": status_id,
            "node_id": _node_id("StatusContext", status_id),
            "state": state,
            "description": description,
            "target_url": target_url,
            "context": context,
            "created_at": now,
            "updated_at": now,
            "creator": self.user_object(self.api_user),
        }
        self._append(owner, repo, "statuses", status, key=sha)
        return status

    def settle_pending(self, description: str) -> list[dict[str, Any]]:
        """Mark every commit status still ``pending`` (the newest of its context) as ``error``.

        For a restart of the local cloud: the executions that would have settled them are gone.
        Returns the statuses added, each with ``repository`` and ``sha``.
        """
        settled = []
        repos_dir = self._state_dir / "repos"
        for path in sorted(repos_dir.glob("*/*.json")) if repos_dir.is_dir() else ():
            owner, repo = path.parent.name, path.stem
            for sha, recorded in self._read_repo_state(owner, repo)["statuses"].items():
                for latest in _latest_per_context(reversed(recorded)):
                    if latest["state"] != "pending":
                        continue
                    status = self.add_status(owner, repo, sha, "error", description=description,
                                             target_url=latest.get("target_url"), context=latest["context"])
                    settled.append({**status, "repository": f"{owner}/{repo}", "sha": sha})
        return settled

    def combined_status(self, owner: str, repo: str, sha: str) -> dict[str, Any]:
        latest = _latest_per_context(self.statuses(owner, repo, sha))
        return {"state": _combined_state(latest), "statuses": latest, "total_count": len(latest)}

    def deployments(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """Deployments of the repository, newest first."""
        return list(reversed(self._read_repo_state(owner, repo)["deployments"]))

    def deployment_statuses(self, owner: str, repo: str, deployment_id: int) -> list[dict[str, Any]]:
        state = self._read_repo_state(owner, repo)
        return list(reversed(state["deployment_statuses"].get(str(deployment_id), [])))

    # ----- persistence

    @property
    def _state_dir(self) -> Path:
        return self.root / ".ghe"

    def _read_meta(self) -> dict[str, Any]:
        return _read_json(self._state_dir / "meta.json", {})

    def _write_meta(self, meta: dict[str, Any]) -> None:
        _write_json(self._state_dir / "meta.json", meta)

    def _user_id(self, login: str) -> int:
        with self._lock:
            meta = self._read_meta()
            users = meta.setdefault("users", {})
            if login.lower() not in users:
                users[login.lower()] = 1000 + len(users) + 1
                self._write_meta(meta)
            return int(users[login.lower()])

    def _next_id(self, counter: str) -> int:
        with self._lock:
            meta = self._read_meta()
            value = int(meta.get(counter, 1))
            meta[counter] = value + 1
            self._write_meta(meta)
            return value

    def _repo_state_path(self, owner: str, repo: str) -> Path:
        return self._state_dir / "repos" / owner.lower() / f"{repo.lower()}.json"

    def _read_repo_state(self, owner: str, repo: str) -> dict[str, Any]:
        state = _read_json(self._repo_state_path(owner, repo), {})
        state.setdefault("statuses", {})
        state.setdefault("deployments", [])
        state.setdefault("deployment_statuses", {})
        return state

    def _write_repo_state(self, owner: str, repo: str, state: dict[str, Any]) -> None:
        _write_json(self._repo_state_path(owner, repo), state)

    def _append(self, owner: str, repo: str, section: str, record: dict[str, Any], key: str | None = None) -> None:
        """Add ``record`` to the repository's ``section`` (to its list under ``key``: statuses by commit...)."""
        with self._lock:
            state = self._read_repo_state(owner, repo)
            records = state[section] if key is None else state[section].setdefault(key, [])
            records.append(record)
            self._write_repo_state(owner, repo, state)


_REPO_API_URLS = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)


# ----- git helpers


def _git(
    repo: Path | None,
    *args: str,
    bare: bool = True,
    check: bool = True,
    want_code: bool = False,
    binary: bool = False,
) -> Any:
    cmd = ["git"]
    if repo is not None:
        cmd += ["--git-dir", str(repo)] if bare else ["-C", str(repo)]
    cmd += list(args)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    if want_code:
        return str(proc.returncode)
    if proc.returncode != 0 and check:
        raise GitError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    if proc.returncode != 0:
        return b"" if binary else ""
    return proc.stdout if binary else proc.stdout.decode(errors="replace")


def _commit_info(path: Path, sha: str) -> dict[str, Any]:
    fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
    fields = _git(path, "show", "-s", f"--format={fmt}", sha).split("\x00", 9)
    return {
        "sha": fields[0],
        "tree": fields[1],
        "parents": fields[2].split(),
        "author_name": fields[3],
        "author_email": fields[4],
        "author_date": _iso_z(fields[5]),
        "committer_name": fields[6],
        "committer_email": fields[7],
        "committer_date": _iso_z(fields[8]),
        "message": fields[9].rstrip("\n"),
    }


def _changed_files(path: Path, sha: str, parents: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Files added, removed and modified by ``sha`` against its first parent (renames as remove + add)."""
    base = ["--root", sha] if not parents else [parents[0], sha]
    out = _git(path, "diff-tree", "-r", "-z", "--no-renames", "--name-status", *base)
    tokens = [t for t in out.split("\x00") if t]
    if not parents and tokens and tokens[0] == sha:
        tokens = tokens[1:]
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    for status, name in zip(tokens[0::2], tokens[1::2], strict=False):
        {"A": added, "D": removed}.get(status[0], modified).append(name)
    return added, removed, modified


def _epoch_iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def _latest_per_context(statuses_newest_first: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for status in statuses_newest_first:
        seen.setdefault(status["context"], status)
    return list(seen.values())


def _combined_state(latest: list[dict[str, Any]]) -> str:
    states = {s["state"] for s in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


# ----- the REST API


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(value, indent=1), status=status, content_type="application/json; charset=utf-8")
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    response.headers["X-GitHub-Enterprise-Version"] = ENTERPRISE_VERSION
    for key, val in (headers or {}).items():
        response.headers[key] = val
    return response


def _error(status: int, message: str, **extra: Any) -> Response:
    return _json({"message": message, **extra, "documentation_url": DOCS_URL}, status)


class _ApiApp:
    """WSGI app for the GHE REST API subset, mounted at /api/v3 (PATH_INFO is relative to the mount)."""

    def __init__(self, ghe: LocalGHE) -> None:
        self.ghe = ghe
        repo = "/repos/<owner>/<repo>"
        self.url_map = Map(
            [
                Rule(repo, endpoint="repo", methods=["GET"]),
                Rule(f"{repo}/contents/", endpoint="contents", defaults={"path": ""}, methods=["GET"]),
                Rule(f"{repo}/contents/<path:path>", endpoint="contents", methods=["GET"]),
                Rule(f"{repo}/commits/<path:ref>/statuses", endpoint="list_statuses", methods=["GET"]),
                Rule(f"{repo}/commits/<path:ref>/status", endpoint="combined_status", methods=["GET"]),
                Rule(f"{repo}/commits/<path:ref>", endpoint="commit", methods=["GET"]),
                Rule(f"{repo}/compare/<path:basehead>", endpoint="compare", methods=["GET"]),
                Rule(f"{repo}/statuses/<path:ref>", endpoint="list_statuses", methods=["GET"]),
                Rule(f"{repo}/statuses/<path:ref>", endpoint="create_status", methods=["POST"]),
                Rule(f"{repo}/deployments", endpoint="list_deployments", methods=["GET"]),
                Rule(f"{repo}/deployments", endpoint="create_deployment", methods=["POST"]),
                Rule(f"{repo}/deployments/<int:deployment_id>", endpoint="get_deployment", methods=["GET"]),
                Rule(
                    f"{repo}/deployments/<int:deployment_id>/statuses",
                    endpoint="list_deployment_statuses",
                    methods=["GET"],
                ),
                Rule(
                    f"{repo}/deployments/<int:deployment_id>/statuses",
                    endpoint="create_deployment_status",
                    methods=["POST"],
                ),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        ghe = self.ghe
        if ghe.outage:
            return _json({"message": "Service Unavailable (simulated GHE outage)"}, 503)
        if ghe.token is not None and not _token_matches(request.headers.get("Authorization", ""), ghe.token):
            return _error(401, "Bad credentials")
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            return _error(404, "Not Found")
        owner, repo = args.pop("owner"), args.pop("repo")
        if not ghe.has_repo(owner, repo):
            return _error(404, "Not Found")
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                return _error(400, "Problems parsing JSON")
            if not isinstance(body, dict):
                return _error(400, "Problems parsing JSON")
        handler = getattr(self, f"_{endpoint}")
        try:
            return handler(request, owner, repo, body=body, **args)
        except GHEError as exc:
            return _error(404, "Not Found", detail=str(exc))

    # -- repos, contents, commits

    def _repo(self, request: Request, owner: str, repo: str, **_: Any) -> Response:
        return _json(self.ghe.repository_object(owner, repo))

    def _contents(self, request: Request, owner: str, repo: str, path: str, **_: Any) -> Response:
        ghe = self.ghe
        ref = request.args.get("ref") or ghe.default_branch(owner, repo)
        sha = ghe.resolve(owner, repo, ref)
        if sha is None:
            return _error(404, f"No commit found for the ref {ref}")
        path = path.strip("/")
        if any(part in ("..", ".") for part in path.split("/")):
            return _error(404, "Not Found")
        git_dir = ghe._require_repo(owner, repo)
        spec = f"{sha}:{path}"
        kind = _git(git_dir, "cat-file", "-t", spec, check=False).strip()
        if kind == "tree":
            entries = []
            for line in _git(git_dir, "ls-tree", "-z", "--long", spec).split("\x00"):
                if not line:
                    continue
                meta, name = line.split("\t", 1)
                _mode, otype, osha, size = meta.split()
                child = f"{path}/{name}" if path else name
                entries.append(self._content_entry(owner, repo, ref, child, osha, otype, size))
            return _json(entries)
        if kind != "blob":
            return _error(404, "Not Found")
        data = _git(git_dir, "cat-file", "blob", spec, binary=True)
        blob_sha = _git(git_dir, "rev-parse", spec).strip()
        if "application/vnd.github.raw" in request.headers.get("Accept", ""):
            return Response(data, content_type="application/octet-stream")
        entry = self._content_entry(owner, repo, ref, path, blob_sha, "blob", str(len(data)))
        if len(data) > CONTENTS_API_MAX_BYTES:  # as GHE: no content over 1 MB, `encoding: none`
            entry.update(content="", encoding="none")
            return _json(entry)
        encoded = base64.b64encode(data).decode()
        entry.update(
            content="\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
            encoding="base64",
        )
        return _json(entry)

    def _content_entry(
        self, owner: str, repo: str, ref: str, path: str, sha: str, otype: str, size: str
    ) -> dict[str, Any]:
        ghe = self.ghe
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(otype, otype)
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        url = f"{api}/contents/{path}?ref={ref}"
        html = f"{ghe.web_base}/{owner}/{repo}/{'blob' if kind == 'file' else 'tree'}/{ref}/{path}"
        git_url = f"{api}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
        return {
            "type": kind,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": int(size) if size.isdigit() else 0,
            "url": url,
            "html_url": html,
            "git_url": git_url,
            "download_url": f"{ghe.web_base}/raw/{owner}/{repo}/{ref}/{path}" if kind == "file" else None,
            "_links": {"self": url, "git": git_url, "html": html},
        }

    def _compare(self, request: Request, owner: str, repo: str, basehead: str, **_: Any) -> Response:
        """How ``head`` relates to ``base`` (GitHub's compare: ahead, behind, identical or diverged)."""
        base_ref, separator, head_ref = basehead.partition("...")
        if not separator:
            return _error(404, "Not Found")
        ghe = self.ghe
        base, head = ghe.resolve(owner, repo, base_ref), ghe.resolve(owner, repo, head_ref)
        if base is None or head is None:
            return _error(404, f"No common ancestor between {base_ref} and {head_ref}." if base and head else
                          f"Not Found: {base_ref if base is None else head_ref}")
        git_dir = ghe._require_repo(owner, repo)
        behind_by, ahead_by = (int(n) for n in _git(git_dir, "rev-list", "--left-right", "--count",
                                                     f"{base}...{head}").split())
        status = ("identical" if not ahead_by and not behind_by else "ahead" if not behind_by
                  else "behind" if not ahead_by else "diverged")
        merge_base = _git(git_dir, "merge-base", base, head, check=False).strip()
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        return _json({
            "url": f"{api}/compare/{basehead}",
            "status": status,
            "ahead_by": ahead_by,
            "behind_by": behind_by,
            "total_commits": ahead_by,
            "base_commit": {"sha": base, "url": f"{api}/commits/{base}"},
            "merge_base_commit": {"sha": merge_base, "url": f"{api}/commits/{merge_base}"} if merge_base else None,
        })

    def _commit(self, request: Request, owner: str, repo: str, ref: str, **_: Any) -> Response:
        ghe = self.ghe
        sha = ghe.resolve(owner, repo, ref)
        if sha is None:
            return _error(422, f"No commit found for SHA: {ref}")
        git_dir = ghe._require_repo(owner, repo)
        info = _commit_info(git_dir, sha)
        added, removed, modified = _changed_files(git_dir, sha, info["parents"])
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        html = f"{ghe.web_base}/{owner}/{repo}"
        files = [{"filename": f, "status": "added"} for f in added]
        files += [{"filename": f, "status": "removed"} for f in removed]
        files += [{"filename": f, "status": "modified"} for f in modified]
        return _json(
            {
                "sha": sha,
                "node_id": _node_id("Commit", int(sha[:7], 16)),
                "commit": {
                    "author": {
                        "name": info["author_name"],
                        "email": info["author_email"],
                        "date": info["author_date"],
                    },
                    "committer": {
                        "name": info["committer_name"],
                        "email": info["committer_email"],
                        "date": info["committer_date"],
                    },
                    "message": info["message"],
                    "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
                    "url": f"{api}/git/commits/{sha}",
                    "comment_count": 0,
                },
                "url": f"{api}/commits/{sha}",
                "html_url": f"{html}/commit/{sha}",
                "author": ghe.user_object(_login_for(info["author_name"])),
                "committer": ghe.user_object(_login_for(info["committer_name"])),
                "parents": [
                    {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"} for p in info["parents"]
                ],
                "files": files,
            }
        )

    # -- commit statuses

    def _create_status(self, request: Request, owner: str, repo: str, ref: str, body: dict[str, Any]) -> Response:
        ghe = self.ghe
        state = body.get("state")
        if state not in STATUS_STATES:
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Status",
                        "field": "state",
                        "code": "custom",
                        "message": f"state is not included in the list {list(STATUS_STATES)}, got {state!r}",
                    }
                ],
            )
        sha = ghe.resolve(owner, repo, ref)
        if sha is None:
            return _error(422, f"No commit found for SHA: {ref}")
        status = ghe.add_status(owner, repo, sha, state, description=body.get("description"),
                                target_url=body.get("target_url"), context=body.get("context") or "default")
        return _json(status, 201)

    def _list_statuses(self, request: Request, owner: str, repo: str, ref: str, **_: Any) -> Response:
        sha = self.ghe.resolve(owner, repo, ref)
        return _json(self.ghe.statuses(owner, repo, sha) if sha else [])

    def _combined_status(self, request: Request, owner: str, repo: str, ref: str, **_: Any) -> Response:
        ghe = self.ghe
        sha = ghe.resolve(owner, repo, ref)
        if sha is None:
            return _error(422, f"No commit found for SHA: {ref}")
        combined = ghe.combined_status(owner, repo, sha)
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        return _json(
            {
                **combined,
                "sha": sha,
                "repository": ghe.repository_object(owner, repo),
                "commit_url": f"{api}/commits/{sha}",
                "url": f"{api}/commits/{sha}/status",
            }
        )

    # -- deployments

    def _create_deployment(self, request: Request, owner: str, repo: str, body: dict[str, Any], **_: Any) -> Response:
        ghe = self.ghe
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            return _error(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        sha = ghe.resolve(owner, repo, ref)
        if sha is None:
            return _error(422, f"No ref found for: {ref}")
        required = body.get("required_contexts")
        latest = {s["context"]: s["state"] for s in _latest_per_context(ghe.statuses(owner, repo, sha))}
        contexts = list(latest) if required is None else list(required)
        failing = [c for c in contexts if latest.get(c) != "success"]
        if failing:
            return _error(
                409,
                f"Conflict: Commit status checks failed for {ref}.",
                errors=[
                    {
                        "contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failing],
                        "resource": "Deployment",
                        "field": "required_contexts",
                        "code": "invalid",
                    }
                ],
            )
        environment = body.get("environment") or "production"
        now = _now_iso()
        deployment_id = ghe._next_id("next_deployment_id")
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        deployment = {
            "url": f"{api}/deployments/{deployment_id}",
            "id": deployment_id,
            "node_id": _node_id("Deployment", deployment_id),
            "sha": sha,
            "ref": ref,
            "task": body.get("task") or "deploy",
            "payload": body.get("payload") if body.get("payload") is not None else {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": ghe.user_object(ghe.api_user),
            "created_at": now,
            "updated_at": now,
            "statuses_url": f"{api}/deployments/{deployment_id}/statuses",
            "repository_url": api,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", environment == "production")),
        }
        ghe._append(owner, repo, "deployments", deployment)
        return _json(deployment, 201)

    def _list_deployments(self, request: Request, owner: str, repo: str, **_: Any) -> Response:
        found = self.ghe.deployments(owner, repo)
        for key in ("sha", "ref", "task", "environment"):
            wanted = request.args.get(key)
            if wanted:
                found = [d for d in found if d.get(key) == wanted]
        return _json(found)

    def _find_deployment(self, owner: str, repo: str, deployment_id: int) -> dict[str, Any] | None:
        return next((d for d in self.ghe.deployments(owner, repo) if d["id"] == deployment_id), None)

    def _get_deployment(self, request: Request, owner: str, repo: str, deployment_id: int, **_: Any) -> Response:
        deployment = self._find_deployment(owner, repo, deployment_id)
        return _json(deployment) if deployment else _error(404, "Not Found")

    def _create_deployment_status(
        self, request: Request, owner: str, repo: str, deployment_id: int, body: dict[str, Any]
    ) -> Response:
        ghe = self.ghe
        deployment = self._find_deployment(owner, repo, deployment_id)
        if deployment is None:
            return _error(404, "Not Found")
        state = body.get("state")
        if state not in DEPLOYMENT_STATUS_STATES:
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "DeploymentStatus",
                        "field": "state",
                        "code": "custom",
                        "message": f"state is not included in the list {list(DEPLOYMENT_STATUS_STATES)}, got {state!r}",
                    }
                ],
            )
        now = _now_iso()
        status_id = ghe._next_id("next_deployment_status_id")
        api = f"{ghe.api_base}/repos/{owner}/{repo}"
        status = {
            "url": f"{api}/deployments/{deployment_id}/statuses/{status_id}",
            "id": status_id,
            "node_id": _node_id("DeploymentStatus", status_id),
            "state": state,
            "creator": ghe.user_object(ghe.api_user),
            "description": body.get("description") or "",
            "environment": body.get("environment") or deployment["environment"],
            "target_url": body.get("target_url") or body.get("log_url") or "",
            "log_url": body.get("log_url") or body.get("target_url") or "",
            "environment_url": body.get("environment_url") or "",
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": api,
        }
        ghe._append(owner, repo, "deployment_statuses", status, key=str(deployment_id))
        return _json(status, 201)

    def _list_deployment_statuses(
        self, request: Request, owner: str, repo: str, deployment_id: int, **_: Any
    ) -> Response:
        if self._find_deployment(owner, repo, deployment_id) is None:
            return _error(404, "Not Found")
        return _json(self.ghe.deployment_statuses(owner, repo, deployment_id))


def _token_matches(authorization: str, token: str) -> bool:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())
