"""The local GHE: pushes, push payloads shaped like GitHub's, signatures, and the REST API subset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from stepdeploy_localcloud.ghe.server import ZERO_SHA, GHEError, LocalGHE, encode_body, sign

pytestmark = pytest.mark.localcloud

FIXTURES = Path("/work/shared/fixtures/github")
if not FIXTURES.is_dir():
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "github"
HOST = "ghe.example.test"
TOKEN = "t0ken"
AUTH = {"Authorization": f"token {TOKEN}"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "Dev One")
        monkeypatch.setenv(f"{var}_EMAIL", "dev.one@example.test")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture()
def worktree(tmp_path: Path) -> Path:
    """A working tree with two commits: the second modifies a.txt, removes b.txt, adds src/c.py."""
    wt = tmp_path / "app"
    wt.mkdir()
    git(wt, "init", "-q", "-b", "main")
    (wt / "a.txt").write_text("first version\n")
    (wt / "b.txt").write_text("to be removed\n")
    git(wt, "add", ".")
    git(wt, "commit", "-q", "-m", "first commit")
    (wt / "a.txt").write_text("second version\n")
    (wt / "b.txt").unlink()
    (wt / "src").mkdir()
    (wt / "src" / "c.py").write_text("print('c')\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "second commit\n\nwith a body")
    return wt


@pytest.fixture()
def ghe(tmp_path: Path) -> LocalGHE:
    return LocalGHE(tmp_path / "ghe", HOST, token=TOKEN)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# ----- pushes and payloads


def test_first_push_payload_has_every_key_of_githubs_and_lists_both_commits(ghe: LocalGHE, worktree: Path) -> None:
    record = ghe.push(worktree, "acme", "app", "main")
    payload = ghe.push_payload(record)

    expected = fixture("push.json")
    assert set(expected) <= set(payload)
    assert set(expected["repository"]) <= set(payload["repository"])
    assert set(expected["repository"]["owner"]) <= set(payload["repository"]["owner"])
    assert set(expected["sender"]) <= set(payload["sender"])
    assert set(expected["pusher"]) == set(payload["pusher"])
    new_branch = fixture("push-new-branch.json")
    assert set(new_branch["commits"][0]) == set(payload["commits"][0])

    head = git(worktree, "rev-parse", "HEAD")
    first = git(worktree, "rev-parse", "HEAD~1")
    assert payload["ref"] == "refs/heads/main"
    assert payload["before"] == ZERO_SHA
    assert payload["after"] == head
    assert payload["created"] is True and payload["deleted"] is False and payload["forced"] is False
    assert [c["id"] for c in payload["commits"]] == [first, head]
    assert payload["head_commit"]["id"] == head
    assert payload["compare"] == f"http://{HOST}/acme/app/commit/{head}"
    assert payload["commits"][0]["added"] == ["a.txt", "b.txt"]
    assert payload["commits"][0]["message"] == "first commit"
    assert all(c["distinct"] for c in payload["commits"])
    json.dumps(payload)  # serialisable as sent


def test_second_push_lists_the_new_commit_with_its_changed_files(ghe: LocalGHE, worktree: Path) -> None:
    git(worktree, "checkout", "-q", "HEAD~1")
    first = ghe.push(worktree, "acme", "app", "main")
    git(worktree, "checkout", "-q", "main")
    record = ghe.push(worktree, "acme", "app", "main")
    payload = ghe.push_payload(record)

    head = git(worktree, "rev-parse", "HEAD")
    assert payload["before"] == first.after
    assert payload["after"] == head
    assert payload["created"] is False and payload["forced"] is False
    (commit,) = payload["commits"]
    assert commit["id"] == head
    assert commit["tree_id"] == git(worktree, "rev-parse", "HEAD^{tree}")
    assert commit["message"] == "second commit\n\nwith a body"
    assert commit["modified"] == ["a.txt"]
    assert commit["removed"] == ["b.txt"]
    assert commit["added"] == ["src/c.py"]
    assert commit["author"] == {"name": "Dev One", "email": "dev.one@example.test", "username": "Dev-One"}
    assert commit["url"] == f"http://{HOST}/acme/app/commit/{head}"
    assert payload["head_commit"] == commit
    assert payload["compare"] == f"http://{HOST}/acme/app/compare/{first.after[:12]}...{head[:12]}"
    assert payload["pusher"] == {"name": "Dev-One", "email": "dev.one@example.test"}
    assert payload["sender"]["login"] == "Dev-One"


def test_repository_urls_are_ghe_style(ghe: LocalGHE, worktree: Path) -> None:
    payload = ghe.push_payload(ghe.push(worktree, "acme", "app", "main"))
    repo = payload["repository"]
    assert repo["full_name"] == "acme/app"
    assert repo["html_url"] == f"http://{HOST}/acme/app"
    assert repo["url"] == f"http://{HOST}/acme/app"
    assert repo["clone_url"] == f"http://{HOST}/acme/app.git"
    assert repo["git_url"] == f"git://{HOST}/acme/app.git"
    assert repo["ssh_url"] == f"git@{HOST}:acme/app.git"
    assert repo["default_branch"] == repo["master_branch"] == "main"
    assert repo["statuses_url"] == f"http://{HOST}/api/v3/repos/acme/app/statuses/{{sha}}"
    assert repo["owner"]["login"] == "acme"
    assert repo["owner"]["url"] == f"http://{HOST}/api/v3/users/acme"
    assert isinstance(repo["created_at"], int) and isinstance(repo["pushed_at"], int)
    api_urls = [
        v
        for k, v in repo.items()
        if k.endswith("_url") and k not in ("html_url", "clone_url", "git_url", "ssh_url", "svn_url", "mirror_url")
    ]
    assert api_urls and all(u.startswith(f"http://{HOST}/api/v3/") for u in api_urls)


def test_first_branch_pushed_becomes_the_default_branch(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "legacy", "master")
    ghe.push(worktree, "acme", "legacy", "develop")
    assert ghe.default_branch("acme", "legacy") == "master"
    listing = Client(ghe.api_app).get("/repos/acme/legacy/contents/a.txt", headers=AUTH)
    assert base64.b64decode(listing.get_json()["content"]) == b"second version\n"


def test_force_push_is_marked_forced(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    git(worktree, "reset", "-q", "--hard", "HEAD~1")
    (worktree / "d.txt").write_text("rewritten history\n")
    git(worktree, "add", ".")
    git(worktree, "commit", "-q", "-m", "rewrite")
    record = ghe.push(worktree, "acme", "app", "main")
    payload = ghe.push_payload(record)
    assert payload["forced"] is True
    assert [c["id"] for c in payload["commits"]] == [git(worktree, "rev-parse", "HEAD")]
    assert payload["commits"][0]["added"] == ["d.txt"]
    assert ghe.branch_sha("acme", "app", "main") == record.after


def test_new_branch_at_an_existing_head_has_zero_before_and_no_distinct_commits(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    payload = ghe.push_payload(ghe.push(worktree, "acme", "app", "release/1.0"))
    assert payload["ref"] == "refs/heads/release/1.0"
    assert payload["before"] == ZERO_SHA and payload["created"] is True
    assert payload["base_ref"] == "refs/heads/main"
    assert payload["commits"] == []
    assert payload["head_commit"]["distinct"] is False


def test_branch_deletion_payload(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    pushed = ghe.push(worktree, "acme", "app", "feature")
    payload = ghe.push_payload(ghe.delete_branch("acme", "app", "feature"))
    assert payload["deleted"] is True and payload["after"] == ZERO_SHA and payload["before"] == pushed.after
    assert payload["commits"] == [] and payload["head_commit"] is None
    assert ghe.branch_sha("acme", "app", "feature") is None


def test_bare_repo_serves_one_old_commit_with_depth_1(ghe: LocalGHE, worktree: Path, tmp_path: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    first = git(worktree, "rev-parse", "HEAD~1")
    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    source = ghe.clone_path(f"http://{HOST}/acme/app.git")
    git(clone, "fetch", "-q", "--depth", "1", f"file://{source}", first)
    git(clone, "checkout", "-q", "FETCH_HEAD")
    assert (clone / "a.txt").read_text() == "first version\n"
    assert git(clone, "rev-list", "--count", "HEAD") == "1"


def test_clone_path_maps_ghe_urls_and_rejects_others(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    bare = str(ghe.repo_path("acme", "app"))
    assert ghe.clone_path(f"http://{HOST}/acme/app.git") == bare
    assert ghe.clone_path(f"https://{HOST}/acme/app") == bare
    with pytest.raises(GHEError, match="not a repository URL of the local GHE"):
        ghe.clone_path("https://github.com/acme/app.git")
    with pytest.raises(GHEError, match="no repository acme/other"):
        ghe.clone_path(f"http://{HOST}/acme/other.git")


# ----- signatures and delivery


def test_githubs_documented_signature_vector() -> None:
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_headers_sign_the_exact_body(ghe: LocalGHE) -> None:
    body = encode_body({"zen": "Design for failure.", "n": 1})
    headers = ghe.headers(body, "s3cret", "ping")
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert headers["X-Hub-Signature"] == "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["X-GitHub-Event"] == "ping"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["X-GitHub-Enterprise-Host"] == HOST
    assert headers["X-GitHub-Enterprise-Version"]
    assert headers["X-GitHub-Hook-ID"].isdigit()
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert ghe.headers(body, "s3cret")["X-GitHub-Delivery"] != headers["X-GitHub-Delivery"]
    assert "X-Hub-Signature-256" not in ghe.headers(body, None)


def test_form_encoded_body_carries_the_payload_and_the_mac_covers_the_raw_body(ghe: LocalGHE) -> None:
    payload = {"ref": "refs/heads/main", "text": "a&b=c d+é"}
    body = encode_body(payload, "form")
    assert json.loads(parse_qs(body.decode())["payload"][0]) == payload
    headers = ghe.headers(body, "k", content_type="form")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[Request]]]:
    received: list[Request] = []

    @Request.application
    def app(request: Request) -> Response:
        request.get_data(cache=True)
        received.append(request)
        return Response("thanks", status=202)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    thread.join()


def test_deliver_posts_the_signed_payload(ghe: LocalGHE, worktree: Path, receiver: tuple[str, list[Request]]) -> None:
    url, received = receiver
    payload = ghe.push_payload(ghe.push(worktree, "acme", "app", "main"))
    status, text, delivery_id = ghe.deliver(url, payload, "s3cret")
    assert (status, text) == (202, "thanks")
    request = received[0]
    raw = request.get_data()
    assert json.loads(raw) == payload
    assert request.headers["X-Hub-Signature-256"] == sign(raw, "s3cret")
    assert request.headers["X-GitHub-Delivery"] == delivery_id
    assert request.headers["X-GitHub-Event"] == "push"
    assert request.headers["X-GitHub-Hook-Installation-Target-ID"] == str(payload["repository"]["id"])

    _, _, again = ghe.deliver(url, payload, "s3cret", delivery_id=delivery_id)
    assert again == delivery_id
    assert [d["redelivery"] for d in ghe.deliveries] == [False, True]

    ghe.deliver(url, payload, "s3cret", content_type="form")
    form = received[2]
    assert form.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(form.form["payload"]) == payload
    assert form.headers["X-Hub-Signature-256"] == sign(form.get_data(), "s3cret")


def test_ping_payload_has_githubs_keys(ghe: LocalGHE, worktree: Path) -> None:
    ghe.push(worktree, "acme", "app", "main")
    ping = ghe.ping_payload("acme", "app", "http://127.0.0.1:1/webhook")
    assert set(fixture("ping.json")) <= set(ping)


# ----- REST API


@pytest.fixture()
def api(ghe: LocalGHE, worktree: Path) -> Client:
    ghe.push(worktree, "acme", "app", "main")
    return Client(ghe.api_app)


def test_contents_at_a_given_commit_not_head(api: Client, worktree: Path) -> None:
    first = git(worktree, "rev-parse", "HEAD~1")
    old = api.get(f"/repos/acme/app/contents/a.txt?ref={first}", headers=AUTH)
    assert old.status_code == 200
    body = old.get_json()
    assert body["type"] == "file" and body["encoding"] == "base64"
    assert base64.b64decode(body["content"]) == b"first version\n"
    assert body["sha"] == git(worktree, "rev-parse", f"{first}:a.txt")
    assert (body["path"], body["name"], body["size"]) == ("a.txt", "a.txt", len(b"first version\n"))

    new = api.get("/repos/acme/app/contents/a.txt?ref=main", headers=AUTH).get_json()
    assert base64.b64decode(new["content"]) == b"second version\n"
    default = api.get("/repos/acme/app/contents/src/c.py", headers=AUTH).get_json()
    assert base64.b64decode(default["content"]) == b"print('c')\n"
    raw = api.get("/repos/acme/app/contents/a.txt", headers={**AUTH, "Accept": "application/vnd.github.raw"})
    assert raw.data == b"second version\n"

    missing = api.get(f"/repos/acme/app/contents/src/c.py?ref={first}", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["message"] == "Not Found"
    assert api.get("/repos/acme/app/contents/nope.txt", headers=AUTH).status_code == 404
    listing = api.get("/repos/acme/app/contents/", headers=AUTH).get_json()
    assert {(e["name"], e["type"]) for e in listing} == {("a.txt", "file"), ("src", "dir")}


def test_commit_endpoint(api: Client, worktree: Path) -> None:
    head = git(worktree, "rev-parse", "HEAD")
    body = api.get("/repos/acme/app/commits/main", headers=AUTH).get_json()
    assert body["sha"] == head
    assert body["commit"]["message"] == "second commit\n\nwith a body"
    assert body["commit"]["author"]["name"] == "Dev One"
    assert [p["sha"] for p in body["parents"]] == [git(worktree, "rev-parse", "HEAD~1")]
    assert api.get(f"/repos/acme/app/commits/{head[:10]}", headers=AUTH).get_json()["sha"] == head
    assert api.get("/repos/acme/app/commits/no-such-ref", headers=AUTH).status_code == 422


def test_compare_says_how_head_relates_to_base(api: Client, ghe: LocalGHE, worktree: Path) -> None:
    first, head = git(worktree, "rev-parse", "HEAD~1"), git(worktree, "rev-parse", "HEAD")
    git(worktree, "checkout", "-q", "-b", "side", first)
    (worktree / "side.txt").write_text("side\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "side")
    ghe.push(worktree, "acme", "app", "side")
    side = git(worktree, "rev-parse", "HEAD")

    def compare(base: str, other: str) -> dict[str, Any]:
        answer = api.get(f"/repos/acme/app/compare/{base}...{other}", headers=AUTH)
        assert answer.status_code == 200, answer.data
        return dict(answer.get_json())

    ahead = compare(first, head)
    assert (ahead["status"], ahead["ahead_by"], ahead["behind_by"]) == ("ahead", 1, 0)
    assert ahead["merge_base_commit"]["sha"] == first
    assert compare(head, first)["status"] == "behind"
    assert compare("main", head[:10])["status"] == "identical"
    diverged = compare("main", "side")
    assert (diverged["status"], diverged["ahead_by"], diverged["behind_by"]) == ("diverged", 1, 1)
    assert diverged["merge_base_commit"]["sha"] == first
    assert api.get(f"/repos/acme/app/compare/{first}...{'f' * 40}", headers=AUTH).status_code == 404
    assert side != head


def test_commit_statuses_are_recorded_listed_combined_and_persisted(api: Client, ghe: LocalGHE, worktree: Path) -> None:
    head = git(worktree, "rev-parse", "HEAD")
    created = api.post(
        f"/repos/acme/app/statuses/{head}",
        json={
            "state": "pending",
            "target_url": "http://x/1",
            "description": "deploying",
            "context": "stepdeploy/dev",
        },
        headers=AUTH,
    )
    assert created.status_code == 201
    assert created.get_json()["state"] == "pending" and created.get_json()["context"] == "stepdeploy/dev"
    api.post(
        f"/repos/acme/app/statuses/{head}",
        json={"state": "success", "context": "stepdeploy/dev"},
        headers=AUTH,
    )
    api.post(f"/repos/acme/app/statuses/{head}", json={"state": "failure", "context": "lint"}, headers=AUTH)

    listed = api.get("/repos/acme/app/commits/main/statuses", headers=AUTH).get_json()
    assert [(s["context"], s["state"]) for s in listed] == [
        ("lint", "failure"),
        ("stepdeploy/dev", "success"),
        ("stepdeploy/dev", "pending"),
    ]
    assert len({s["id"] for s in listed}) == 3
    combined = api.get(f"/repos/acme/app/commits/{head}/status", headers=AUTH).get_json()
    assert combined["state"] == "failure" and combined["total_count"] == 2 and combined["sha"] == head

    reopened = LocalGHE(ghe.root, HOST, token=TOKEN)
    assert [s["state"] for s in reopened.statuses("acme", "app", head)] == ["failure", "success", "pending"]
    assert reopened.statuses("acme", "app", "main") == reopened.statuses("acme", "app", head)

    bad = api.post(f"/repos/acme/app/statuses/{head}", json={"state": "done"}, headers=AUTH)
    assert bad.status_code == 422
    unknown = api.post(f"/repos/acme/app/statuses/{'f' * 40}", json={"state": "success"}, headers=AUTH)
    assert unknown.status_code == 422


def test_statuses_left_pending_are_settled_as_error_after_a_restart(
    api: Client, ghe: LocalGHE, worktree: Path
) -> None:
    head = git(worktree, "rev-parse", "HEAD")
    first = git(worktree, "rev-parse", "HEAD~1")
    recorded = [
        (first, "pending", "stepdeploy/production"), (first, "success", "stepdeploy/production"),
        (head, "pending", "stepdeploy/production"), (head, "failure", "lint"), (head, "pending", "stepdeploy/staging"),
    ]
    for sha, state, context in recorded:
        body = {"state": state, "context": context, "target_url": f"http://x/{context}"}
        assert api.post(f"/repos/acme/app/statuses/{sha}", json=body, headers=AUTH).status_code == 201

    restarted = LocalGHE(ghe.root, HOST, token=TOKEN)
    settled = restarted.settle_pending("The local cloud restarted")
    assert sorted((s["sha"], s["context"]) for s in settled) == sorted(
        [(head, "stepdeploy/production"), (head, "stepdeploy/staging")]
    )
    latest = {s["context"]: s for s in restarted.combined_status("acme", "app", head)["statuses"]}
    assert {c: s["state"] for c, s in latest.items()} == {
        "stepdeploy/production": "error", "stepdeploy/staging": "error", "lint": "failure"}
    assert latest["stepdeploy/production"]["description"] == "The local cloud restarted"
    assert latest["stepdeploy/production"]["target_url"] == "http://x/stepdeploy/production"
    assert [s["state"] for s in restarted.statuses("acme", "app", first)] == ["success", "pending"]  # already settled
    assert restarted.settle_pending("again") == []  # nothing left pending
    with pytest.raises(ValueError, match="must be one of"):
        restarted.add_status("acme", "app", head, "done")


def test_deployments_and_their_statuses(api: Client, ghe: LocalGHE, worktree: Path) -> None:
    head = git(worktree, "rev-parse", "HEAD")
    first = api.post(
        "/repos/acme/app/deployments",
        json={"ref": "main", "environment": "dev", "required_contexts": [], "payload": {"stack": "s"}},
        headers=AUTH,
    )
    assert first.status_code == 201
    deployment = first.get_json()
    assert (deployment["sha"], deployment["environment"], deployment["payload"]) == (
        head,
        "dev",
        {"stack": "s"},
    )
    second = api.post("/repos/acme/app/deployments", json={"ref": head, "required_contexts": []}, headers=AUTH)
    assert second.get_json()["id"] == deployment["id"] + 1

    status = api.post(
        f"/repos/acme/app/deployments/{deployment['id']}/statuses",
        json={"state": "in_progress", "log_url": "http://x/exec"},
        headers=AUTH,
    )
    assert status.status_code == 201
    api.post(f"/repos/acme/app/deployments/{deployment['id']}/statuses", json={"state": "success"}, headers=AUTH)
    listed = api.get(f"/repos/acme/app/deployments/{deployment['id']}/statuses", headers=AUTH).get_json()
    assert [s["state"] for s in listed] == ["success", "in_progress"]
    assert listed[1]["id"] + 1 == listed[0]["id"]

    assert [d["id"] for d in ghe.deployments("acme", "app")] == [deployment["id"] + 1, deployment["id"]]
    only_dev = api.get("/repos/acme/app/deployments?environment=dev", headers=AUTH).get_json()
    assert [d["id"] for d in only_dev] == [deployment["id"]]
    assert [s["state"] for s in ghe.deployment_statuses("acme", "app", deployment["id"])] == [
        "success",
        "in_progress",
    ]
    assert (
        api.post("/repos/acme/app/deployments/999/statuses", json={"state": "success"}, headers=AUTH).status_code == 404
    )


def test_deployment_refused_while_required_statuses_fail(api: Client, worktree: Path) -> None:
    head = git(worktree, "rev-parse", "HEAD")
    api.post(f"/repos/acme/app/statuses/{head}", json={"state": "failure", "context": "ci"}, headers=AUTH)
    refused = api.post("/repos/acme/app/deployments", json={"ref": "main"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.get_json()["message"] == "Conflict: Commit status checks failed for main."
    allowed = api.post("/repos/acme/app/deployments", json={"ref": "main", "required_contexts": []}, headers=AUTH)
    assert allowed.status_code == 201


def test_api_requires_the_token(api: Client) -> None:
    assert api.get("/repos/acme/app/commits/main").status_code == 401
    wrong = api.get("/repos/acme/app/commits/main", headers={"Authorization": "token nope"})
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "Bad credentials"
    assert api.get("/repos/acme/app/commits/main", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_unknown_repo_or_route_is_404(api: Client) -> None:
    assert api.get("/repos/acme/nope/commits/main", headers=AUTH).status_code == 404
    assert api.get("/repos/acme/app/pulls", headers=AUTH).status_code == 404


def test_outage_answers_503_to_every_call(api: Client, ghe: LocalGHE, worktree: Path) -> None:
    ghe.set_outage(True)
    head = git(worktree, "rev-parse", "HEAD")
    assert api.get("/repos/acme/app/commits/main", headers=AUTH).status_code == 503
    assert api.post(f"/repos/acme/app/statuses/{head}", json={"state": "success"}, headers=AUTH).status_code == 503
    assert ghe.statuses("acme", "app", head) == []
    ghe.set_outage(False)
    assert api.get("/repos/acme/app/commits/main", headers=AUTH).status_code == 200
