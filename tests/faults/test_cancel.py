"""The job is cancelled: SIGTERM reaches every node (here through `ocift local`, which forwards it
as the service does). Training checkpoints the step it is on within the grace period, the
checkpoint is synced, every node exits non-zero, and a rerun continues from that step."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.cluster import (
    FAST,
    RUN_NAME,
    Cluster,
    committed_steps,
    events,
    summary,
    tail,
    train_flags,
    wait_for,
)

pytestmark = pytest.mark.slow


def test_cancel_commits_a_checkpoint_within_the_grace_and_rerun_resumes(tiny, cluster: Cluster, tmp_path: Path) -> None:
    remote = tmp_path / "remote" / RUN_NAME  # the run's prefix under the output URI
    output = remote.parent.as_uri()
    grace = float(FAST["OCIFT_TERM_GRACE_S"])
    run = cluster.local(["--nnodes", "2", "--work-dir", str(tmp_path / "job-1")], train_flags(tiny, output))
    wait_for(lambda: events(run.output, "train"), 240, "training to take steps", [run])

    cancelled = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    status = run.wait(timeout=grace + 60)
    took = time.monotonic() - cancelled
    out = run.output
    print(f"cancelled: every node exited {status} after {took:.1f}s")
    assert status == 143, tail(out)
    assert took < grace, f"{took:.1f}s from SIGTERM to exit\n{tail(out)}"
    assert "node 0 exited with status 143" in out and "node 1 exited with status 143" in out, tail(out)
    [done] = events(out, "train_done", rank="0")
    assert done["outcome"] == "terminated"
    stopped_at = int(done["step"])
    saved = [int(e["step"]) for e in events(out, "checkpoint_saved", rank="0")]
    assert saved[-1] == stopped_at, saved  # the step it was on, not only an earlier periodic one
    assert committed_steps(remote / "checkpoints")[-1] == stopped_at  # synced, every checksum verified
    assert events(out, "sigterm") and events(out, "summary")[-1]["exit_code"] == "143"

    rerun = cluster.local(
        ["--nnodes", "2", "--work-dir", str(tmp_path / "job-2")],
        train_flags(tiny, output, "--resume", "auto", "--max_train_step", str(stopped_at + 3)),
    )
    assert rerun.wait(timeout=240) == 0, tail(rerun.output)
    loaded = [e for e in events(rerun.output, "checkpoint_loaded")]
    assert loaded and all(int(e["step"]) == stopped_at for e in loaded), loaded
    final = summary(remote)
    assert final["resumed_from"].endswith(f"step-{stopped_at:08d}") and final["step"] == stopped_at + 3, final
