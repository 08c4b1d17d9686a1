"""The test suite's wall time: the pytest command of the Makefile's ``test`` target, run once.

Only pytest is timed (``make test`` also runs cfn-lint, the ASL checks and ruff first). The command
is read from the Makefile, so the figure follows the suite as ``make test`` runs it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_SUMMARY = re.compile(r"^=*\s*(?P<counts>\d+ \w+.*) in [\d.]+s")


def pytest_command(makefile: Path, bin_dir: Path) -> list[str]:
    """The pytest line of the ``test`` target, with $(BIN) replaced by ``bin_dir``."""
    in_test = False
    for line in makefile.read_text().splitlines():
        if re.match(r"^test\s*:", line):
            in_test = True
            continue
        if in_test:
            if not line.startswith("\t"):
                break
            command = line.strip().replace("$(BIN)", str(bin_dir))
            if Path(shlex.split(command)[0]).name == "pytest":
                return shlex.split(command)
    raise RuntimeError(f"{makefile}: the test target has no pytest command; stepdeploy_dev/bench/suite.py reads it")


def summary_line(output: str) -> str | None:
    """pytest's last line, e.g. "440 passed, 3 xfailed in 118.2s", without the wall time."""
    for line in reversed(output.strip().splitlines()):
        match = _SUMMARY.match(line.strip())
        if match:
            return match["counts"].strip(" =")
    return None


def run_suite(timeout: float = 1200.0) -> dict[str, Any]:
    command = pytest_command(ROOT / "Makefile", Path(sys.executable).parent)
    (ROOT / "build").mkdir(exist_ok=True)
    started = time.monotonic()
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        output, exit_code = run.stdout + run.stderr, run.returncode
    except subprocess.TimeoutExpired as expired:
        output, exit_code = str(expired.stdout or ""), None
    shown = [str(Path(part).relative_to(ROOT)) if part.startswith(str(ROOT)) else part for part in command]
    return {
        "command": " ".join(shlex.quote(part) for part in shown),
        "wall_seconds": round(time.monotonic() - started, 1),
        "exit_code": exit_code,
        "summary": summary_line(output) or ("timed out" if exit_code is None else "(no pytest summary line)"),
    }
