"""What the Lambda runtime itself provides to a Python function: boto3 and botocore, nothing else.

AWS puts boto3, botocore and their dependencies in /var/runtime, after the function's code and its
layers on sys.path. Locally they come from the exact versions pinned in requirements/dev.txt: a folder
holding links to those distributions only (never the local cloud's whole site-packages), so a function
importing a package its own zip and layers lack fails as it would on AWS.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import threading
from pathlib import Path

SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
_lock = threading.Lock()


def _top_level_entries(name: str) -> list[Path]:
    """The files and folders a distribution puts at the top of site-packages (package, module, dist-info)."""
    distribution = importlib.metadata.distribution(name)
    tops: dict[str, Path] = {}
    for file in distribution.files or []:
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        tops.setdefault(parts[0], Path(str(distribution.locate_file(parts[0]))))
    if not tops:
        raise RuntimeError(f"the distribution {name} lists no files: cannot provide it to Lambda functions")
    return list(tops.values())


def python_sdk(root: Path) -> Path:
    """A folder with boto3, botocore and their dependencies (links), made once under ``root``."""
    target = root / f"python-sdk-boto3-{importlib.metadata.version('boto3')}"
    if target.is_dir():
        return target
    with _lock:
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".sdk-", dir=root))
        try:
            for name in SDK_DISTRIBUTIONS:
                for entry in _top_level_entries(name):
                    link = staging / entry.name
                    if entry.exists() and not link.exists():
                        link.symlink_to(entry)
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
    return target
