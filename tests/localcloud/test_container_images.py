"""Container-image functions without a Docker engine: the build's `docker` shim emulates a Dockerfile on
an AWS Lambda base image, pushes it to the local ECR under its tag and digest, and a PackageType Image
function made from that ImageUri runs; what cannot be emulated fails naming it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.awslambda import patch as lambda_invoke
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.codebuild import environment
from stepdeploy_localcloud.ecr import images

Aws = Callable[[str], Any]
REGISTRY = f"{endpoint.ACCOUNT_ID}.dkr.ecr.{endpoint.REGION}.amazonaws.com"


@pytest.fixture()
def role(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    lambda_invoke.apply()
    monkeypatch.setenv(images.STORE_ENV, str(tmp_path / "store"))
    iam = boto3.client("iam", endpoint_url=moto_server, region_name=endpoint.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="image-test-role", AssumeRolePolicyDocument="{}")
    yield iam.get_role(RoleName="image-test-role")["Role"]["Arn"]
    lambda_runtime.shutdown()


def docker(workspace: Path, context: Path, *args: str, moto_server: str) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` as a privileged build's command runs it: the build's PATH, the local endpoint."""
    if not (workspace / "tools").exists():
        environment.prepare(workspace, privileged=True)
    env = {**environment.base_env(), "PATH": f"{workspace / 'tools'}{os.pathsep}{environment.host_path()}",
           "AWS_ENDPOINT_URL": moto_server}
    return subprocess.run(["docker", *args], cwd=context, env=env, capture_output=True, text=True, timeout=300)


def _wheel(folder: Path) -> None:
    folder.mkdir()
    with zipfile.ZipFile(folder / "probe_pkg-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("probe_pkg/__init__.py", "NAME = 'probe'\n")
        archive.writestr("probe_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: probe-pkg\nVersion: 1.0\n")
        archive.writestr("probe_pkg-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("probe_pkg-1.0.dist-info/RECORD", "")


def _invoke(aws: Aws, name: str) -> tuple[str | None, Any]:
    answer = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def test_a_python_image_built_and_pushed_by_the_shim_runs_as_a_function(
    aws: Aws, role: str, moto_server: str, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    _wheel(app / "wheels")
    (app / "requirements.txt").write_text("probe-pkg==1.0\n")
    (app / "app.py").write_text(
        "import os, sys, probe_pkg\n"
        "def handler(event, context):\n"
        "    return {'pkg': probe_pkg.NAME, 'python': '%d.%d' % sys.version_info[:2], 'mood': os.environ['MOOD']}\n"
    )
    (app / "Dockerfile").write_text(
        "FROM public.ecr.aws/lambda/python:3.11\n"
        "ENV MOOD=calm\n"
        "COPY requirements.txt wheels/ ${LAMBDA_TASK_ROOT}/\n"
        "RUN pip install --no-index --find-links . -r requirements.txt \\\n"
        "    --target \"${LAMBDA_TASK_ROOT}\"\n"
        "COPY app.py ${LAMBDA_TASK_ROOT}\n"
        'CMD ["app.handler"]\n'
    )
    repo = f"images-{uuid.uuid4().hex[:8]}"
    aws("ecr").create_repository(repositoryName=repo)
    uri = f"{REGISTRY}/{repo}:build-1"
    built = docker(tmp_path / "ws", app, "build", "-t", uri, ".", moto_server=moto_server)
    assert built.returncode == 0, built.stderr
    assert docker(tmp_path / "ws", app, "login", "--username", "AWS", REGISTRY, moto_server=moto_server).returncode == 0
    pushed = docker(tmp_path / "ws", app, "push", uri, moto_server=moto_server)
    assert pushed.returncode == 0, pushed.stderr

    [image] = aws("ecr").describe_images(repositoryName=repo)["imageDetails"]
    assert image["imageTags"] == ["build-1"]
    assert image["imageDigest"] in built.stdout
    assert (tmp_path / "store" / image["imageDigest"].replace(":", "-") / "task" / "probe_pkg").is_dir()

    name = f"image-fn-{uuid.uuid4().hex[:8]}"
    aws("lambda").create_function(FunctionName=name, Role=role, PackageType="Image", Code={"ImageUri": uri})
    assert _invoke(aws, name) == (None, {"pkg": "probe", "python": "3.11", "mood": "calm"})

    by_digest = f"{REGISTRY}/{repo}@{image['imageDigest']}"
    (app / "app.py").write_text("def handler(event, context):\n    return 'unused'\n")
    aws("lambda").update_function_code(FunctionName=name, ImageUri=by_digest)
    assert _invoke(aws, name)[1]["pkg"] == "probe"


def test_a_node_image_runs_its_cmd_handler(aws: Aws, role: str, moto_server: str, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.js").write_text("exports.handler = async () => ({ node: process.versions.node.split('.')[0] });\n")
    (app / "Dockerfile").write_text('FROM public.ecr.aws/lambda/nodejs:20\nCOPY app.js ./\nCMD ["app.handler"]\n')
    repo = f"images-{uuid.uuid4().hex[:8]}"
    aws("ecr").create_repository(repositoryName=repo)
    uri = f"{REGISTRY}/{repo}:v1"
    for args in (("build", "-t", uri, "."), ("push", uri)):
        done = docker(tmp_path / "ws", app, *args, moto_server=moto_server)
        assert done.returncode == 0, done.stderr
    name = f"image-node-{uuid.uuid4().hex[:8]}"
    aws("lambda").create_function(FunctionName=name, Role=role, PackageType="Image", Code={"ImageUri": uri})
    assert _invoke(aws, name) == (None, {"node": "20"})


@pytest.mark.parametrize(
    ("dockerfile", "named"),
    [
        ("FROM ubuntu:22.04\nCMD [\"app.handler\"]\n", "FROM ubuntu:22.04: only AWS Lambda base images"),
        ("FROM public.ecr.aws/lambda/python:3.11\nRUN apt-get install -y curl\nCMD [\"app.handler\"]\n",
         "line 2: RUN apt-get install -y curl: only `pip install"),
        ("FROM public.ecr.aws/lambda/python:3.11\nUSER nobody\nCMD [\"app.handler\"]\n",
         "line 2: USER: this instruction"),
        ("FROM public.ecr.aws/lambda/python:3.11\nCOPY app.py /opt/app.py\n",
         "COPY to /opt/app.py: only the task root"),
        ("FROM public.ecr.aws/lambda/python:3.11\n", "no CMD"),
    ],
)
def test_what_cannot_be_emulated_fails_naming_it(tmp_path: Path, dockerfile: str, named: str) -> None:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    with pytest.raises(images.ImageError) as caught:
        images.build(tmp_path, store=tmp_path / "store")
    assert named in str(caught.value)


def test_the_shim_refuses_what_it_does_not_understand(moto_server: str, tmp_path: Path) -> None:
    done = docker(tmp_path / "ws", tmp_path, "run", "--rm", "ubuntu", moto_server=moto_server)
    assert done.returncode == 2
    assert "docker run --rm ubuntu: this build has no Docker engine" in done.stderr


def test_an_image_uri_not_in_the_local_ecr_fails_the_invocation_naming_it(aws: Aws, role: str) -> None:
    uri = f"{REGISTRY}/nowhere-{uuid.uuid4().hex[:8]}:v1"
    name = f"image-missing-{uuid.uuid4().hex[:8]}"
    aws("lambda").create_function(FunctionName=name, Role=role, PackageType="Image", Code={"ImageUri": uri})
    error, payload = _invoke(aws, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert uri in payload["errorMessage"] and "no such image in the local ECR" in payload["errorMessage"]
