"""Lambda container images without a Docker engine.

A Dockerfile built FROM one of AWS's Lambda base images (``public.ecr.aws/lambda/python:3.X``,
``public.ecr.aws/lambda/nodejs:NN``) is emulated: ``COPY`` into the task root, ``RUN pip install ...``
(with the runtime's own interpreter) or ``RUN npm install``/``npm ci`` there, ``ENV``, ``WORKDIR`` of the
task root and ``CMD`` as the handler. The result is a folder (``task/`` and ``config.json``) in the image
store, keyed by its digest; local tags map ``NAME:TAG`` to a digest. Any other base image or instruction
raises :class:`ImageError` naming what cannot be emulated.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

STORE_ENV = "STEPDEPLOY_IMAGE_STORE"
TASK_ROOT = "/var/task"
_BASE = re.compile(r"^public\.ecr\.aws/lambda/(python|nodejs):(\d+(?:\.\d+)?)$")
_TASK_ROOTS = ("${LAMBDA_TASK_ROOT}", "$LAMBDA_TASK_ROOT", TASK_ROOT)


class ImageError(Exception):
    """The image cannot be built or found on the local cloud; the message names what and why."""


@dataclass
class ImageConfig:
    runtime: str
    handler: str = ""
    environment: dict[str, str] = field(default_factory=dict)


def store_root() -> Path:
    """Where images live: ``STEPDEPLOY_IMAGE_STORE``, else ``images/`` beside the local functions' code."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    from stepdeploy_localcloud.awslambda.runtime import code_root

    return code_root() / "images"


def base_runtime(image: str) -> str:
    """The Lambda runtime of an AWS Lambda base image, e.g. ``public.ecr.aws/lambda/python:3.12``."""
    match = _BASE.match(image)
    if not match:
        raise ImageError(
            f"FROM {image}: only AWS Lambda base images can be emulated (public.ecr.aws/lambda/python:3.X "
            "or public.ecr.aws/lambda/nodejs:NN); there is no Docker engine for other images"
        )
    language, version = match.groups()
    return f"python{version}" if language == "python" else f"nodejs{version}.x"


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    found: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        found.append((start, word.upper(), rest.strip()))
    return found


def _in_task_root(dest: str, task: Path) -> Path:
    for root in _TASK_ROOTS:
        if dest == root or dest.startswith(root + "/"):
            return task / dest[len(root):].lstrip("/")
    if dest in (".", "./") or not dest.startswith(("/", "$")):
        return task / dest.removeprefix("./")
    raise ImageError(f"COPY to {dest}: only the task root (${{LAMBDA_TASK_ROOT}}, {TASK_ROOT}) can be emulated")


def _copy(args: str, context: Path, task: Path) -> None:
    parts = shlex.split(args)
    if any(p.startswith("--") for p in parts) or len(parts) < 2:
        raise ImageError(f"COPY {args}: expected COPY SOURCE... DEST without options")
    *sources, dest = parts
    target = _in_task_root(dest, task)
    for source in sources:
        matches = sorted(glob.glob(str(context / source)))
        if not matches:
            raise ImageError(f"COPY {source}: no such file in the build context {context}")
        for match in map(Path, matches):
            if not match.resolve().is_relative_to(context.resolve()):
                raise ImageError(f"COPY {source}: outside the build context")
            if match.is_dir():  # as Docker does: the folder's contents
                shutil.copytree(match, target, dirs_exist_ok=True)
                continue
            several = len(matches) > 1 or len(sources) > 1
            into = target / match.name if dest.endswith("/") or several or target.is_dir() else target
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(match, into)


def _run(args: str, runtime: str, task: Path) -> None:
    from stepdeploy_localcloud.awslambda import runtimes

    command = shlex.split(args.replace("${LAMBDA_TASK_ROOT}", str(task)).replace("$LAMBDA_TASK_ROOT", str(task)))
    if command[:2] in (["pip", "install"], ["pip3", "install"]) or command[:4] == ["python", "-m", "pip", "install"]:
        rest = command[4:] if command[0] == "python" else command[2:]
        kept: list[str] = []
        skip = False
        for word in rest:
            if skip:
                skip = False
            elif word in ("-t", "--target"):
                skip = True
            elif not word.startswith("--target="):
                kept.append(word)
        python = runtimes.interpreter(runtime).executable
        argv = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *kept, "--target", str(task)]
    elif command[:2] in (["npm", "install"], ["npm", "ci"]) and runtime.startswith("nodejs"):
        argv = command
    else:
        raise ImageError(f"RUN {args}: only `pip install ...` (Python images) and `npm install`/`npm ci` (Node.js "
                         "images) can be emulated without a Docker engine")
    done = subprocess.run(argv, cwd=task, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ImageError(f"RUN {args}: exit status {done.returncode}: {(done.stderr or done.stdout)[-800:]}")


def _cmd(args: str) -> str:
    try:
        parsed = json.loads(args) if args.startswith("[") else shlex.split(args)
    except json.JSONDecodeError:
        raise ImageError(f"CMD {args}: expected CMD [\"module.handler\"]") from None
    if not isinstance(parsed, list) or len(parsed) != 1 or not isinstance(parsed[0], str):
        raise ImageError(f"CMD {args}: expected one handler, e.g. CMD [\"app.handler\"]")
    return parsed[0]


def _digest(task: Path, config: ImageConfig) -> str:
    sha = hashlib.sha256(json.dumps(config.__dict__, sort_keys=True).encode())
    for file in sorted(p for p in task.rglob("*") if p.is_file()):
        sha.update(file.relative_to(task).as_posix().encode() + b"\0" + file.read_bytes())
    return f"sha256:{sha.hexdigest()}"


def build(context: Path, dockerfile: Path | None = None, store: Path | None = None) -> str:
    """Emulate ``docker build`` of ``context``; the image's digest (``sha256:...``) in the store."""
    dockerfile = dockerfile or context / "Dockerfile"
    if not dockerfile.is_file():
        raise ImageError(f"no Dockerfile at {dockerfile}")
    store = store or store_root()
    store.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="image-", dir=store))
    try:
        task = scratch / "task"
        task.mkdir()
        config: ImageConfig | None = None
        for number, word, args in _instructions(dockerfile.read_text()):
            where = f"{dockerfile.name} line {number}: "
            try:
                if word == "FROM":
                    if config is not None:
                        raise ImageError("a second FROM (multi-stage builds) cannot be emulated")
                    config = ImageConfig(runtime=base_runtime(args.split()[0] if args else ""))
                    if len(args.split()) > 1:
                        raise ImageError(f"FROM {args}: options and stage names cannot be emulated")
                elif config is None:
                    raise ImageError(f"{word} before FROM: the first instruction must be FROM a Lambda base image")
                elif word == "COPY":
                    _copy(args, context, task)
                elif word == "RUN":
                    _run(args, config.runtime, task)
                elif word == "ENV":
                    key, _, value = args.partition("=") if "=" in args.split()[0] else args.partition(" ")
                    config.environment[key.strip()] = value.strip().strip('"')
                elif word == "WORKDIR":
                    _in_task_root(args, task).mkdir(parents=True, exist_ok=True)
                    if _in_task_root(args, task) != task:
                        raise ImageError(f"WORKDIR {args}: only the task root can be emulated")
                elif word == "CMD":
                    config.handler = _cmd(args)
                else:
                    raise ImageError(f"{word}: this instruction cannot be emulated without a Docker engine (emulated: "
                                     "FROM a Lambda base image, COPY, RUN pip/npm install, ENV, WORKDIR, CMD)")
            except ImageError as exc:
                raise ImageError(where + str(exc)) from None
        if config is None:
            raise ImageError(f"{dockerfile}: no FROM instruction")
        if not config.handler:
            raise ImageError(f"{dockerfile}: no CMD: the handler (e.g. CMD [\"app.handler\"]) is required")
        digest = _digest(task, config)
        (scratch / "config.json").write_text(json.dumps(config.__dict__, indent=2))
        final = store / digest.replace(":", "-")
        if final.exists():
            shutil.rmtree(scratch)
        else:
            scratch.rename(final)
        return digest
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def image_dir(digest: str, store: Path | None = None) -> Path:
    folder = (store or store_root()) / digest.replace(":", "-")
    if not (folder / "config.json").is_file():
        raise ImageError(f"image {digest} is not in the local image store {folder.parent}: push it from a "
                         "local build (docker build, then docker push)")
    return folder


def config_of(digest: str, store: Path | None = None) -> ImageConfig:
    data = json.loads((image_dir(digest, store) / "config.json").read_text())
    return ImageConfig(runtime=data["runtime"], handler=data["handler"], environment=dict(data["environment"]))


def tags_file(store: Path) -> Path:
    return store / "tags.json"


def tag(name: str, digest: str, store: Path | None = None) -> None:
    store = store or store_root()
    store.mkdir(parents=True, exist_ok=True)
    tags = json.loads(tags_file(store).read_text()) if tags_file(store).is_file() else {}
    tags[_with_tag(name)] = digest
    tags_file(store).write_text(json.dumps(tags, indent=2))


def tagged(name: str, store: Path | None = None) -> str:
    store = store or store_root()
    tags = json.loads(tags_file(store).read_text()) if tags_file(store).is_file() else {}
    if _with_tag(name) not in tags:
        raise ImageError(f"no local image tagged {_with_tag(name)} (docker build -t {_with_tag(name)} . first)")
    return str(tags[_with_tag(name)])


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
