"""The browser tests' screenshots: always taken and checked, written only into the folder STEPDEPLOY_SCREENSHOTS
names (a page stands in for the browser's)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from ..e2e.screenshots import SCREENSHOTS_ENV, png_size, screenshot, screenshot_folder

pytestmark = pytest.mark.unit


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Page:
    """What the helper uses of Playwright's page."""

    def __init__(self, image: bytes, width: int = 40, height: int = 30) -> None:
        self.image, self.viewport_size, self.url = image, {"width": width, "height": height}, "http://page/"
        self.taken = 0

    def screenshot(self, full_page: bool) -> bytes:
        assert full_page
        self.taken += 1
        return self.image


def test_without_the_variable_the_page_is_screenshotted_and_checked_but_nothing_is_written(tmp_path: Path):
    page = Page(png(40, 120))
    assert screenshot(page, "dashboard-overview.png", environ={}) is None
    assert page.taken == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(AssertionError, match="is 40x10, expected 40 wide and at least 30 tall"):
        screenshot(Page(png(40, 10)), "dashboard-overview.png", environ={})  # not the page: too short
    with pytest.raises(ValueError, match="expected a PNG image; got 5 bytes"):
        screenshot(Page(b"<html"), "dashboard-overview.png", environ={})


def test_with_the_variable_the_screenshot_is_written_into_its_folder(tmp_path: Path):
    image = png(40, 30)
    written = screenshot(Page(image), "dashboard-overview.png", environ={SCREENSHOTS_ENV: str(tmp_path)})
    assert written == tmp_path / "dashboard-overview.png" and written.read_bytes() == image
    assert png_size(image) == (40, 30)


def test_the_folder_must_exist_and_a_relative_one_is_under_the_project():
    assert screenshot_folder({}) is None and screenshot_folder({SCREENSHOTS_ENV: " "}) is None
    assert screenshot_folder({SCREENSHOTS_ENV: "docs"}) == Path(__file__).resolve().parents[2] / "docs"
    with pytest.raises(ValueError, match="STEPDEPLOY_SCREENSHOTS=no-such-folder: expected an existing folder"):
        screenshot_folder({SCREENSHOTS_ENV: "no-such-folder"})
