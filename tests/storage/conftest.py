from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.fakes import FaultProxy, ObjectStorageFake, RecordingServer, moto_server, write_oci_config


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """Credentials and endpoint for boto3 (moto accepts any); returns the endpoint."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_url}.items():
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
def object_storage(oci_config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ObjectStorageFake, RecordingServer]]:
    fake = ObjectStorageFake("testns", ["bkt"])
    with RecordingServer(fake) as server:
        monkeypatch.setenv("OCI_OBJECT_STORAGE_ENDPOINT", server.url)
        yield fake, server
