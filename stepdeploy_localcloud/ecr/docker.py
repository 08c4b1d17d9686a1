"""``docker`` for local builds, without a Docker engine: ``build``, ``tag``, ``push`` and ``login``.

``docker build -t NAME:TAG [-f Dockerfile] CONTEXT`` emulates the Dockerfile (``images.build``);
``docker push NAME:TAG`` registers the image in the local ECR (the repository named by NAME, under TAG,
with the image's digest) through ``AWS_ENDPOINT_URL``. Any other use answers a clear error.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from stepdeploy_localcloud.ecr import images

_REGISTRY = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
                       r"(?P<repo>[^:@]+):(?P<tag>[^:@/]+)$")
USAGE = ("this build has no Docker engine: its `docker` understands only `build -t NAME:TAG [-f FILE] CONTEXT`, "
         "`tag SOURCE TARGET`, `push NAME:TAG` and `login` (see docs/local-cloud.md, Container-image functions)")


def _build(args: list[str]) -> int:
    names: list[str] = []
    dockerfile: str | None = None
    context: str | None = None
    words = iter(args)
    for word in words:
        if word in ("-t", "--tag"):
            names.append(next(words, ""))
        elif word.startswith("--tag="):
            names.append(word.split("=", 1)[1])
        elif word in ("-f", "--file"):
            dockerfile = next(words, "")
        elif word.startswith("-"):
            print(f"docker build {word}: not understood; {USAGE}", file=sys.stderr)
            return 2
        elif context is None:
            context = word
        else:
            print(f"docker build: one CONTEXT expected, got {context!r} and {word!r}", file=sys.stderr)
            return 2
    if context is None:
        print(f"docker build: CONTEXT missing; {USAGE}", file=sys.stderr)
        return 2
    root = Path(context)
    digest = images.build(root, root / dockerfile if dockerfile and not Path(dockerfile).is_absolute()
                          else Path(dockerfile) if dockerfile else None)
    for name in names:
        images.tag(name, digest)
    print(f"Successfully built {digest}" + "".join(f"\nSuccessfully tagged {n}" for n in names))
    return 0


def _push(name: str) -> int:
    import boto3
    from botocore.exceptions import ClientError

    match = _REGISTRY.match(name)
    if not match:
        print(f"docker push {name}: expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG", file=sys.stderr)
        return 2
    digest = images.tagged(name)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest}]}
    ecr = boto3.client("ecr", region_name=match["region"], endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                       aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                       aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    try:
        ecr.put_image(repositoryName=match["repo"], imageTag=match["tag"], imageManifest=json.dumps(manifest),
                      imageDigest=digest)
    except ClientError as exc:
        print(f"docker push {name}: {exc}", file=sys.stderr)
        return 1
    print(f"{match['tag']}: digest: {digest}")
    return 0


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "build":
            return _build(args)
        if command == "tag" and len(args) == 2:
            images.tag(args[1], images.tagged(args[0]))
            return 0
        if command == "push" and len(args) == 1:
            return _push(args[0])
        if command == "login":
            if "--password-stdin" in args:
                sys.stdin.read()
            print("Login Succeeded")
            return 0
    except images.ImageError as exc:
        print(f"docker {command}: {exc}", file=sys.stderr)
        return 1
    print(f"docker {' '.join(argv)}: {USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
