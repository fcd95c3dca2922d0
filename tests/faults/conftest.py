"""Fixtures for the reliability suite; the tiny model, data and the moto server are shared with
the training and storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster
from tests.storage.conftest import moto_url  # noqa: F401 - a fixture, re-exported
from tests.train.conftest import tiny  # noqa: F401 - a fixture, re-exported


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.cleanup()
