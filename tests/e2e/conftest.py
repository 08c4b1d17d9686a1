"""Fixtures the browser tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from .test_dashboard import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="stepdeploy-chromium-"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
