"""Fixtures every test area may use; plain helpers are in `tests/support.py`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
# Tests never touch the internet: the Hugging Face libraries read only local files and caches (a
# samsum run without --data_path is refused before it starts, docs/training.md). Set before any
# test process starts, so every launcher and torchrun child inherits it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from launcher.signals import descendants, kill_tree  # noqa: E402
from launcher.train.tiny import make_samsum_like, make_tiny_model  # noqa: E402
from tests.storage.fakes import (  # noqa: E402
    FaultProxy,
    ObjectStorageFake,
    RecordingServer,
    moto_server,
    write_oci_config,
)
from tests.support import (  # noqa: E402
    PROVIDER_SETTING,
    PROVIDER_VERSION,
    REPO,
    Start,
    Terraform,
    find_provider,
    provider_terraform,
)


@pytest.fixture
def stack():
    """An empty cdktf stack in a test app (cdktf is imported only by tests that ask for one)."""
    from cdk.framework import TerraformStack, Testing

    return TerraformStack(Testing.app(), "test")


# ---- storage: a real local S3 server, a local Object Storage endpoint ----------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """Credentials and endpoint for boto3 (moto accepts any); returns the endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return moto_url


@pytest.fixture
def bucket(s3_env: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket in the moto server."""
    import boto3

    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:44].strip("-")
    name = f"b-{slug}-{uuid.uuid4().hex[:6]}"  # valid, unique, and still says which test made it
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name


@pytest.fixture
def fault_proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as proxy:
        yield proxy


@pytest.fixture
def oci_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway API key + config; the launcher picks it up as it would ~/.oci/config."""
    config = write_oci_config(tmp_path)
    monkeypatch.setenv("OCI_CONFIG_FILE", str(config))
    monkeypatch.delenv("OCI_CLI_PROFILE", raising=False)
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    return config


@pytest.fixture
def object_storage(
    oci_config: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ObjectStorageFake, RecordingServer]]:
    fake = ObjectStorageFake("testns", ["bkt"])
    with RecordingServer(fake) as server:
        monkeypatch.setenv("OCI_OBJECT_STORAGE_ENDPOINT", server.url)
        yield fake, server


# ---- training: a tiny model and data made in code -------------------------------------------


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tiny")
    return {
        "model": make_tiny_model(base / "model", hidden_size=48, num_layers=2, num_heads=2, vocab_size=320),
        "data": make_samsum_like(base / "data", n_train=48, n_val=8, seed=1),
    }


# ---- the real entrypoint as separate processes ---------------------------------------------


@pytest.fixture
def start() -> Iterator[Start]:
    """`start(args, env, module="launcher")`: a process in its own session; whatever is left
    of it (torchrun, workers in their own sessions) is killed when the test ends."""
    procs: list[subprocess.Popen] = []

    def _start(args: list[str], env: dict[str, str], module: str = "launcher") -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        kill_tree(proc, descendants(proc.pid))
        if proc.poll() is None:
            proc.communicate()


# ---- the real oracle/oci provider through Terraform -------------------------------------------


@pytest.fixture(scope="session")
def terraform(tmp_path_factory) -> Terraform:
    """Terraform with the real `oracle/oci` provider, offline (see `tests.support.find_provider`).

    Skipped, with the reason, where no provider or no terraform is installed; under CI
    (`CI=true`), where both are there, a missing one fails instead of skipping."""
    import shutil

    provider = find_provider()
    missing = (
        "no terraform on PATH"
        if shutil.which("terraform") is None
        else None
        if provider
        else f"no oracle/oci {PROVIDER_VERSION} provider: set {PROVIDER_SETTING}, "
        "or put it in ../shared/terraform/ or Terraform's plugin cache"
    )
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI must run the real-provider tests)")
        pytest.skip(missing)
    return provider_terraform(tmp_path_factory.mktemp("terraform"), provider)
