"""The dashboard's WSGI app: the page (static files) and a small JSON API over `dashboard.data`.

    GET  /                                  the page (index.html, app.js, style.css)
    GET  /api/overview                      stacks, executions, approvals, DORA figures
    GET  /api/execution?ref=NAME|ARN        one execution: drawing, states, traffic, failure, verbs, and the
                                            release it runs (a step release: steps, weights, journal, verbs)
    GET  /api/pipelines                     each pipeline: the commit live in each stage, each stage's last
                                            attempt, running executions and the gate each waits at
    POST /api/action/<verb>?ref=NAME|ARN    approve, reject, stop, redrive, and pause, resume, promote,
                                            abort of the release an execution runs; body {"comment", "by"}.
                                            400 for an unknown verb; 409 for one that does not apply to the
                                            execution now: {"error", "asked", "state", "verbs", "found"}

A POST must carry the header ``X-Stepdeploy-Dashboard: 1``: a browser sends no custom header across
origins without a preflight, which this app never grants, so another site cannot press the buttons.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from stepdeploy_cli.context import Operator
from stepdeploy_cli.dashboard import data
from stepdeploy_cli.errors import VerbRefused, explain
from stepdeploy_cli.output import to_json
from stepdeploy_cli.verbs import VERBS, unknown_verb

log = logging.getLogger(__name__)

ACTION_HEADER = "X-Stepdeploy-Dashboard"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
WARM_CLIENTS = ("stepfunctions", "lambda", "codedeploy", "codebuild", "logs", "sts")


def static_file(name: str) -> tuple[bytes, str] | None:
    """A file of the package's static/ folder and its content type; None for anything else."""
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        return None
    entry = resources.files("stepdeploy_cli.dashboard").joinpath("static", name)
    if not entry.is_file():
        return None
    return entry.read_bytes(), STATIC_TYPES[suffix]


class Dashboard:
    """One operator connection, shared by every request (boto3 clients are thread-safe once made)."""

    def __init__(self, op: Operator, clock_speed: float = 1.0) -> None:
        self.op = op
        self.clock_speed = clock_speed
        self._warm = threading.Lock()
        self._ready = False
        self.urls = Map([
            Rule("/", endpoint="index", methods=["GET"]),
            Rule("/static/<name>", endpoint="static", methods=["GET"]),
            Rule("/api/overview", endpoint="overview", methods=["GET"]),
            Rule("/api/execution", endpoint="execution", methods=["GET"]),
            Rule("/api/pipelines", endpoint="pipelines", methods=["GET"]),
            Rule("/api/action/<verb>", endpoint="action", methods=["POST"]),
        ])

    def warm_up(self) -> None:
        """Make the clients and read the orchestrator's outputs once, before requests share them."""
        with self._warm:
            if self._ready:
                return
            for service in WARM_CLIENTS:
                self.op.client(service)
            _ = self.op.state_machine_arn, self.op.ledger
            self._ready = True

    # --- handlers ----------------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        return self.static(request, "index.html")

    def static(self, request: Request, name: str) -> Response:
        found = static_file(name)
        if found is None:
            raise NotFound()
        body, content_type = found
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-cache"})

    def overview(self, request: Request) -> Response:
        self.warm_up()
        return json_response(data.overview(self.op))

    def execution(self, request: Request) -> Response:
        reference = request.args.get("ref", "").strip()
        if not reference:
            return json_response({"error": "ref: expected an execution name or ARN"}, 400)
        self.warm_up()
        return json_response(data.execution(self.op, reference, self.clock_speed))

    def pipelines(self, request: Request) -> Response:
        self.warm_up()
        return json_response(data.pipelines(self.op))

    def action(self, request: Request, verb: str) -> Response:
        if request.headers.get(ACTION_HEADER) != "1":
            return json_response({"error": f"missing header {ACTION_HEADER}: 1 (the dashboard page sends it)"}, 403)
        if verb not in VERBS:
            return json_response({"error": unknown_verb(verb).message, "asked": verb, "verbs": list(VERBS)}, 400)
        reference = request.args.get("ref", "").strip()
        if not reference:
            return json_response({"error": "ref: expected an execution name or ARN"}, 400)
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            return json_response({"error": "the body must be a JSON object like {\"comment\": \"why\"}"}, 400)
        if not isinstance(body, dict):
            return json_response({"error": "the body must be a JSON object like {\"comment\": \"why\"}"}, 400)
        self.warm_up()
        try:
            result = data.act(self.op, verb, reference, comment=str(body.get("comment") or ""),
                              by=str(body["by"]) if body.get("by") else None)
        except VerbRefused as refused:
            log.info("dashboard: %s", refused.message)
            return json_response(refused.as_dict(), 409)
        return json_response(result)

    # --- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "" or (request.script_root and request.environ.get("PATH_INFO", "") == ""):
            return redirect(request.script_root + "/")(environ, start_response)
        adapter = self.urls.bind_to_environ(environ)
        try:
            endpoint, arguments = adapter.match()
            response = getattr(self, endpoint)(request, **arguments)
        except MethodNotAllowed as exc:
            response = json_response({"error": f"{request.method} is not allowed here"}, exc.code or 405)
        except HTTPException as exc:
            response = json_response({"error": f"no such page: {request.path}"}, exc.code or 404)
        except Exception as exc:  # noqa: BLE001 - the page shows the operator's one-line explanation
            problem = explain(exc)
            if not problem.message.startswith("unexpected"):
                log.info("dashboard: %s", problem.message)
            else:
                log.exception("dashboard request %s failed", request.path)
            response = json_response({"error": problem.message}, 502 if problem.code == 2 else 409)
        body: Iterable[bytes] = response(environ, start_response)
        return body


def json_response(value: Any, status: int = 200) -> Response:
    return Response(to_json(value, indent=None), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store"})
