"""The local disk fills up while a checkpoint is written: training stops with an error that says
so and names the previous checkpoint, which is intact locally and at the output URI; nothing
half-written is left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import (
    RUN_NAME,
    Cluster,
    committed_steps,
    events,
    partial_steps,
    tail,
    train_flags,
    wait_all,
)

pytestmark = pytest.mark.slow

#: About five checkpoints of the tiny LoRA run (~123 kB each) and its metrics.
DISK = "640k"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, small filesystem (tmpfs with a size limit): writes past it fail with ENOSPC."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "ocift-small-disk", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.fail(f"cannot mount a {DISK} tmpfs (this test needs root, as CI runs): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_disk_full_during_a_checkpoint(tiny, cluster: Cluster, small_disk: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote" / RUN_NAME  # the run's prefix under the output URI
    output = remote.parent.as_uri()
    nodes = cluster.launch(
        train_flags(tiny, output, "--checkpoint_interval_steps", "2"), work_dirs={0: small_disk / "work"}
    )
    statuses = wait_all(nodes, 240)
    out = nodes[0].output
    assert statuses[0] == 1 and statuses[1] != 0, tail(out)
    [failed] = events(out, "train_failed", rank="0")
    local = small_disk / "work" / "runs" / RUN_NAME / "checkpoints"
    kept = committed_steps(local)  # every checksum verified
    assert kept, tail(out)
    assert "No space left on device" in failed["error"], failed
    assert f"the previous checkpoint step-{kept[-1]:08d} is intact" in failed["error"], failed
    assert f"writing checkpoint step-{kept[-1] + 2:08d}" in failed["error"], failed
    assert not list(local.glob(".tmp-step-*")) and partial_steps(local) == []
    assert committed_steps(remote / "checkpoints") == kept and partial_steps(remote / "checkpoints") == []
