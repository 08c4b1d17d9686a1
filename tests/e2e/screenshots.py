"""Screenshots of the browser tests: always taken (a page that does not render fails the test), written only when
asked, so that a test run leaves the clone as it was.

    STEPDEPLOY_SCREENSHOTS=docs   write docs/dashboard-*.png (a relative folder is under the project's root)

`make screenshots` runs the browser tests that way.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stepdeploy_localcloud.cloud import PROJECT_ROOT

SCREENSHOTS_ENV = "STEPDEPLOY_SCREENSHOTS"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def screenshot_folder(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where to write screenshots: the folder STEPDEPLOY_SCREENSHOTS names, or None when it is unset or empty."""
    value = environ.get(SCREENSHOTS_ENV, "").strip()
    if not value:
        return None
    folder = Path(value) if Path(value).is_absolute() else PROJECT_ROOT / value
    if not folder.is_dir():
        raise ValueError(f"{SCREENSHOTS_ENV}={value}: expected an existing folder to write screenshots into "
                         f"(a relative one is under {PROJECT_ROOT}); {folder} is not one")
    return folder


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height of a PNG image, from its header; ValueError if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError(f"expected a PNG image; got {len(data)} bytes starting {data[:8]!r}")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def screenshot(page: Any, name: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Take a full-page screenshot of ``page`` and check that it is an image of the page (as wide as the viewport,
    at least as tall); write it as ``name`` only into the folder STEPDEPLOY_SCREENSHOTS names. The path written,
    or None."""
    folder = screenshot_folder(environ)  # a wrong folder fails before the browser works
    data: bytes = page.screenshot(full_page=True)
    width, height = png_size(data)
    viewport = page.viewport_size
    assert width == viewport["width"] and height >= viewport["height"], (
        f"the screenshot of {page.url} is {width}x{height}, expected {viewport['width']} wide and at least "
        f"{viewport['height']} tall (the viewport)")
    if folder is None:
        return None
    path = folder / name
    path.write_bytes(data)
    return path
