"""Fixtures for the reliability suite (the tiny model, the moto server and its buckets are in
`tests/conftest.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.chaos import ChaosProxy
from tests.faults.cluster import Cluster


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
