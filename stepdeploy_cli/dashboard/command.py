"""The `stepdeploy dashboard` command: serve the dashboard on a loopback port with the operator's credentials."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer
from werkzeug.serving import make_server

from stepdeploy_cli.dashboard.app import Dashboard
from stepdeploy_cli.errors import CliError
from stepdeploy_cli.executions import operator
from stepdeploy_cli.output import stdout

DEFAULT_PORT = 8765
DASHBOARD_PATH = "/dashboard"
"""Where `stepdeploy local up` serves it on the local cloud's own port."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dashboard(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to serve on (0: any free port).")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on; loopback only unless --public.")] = "127.0.0.1",
    public: Annotated[
        bool, typer.Option("--public", help="Allow a non-loopback --host (anyone who reaches it can approve).")
    ] = False,
) -> None:
    """Serve the dashboard: stacks, executions drawn on the state machine, traffic, approvals, DORA.

    It uses your AWS credentials and endpoint (AWS_ENDPOINT_URL for the local cloud) and keeps no state;
    open the address it prints.
    """
    if not is_loopback(host) and not public:
        raise CliError(f"--host {host}: expected a loopback address (127.0.0.1, ::1, localhost); "
                       "pass --public to serve it to the network")
    app = Dashboard(operator(ctx))
    app.warm_up()  # no orchestrator stack, no credentials: say so now, not on the first page load
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None
    shown = f"[{host}]" if ":" in host else host
    stdout().print(f"dashboard  http://{shown}:{server.server_port}/  (Ctrl-C stops it)", soft_wrap=True,
                   markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
