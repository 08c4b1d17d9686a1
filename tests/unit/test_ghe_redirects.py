"""The GHE API client keeps its token on the configured origin: a redirect to another scheme, host or
port is refused before anything is sent there; a redirect on the same origin is followed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stepdeploy.ghe.api import GheApi, GheError, origin

pytestmark = pytest.mark.unit
TOKEN = "ghp_secret-token"


class Server:
    """A local HTTP server that records the Authorization header of every request."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = server.routes.get(self.path.split("?")[0], (404, {}, b"{}"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def servers() -> Iterator[tuple[Server, Server]]:
    ghe, elsewhere = Server({}), Server({})
    yield ghe, elsewhere
    ghe.close()
    elsewhere.close()


def test_a_redirect_to_another_port_is_refused_and_the_token_never_reaches_it(servers):
    ghe, elsewhere = servers
    elsewhere.routes["/steal"] = (200, {"Content-Type": "application/json"}, b'{"sha": "x"}')
    ghe.routes["/api/v3/repos/acme/orders/commits/main"] = (302, {"Location": f"{elsewhere.url}/steal"}, b"")
    api = GheApi(f"{ghe.url}/api/v3", TOKEN)
    with pytest.raises(GheError) as refused:
        api.commit_sha("acme/orders", "main")
    assert refused.value.status == 302
    assert "another origin" in str(refused.value) and f"{elsewhere.url}/steal" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert ghe.seen == [("/api/v3/repos/acme/orders/commits/main", f"token {TOKEN}")]
    assert elsewhere.seen == []  # nothing was sent there, with or without the token


def test_a_redirect_on_the_same_origin_is_followed_with_the_token(servers):
    ghe, _ = servers
    moved = {"Location": "/api/v3/repositories/7/commits/main"}
    ghe.routes["/api/v3/repos/acme/orders/commits/main"] = (301, moved, b"")
    ghe.routes["/api/v3/repositories/7/commits/main"] = (
        200, {"Content-Type": "application/json"}, json.dumps({"sha": "a" * 40}).encode()
    )
    assert GheApi(f"{ghe.url}/api/v3", TOKEN).commit_sha("acme/orders", "main") == "a" * 40
    assert [auth for _, auth in ghe.seen] == [f"token {TOKEN}", f"token {TOKEN}"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://ghe.example.com/api/v3", "https://GHE.example.com:443/x", True),
        ("https://ghe.example.com/api/v3", "http://ghe.example.com/x", False),  # scheme
        ("https://ghe.example.com/api/v3", "https://ghe.example.com:8443/x", False),  # port
        ("https://ghe.example.com/api/v3", "https://ghe.example.com.evil.test/x", False),  # host
        ("https://ghe.example.com/api/v3", "https://user@evil.test/x", False),
    ],
)
def test_origins(a, b, same):
    assert (origin(a) == origin(b)) is same
