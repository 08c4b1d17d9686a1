"""A small GHE REST API client (urllib only: the Lambda layer carries no HTTP library).

``ghe_api()`` is the client every step uses: the orchestrator's API URL and its token secret.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import IO, Any
from urllib.parse import quote, urlsplit

from stepdeploy.aws.secrets import secret_value
from stepdeploy.errors import ServiceThrottled, ServiceUnavailable
from stepdeploy.settings import settings

TIMEOUT_SECONDS = 10


class GheError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"GHE API answered {status}: {message}")
        self.status = status


class FileTooLarge(Exception):
    """The contents API does not return files over 1 MB (``encoding: none``, empty ``content``), or the
    file is over the caller's limit."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__(f"{path} is {size} bytes")
        self.path = path
        self.size = size


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the API's own origin: urllib would carry the token's Authorization
    header to any host a redirect names."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if origin(newurl) != origin(req.full_url):
            raise GheError(
                code,
                f"redirect from {origin(req.full_url)[1]} to another origin {newurl[:200]!r} refused; "
                "the GHE token is sent only to the configured GHE host (scheme, host and port)",
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(SameOriginRedirects)


class GheApi:
    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"token {self._token}",
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
                "User-Agent": "stepdeploy",
            },
        )
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in (403, 429) and "rate limit" in detail.lower():
                raise ServiceThrottled(f"GHE API rate limit on {method} {path}") from None
            if exc.code >= 500:
                raise ServiceUnavailable(f"GHE API {method} {path} answered {exc.code}") from None
            raise GheError(exc.code, detail) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ServiceUnavailable(f"cannot reach GHE at {self.api_url}: {exc}") from None
        return json.loads(raw) if raw else None

    def file_at(self, repository: str, path: str, ref: str, max_bytes: int | None = None) -> bytes | None:
        """The file's bytes at the commit, or None when it does not exist there; FileTooLarge when
        GHE does not send it (over 1 MB) or it is over ``max_bytes``."""
        try:
            content = self._request("GET", f"/repos/{repository}/contents/{quote(path)}?ref={quote(ref)}")
        except GheError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(content, dict) or content.get("type") != "file":
            return None
        size = int(content.get("size") or 0)
        if (max_bytes is not None and size > max_bytes) or (
            content.get("encoding") == "none" or (size and not content.get("content"))
        ):
            raise FileTooLarge(path, size)
        data = base64.b64decode(content.get("content", ""))
        if max_bytes is not None and len(data) > max_bytes:
            raise FileTooLarge(path, len(data))
        return data

    def commit_sha(self, repository: str, ref: str) -> str:
        """The full SHA GHE resolves ``ref`` (a SHA, full or abbreviated, a branch or a tag) to."""
        answer = self._request("GET", f"/repos/{repository}/commits/{quote(ref)}")
        return str(answer.get("sha") or "") if isinstance(answer, dict) else ""

    def compare(self, repository: str, base: str, head: str) -> str:
        """How ``head`` relates to ``base``: "ahead", "behind", "identical" or "diverged"."""
        answer = self._request("GET", f"/repos/{repository}/compare/{quote(base)}...{quote(head)}")
        return str(answer.get("status")) if isinstance(answer, dict) else "unknown"

    def create_status(
        self, repository: str, sha: str, state: str, description: str, target_url: str | None, context: str
    ) -> None:
        body = {"state": state, "description": description[:140], "context": context}
        if target_url:
            body["target_url"] = target_url
        self._request("POST", f"/repos/{repository}/statuses/{sha}", body)

    def create_deployment(
        self, repository: str, ref: str, environment: str, *, description: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """A deployment record of ``ref`` to ``environment``; no auto-merge, no required status checks
        (our own pending status would otherwise make GHE refuse it with 409)."""
        body = {
            "ref": ref,
            "task": "deploy",
            "environment": environment,
            "description": description[:140],
            "payload": payload,
            "auto_merge": False,
            "required_contexts": [],
        }
        return dict(self._request("POST", f"/repos/{repository}/deployments", body))

    def deployments(self, repository: str, *, sha: str, environment: str) -> list[dict[str, Any]]:
        """Deployments of ``sha`` to ``environment``, newest first."""
        query = f"sha={quote(sha)}&environment={quote(environment)}&task=deploy&per_page=100"
        found = self._request("GET", f"/repos/{repository}/deployments?{query}")
        return [d for d in found or [] if isinstance(d, dict)]

    def create_deployment_status(
        self, repository: str, deployment_id: int, state: str, description: str, log_url: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state, "description": description[:140]}
        if log_url:
            body["log_url"] = log_url
        return dict(self._request("POST", f"/repos/{repository}/deployments/{deployment_id}/statuses", body))


def ghe_api() -> GheApi:
    """The orchestrator's GHE client: its API URL and the token from its secret (cached a few minutes)."""
    s = settings()
    return GheApi(s.ghe_api_url, secret_value(s.ghe_token_secret_arn) or "")
