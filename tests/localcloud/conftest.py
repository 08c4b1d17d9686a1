"""A moto server in this process, shared by the local cloud's adapter tests."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from stepdeploy_localcloud import endpoint, patching


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configure_moto() -> None:
    patching.configure("stepfunctions", "execute_state_machine", True)
    patching.configure("lambda", "use_docker", False)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configure_moto()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    endpoint.set_endpoint_url(url)
    yield url
    server.stop()


@pytest.fixture()
def aws(moto_server: str) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server,
            region_name=endpoint.REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client
