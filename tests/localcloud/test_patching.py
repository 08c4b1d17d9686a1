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


def test_moto_settings_are_suspended_with_the_patches_then_set_again() -> None:
    from moto.core.config import default_user_config

    stepfunctions = default_user_config.setdefault("stepfunctions", {})
    patching.configure("stepfunctions", "execute_state_machine", True)
    patching.configure("test-only", "flag", 1)
    try:
        with patching.suspended():
            assert not stepfunctions.get("execute_state_machine")  # as moto ships it: the canned executions
            assert "flag" not in default_user_config.get("test-only", {})
        assert stepfunctions["execute_state_machine"] is True
        assert default_user_config["test-only"]["flag"] == 1
    finally:
        patching._SETTINGS.pop(("test-only", "flag"), None)
        default_user_config.pop("test-only", None)
