"""moto's request routing when many threads make the first requests to a service at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.model import ServiceModel as BotocoreServiceModel
from moto.core.model import OperationModel as MotoOperationModel
from moto.core.routing import RestRouter
from moto.core.utils import get_service_model

from stepdeploy_localcloud import patching
from stepdeploy_localcloud.core import patch as core

pytestmark = pytest.mark.localcloud


@pytest.fixture()
def parked(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first operation model built waits, halfway through moto's build, until released.

    By then botocore's own OperationModel is in the service model's cache under the key moto's
    will use: this is the moment another thread building a router must not see.
    """
    inside, release = threading.Event(), threading.Event()
    botocore_build = BotocoreServiceModel.operation_model

    def slow_build(self: Any, operation_name: str) -> Any:
        built = botocore_build(self, operation_name)
        if not inside.is_set():
            inside.set()
            release.wait(10)
        return built

    monkeypatch.setattr(BotocoreServiceModel, "operation_model", slow_build)
    yield inside, release
    release.set()


def build_router_while_an_operation_model_is_half_built(
    inside: threading.Event, release: threading.Event
) -> Any:
    # A fresh model (moto caches one per service for the process), shared by the two threads below.
    service = get_service_model.__wrapped__("lambda")
    first = threading.Thread(target=service.operation_model, args=("Invoke",), daemon=True)
    first.start()
    assert inside.wait(10), "the first build never started"
    outcome: dict[str, Any] = {"service": service}

    def second() -> None:
        try:
            outcome["router"] = RestRouter(service)
        except Exception as exc:  # what the second request's thread would answer 500 with
            outcome["error"] = exc

    router_thread = threading.Thread(target=second, daemon=True)
    router_thread.start()
    # Fixed: the router waits for the lock the first build holds. Unfixed: it is already done.
    router_thread.join(timeout=1.0)
    release.set()
    first.join(10)
    router_thread.join(10)
    assert not router_thread.is_alive()
    return outcome


def test_a_router_built_during_another_threads_operation_model_build_sees_moto_models(
    parked: tuple[threading.Event, threading.Event],
) -> None:
    core.apply()
    outcome = build_router_while_an_operation_model_is_half_built(*parked)
    assert "error" not in outcome, outcome.get("error")
    assert isinstance(outcome["router"], RestRouter)
    assert isinstance(outcome["service"].operation_model("Invoke"), MotoOperationModel)


def test_without_the_lock_moto_fails_as_reported_under_load(
    parked: tuple[threading.Event, threading.Event],
) -> None:
    core.apply()
    with patching.suspended():
        outcome = build_router_while_an_operation_model_is_half_built(*parked)
    assert isinstance(outcome.get("error"), AttributeError)
    assert "http_trait" in str(outcome["error"])
