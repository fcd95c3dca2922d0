"""Fixtures for the reliability suite; the tiny model and data, the moto server and its buckets
are shared with the training and storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.chaos import ChaosProxy
from tests.faults.cluster import Cluster
from tests.storage.conftest import bucket, moto_url, s3_env  # noqa: F401 - fixtures, re-exported
from tests.train.conftest import tiny  # noqa: F401 - a fixture, re-exported


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.cleanup()


@pytest.fixture
def chaos(s3_env: str) -> Iterator[ChaosProxy]:
    """A fault-injecting proxy in front of the moto server (credentials set by s3_env)."""
    with ChaosProxy(s3_env) as proxy:
        yield proxy
