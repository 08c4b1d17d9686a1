"""The one patching mechanism: idempotent, reversible, and suspendable for tests of plain moto."""

from __future__ import annotations

from stepdeploy_localcloud import patching


class Service:
    def call(self) -> str:
        return "moto"


def test_a_patch_is_applied_once_and_suspended_for_plain_moto_then_restored() -> None:
    original = Service.call
    try:
        assert patching.replace(Service, "call", lambda self: "local cloud") is original
        patching.replace(Service, "call", lambda self: "second")  # applying twice changes nothing
        assert Service().call() == "local cloud"
        with patching.suspended():
            assert Service().call() == "moto"
            assert "call" in vars(Service) and Service.call is original
        assert Service().call() == "local cloud"
    finally:
        patching.undo(Service, "call")  # only this test's patch: others may be live in this worker
    assert Service.call is original and not patching.is_patched(Service, "call")
