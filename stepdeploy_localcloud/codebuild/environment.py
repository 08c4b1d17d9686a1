"""A build's own environment, as a CodeBuild image gives one: never the local cloud's virtualenv.

Each build gets, in its workspace:

- ``venv/``: a fresh Python virtual environment with pip (the image's Python: the interpreter of the
  buildspec's ``runtime-versions: python: X.Y`` when given, else this machine's Python); ``pip
  install`` in a buildspec lands there and is gone with the workspace;
- ``tools/``: the commands a CodeBuild standard image has that this machine may not put on PATH:
  ``sam`` (the SAM CLI installed once by ``make setup`` into ``.venv-sam``, or ``STEPDEPLOY_SAM_CLI``)
  and ``pythonX.Y`` for every Python runtime the machine has (what ``sam build`` looks for), and
  ``docker``: no engine, but ``build``/``tag``/``push``/``login`` of Lambda images emulated (``ecr/docker.py``).

PATH is the build's venv, then the tools, then the machine's PATH without the local cloud's own
virtualenv; VIRTUAL_ENV, PYTHONPATH and PYTHONHOME of the local cloud do not reach the build.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

from stepdeploy_localcloud.awslambda import runtimes

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAM_CLI_ENV = "STEPDEPLOY_SAM_CLI"
DEFAULT_SAM_CLI = PROJECT_ROOT / ".venv-sam" / "bin" / "sam"
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
_DROPPED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__")
DOCKER_SCRIPT = """#!/bin/sh
# No Docker engine here: build, tag, push and login are emulated (stepdeploy_localcloud/ecr/docker.py).
{store_env}={store} PYTHONPATH={root} exec {python} -m stepdeploy_localcloud.ecr.docker "$@"
"""
NO_DOCKER_DAEMON_SCRIPT = """#!/bin/sh
# The project runs without privileged mode: CodeBuild starts no Docker daemon.
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
echo "(the build runs without CodeBuild's privileged mode)" >&2
exit 1
"""
PIP_SCRIPT = """#!{python}
import sys
from pip._internal.cli.main import main
sys.exit(main())
"""


class BuildEnvironmentError(Exception):
    """The build's environment cannot be made (e.g. the requested runtime version is not here)."""


def sam_cli() -> Path | None:
    """The SAM CLI builds get, or None when it is not installed."""
    configured = os.environ.get(SAM_CLI_ENV)
    candidate = Path(configured) if configured else DEFAULT_SAM_CLI
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _own_bin_dirs() -> set[str]:
    """The local cloud's virtualenv (and the SAM CLI's): never on a build's PATH."""
    dirs = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin"), str(DEFAULT_SAM_CLI.parent)}
    if os.environ.get("VIRTUAL_ENV"):
        dirs.add(str(Path(os.environ["VIRTUAL_ENV"]) / "bin"))
    return dirs


def host_path() -> str:
    own = _own_bin_dirs()
    kept = [p for p in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep) if p and p not in own]
    return os.pathsep.join(kept)


def _python_for(version: str | None) -> runtimes.Interpreter:
    runtime = f"python{version}" if version else f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not re.match(r"^python\d\.\d+$", runtime):
        raise BuildEnvironmentError(f"runtime-versions: python {version!r}: expected a version such as 3.12")
    try:
        return runtimes.interpreter(runtime)
    except runtimes.RuntimeUnavailable as exc:
        raise BuildEnvironmentError(f"runtime-versions: {exc}") from None


def _stdlib(python: str) -> Path:
    out = subprocess.run(  # noqa: S603 - an interpreter runtimes.py found
        [python, "-S", "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return Path(out.stdout.strip())


def make_venv(target: Path, python: str) -> Path:
    """A virtual environment with pip, made in about a second: ``venv --without-pip``, then the pip wheel
    that the interpreter bundles (ensurepip's) unpacked into it (ensurepip itself takes half a minute)."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120,  # noqa: S603
                   capture_output=True)
    site = next((target / "lib").glob("python*/site-packages"))
    wheels = sorted((_stdlib(python) / "ensurepip" / "_bundled").glob("pip-*.whl"))
    if not wheels:
        raise BuildEnvironmentError(f"{python} bundles no pip wheel (ensurepip): the build's venv has no pip")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(site)
    interpreter = target / "bin" / "python"
    for name in ("pip", "pip3", f"pip{site.parent.name.removeprefix('python')}"):
        script = target / "bin" / name
        script.write_text(PIP_SCRIPT.format(python=interpreter))
        script.chmod(0o755)
    return target


def _tools(target: Path, *, privileged: bool) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    sam = sam_cli()
    if sam is not None:
        (target / "sam").symlink_to(sam)
    for runtime in PYTHON_RUNTIMES:
        try:
            found = runtimes.interpreter(runtime)
        except runtimes.RuntimeUnavailable:
            continue
        (target / runtime).symlink_to(found.executable)
    if privileged:
        _docker(target / "docker")
    else:
        (target / "docker").write_text(NO_DOCKER_DAEMON_SCRIPT)
        (target / "docker").chmod(0o755)
    return target


def _docker(script: Path) -> None:
    """``docker`` for the build: Lambda images emulated into the local image store, pushed to the local ECR."""
    from stepdeploy_localcloud.ecr import images

    script.write_text(DOCKER_SCRIPT.format(store_env=images.STORE_ENV, store=shlex.quote(str(images.store_root())),
                                           root=shlex.quote(str(PROJECT_ROOT)), python=shlex.quote(sys.executable)))
    script.chmod(0o755)


def base_env() -> dict[str, str]:
    """This process's environment without its own Python: no virtualenv on PATH, no PYTHON* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in _DROPPED}
    env["PATH"] = host_path()
    return env


def prepare(
    workspace: Path, runtime_versions: dict[str, object] | None = None, *, privileged: bool = False
) -> tuple[dict[str, str], list[str]]:
    """Make the build's venv and tools; the variables to set on top of ``base_env()`` and what to log.
    Without privileged mode, ``docker`` answers as CodeBuild's does then: no daemon."""
    versions = runtime_versions or {}
    python = _python_for(str(versions["python"]) if "python" in versions else None)
    venv = make_venv(workspace / "venv", python.executable)
    tools = _tools(workspace / "tools", privileged=privileged)
    path = os.pathsep.join([str(venv / "bin"), str(tools), host_path()])
    env = {"PATH": path, "VIRTUAL_ENV": str(venv), "SAM_CLI_TELEMETRY": "0"}
    sam = sam_cli()
    notes = [f"Build environment: Python {python.version} virtual environment {venv}"]
    notes.append(f"SAM CLI: {sam}" if sam else
                 "SAM CLI: not installed for builds (`make setup` installs it into .venv-sam, "
                 f"or set {SAM_CLI_ENV}=/path/to/sam)")
    other = sorted(set(versions) - {"python"})
    if other:
        notes.append(f"runtime-versions {', '.join(other)}: not installed locally; the machine's own are on PATH")
    return env, notes
