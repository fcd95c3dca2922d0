"""Killed in the middle of a checkpoint: while writing it to the local disk, or while uploading
it. The half-written checkpoint is never resumed from; the local one is cleaned up at the next
start, the remote one is ignored and later replaced; the previous complete one is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.chaos import ChaosProxy
from tests.faults.cluster import (
    RUN_NAME,
    Cluster,
    committed_steps,
    events,
    mirror,
    partial_steps,
    summary,
    tail,
    train_flags,
    wait_all,
    wait_for,
)

pytestmark = pytest.mark.slow


def test_killed_while_writing_a_checkpoint(tiny, cluster: Cluster, tmp_path: Path) -> None:
    remote = tmp_path / "remote" / RUN_NAME  # the run's prefix under the output URI
    output = remote.parent.as_uri()
    nodes = cluster.launch(train_flags(tiny, output, "--checkpoint_interval_steps", "3"))
    local = nodes[0].local_out / "checkpoints"
    wait_for(lambda: committed_steps(remote / "checkpoints"), 240, "a first checkpoint synced", nodes)
    procs = [p for node in nodes for p in reversed(node.tree())]  # workers first: they write

    # Freeze the job the moment a checkpoint is being written; if it was already renamed into
    # place, let it go on and catch the next one. Then kill every process while frozen.
    for _ in range(40):
        writing = wait_for(
            lambda: sorted(local.glob(".tmp-step-*")), 60, "a checkpoint being written", nodes, interval=0.002
        )
        for proc in procs:
            proc.suspend()
        if any(path.exists() for path in writing):
            break
        for proc in reversed(procs):
            proc.resume()
    else:
        pytest.fail("never caught a checkpoint half-written in 40 tries")
    for node in nodes:
        node.kill()
    wait_all(nodes, 30)
    [partial] = [p for p in writing if p.exists()]
    step = int(partial.name.removeprefix(".tmp-step-"))
    assert not (partial / "manifest.json").exists()
    before = committed_steps(local)
    assert before and before[-1] < step
    assert f"step-{step:08d}" not in {p.name for p in (remote / "checkpoints").iterdir()}  # never uploaded
    assert partial_steps(remote / "checkpoints") == [] and committed_steps(remote / "checkpoints")
    synced_before = committed_steps(remote / "checkpoints")[-1]

    # The same machines start again (same disks): the partial directory is removed, the last
    # committed checkpoint is resumed, and the step that was interrupted is written anew.
    rerun = cluster.launch(
        train_flags(
            tiny, output, "--checkpoint_interval_steps", "3", "--resume", "auto", "--max_train_step", str(step + 1)
        ),
        run="run1",
    )
    assert wait_all(rerun, 240) == [0, 0], tail(rerun[0].output)
    out = rerun[0].output
    assert [e["path"] for e in events(out, "stale_checkpoint_removed")] == [str(partial)]
    # Every rank loads the same step: node 0's latest, unless node 1 (which fetched from the output
    # URI) lacks it because node 0 was killed before uploading it; then the latest both have.
    loaded = {int(e["step"]) for node in rerun for e in events(node.output, "checkpoint_loaded")}
    assert len(loaded) == 1, loaded
    [resumed] = loaded
    assert resumed in before and synced_before <= resumed <= before[-1], (resumed, before, synced_before)
    assert resumed == before[-1] or events(out, "resume_common")
    assert not list(local.glob(".tmp-step-*"))
    assert step in committed_steps(local) and step in committed_steps(remote / "checkpoints")
    assert summary(remote)["step"] == step + 1


def test_killed_while_uploading_a_checkpoint(
    tiny, cluster: Cluster, chaos: ChaosProxy, bucket: str, s3_env: str, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/run"
    flags = train_flags(tiny, uri, "--checkpoint_interval_steps", "4")
    chaos.hold_s = 1.0  # each stored file is acknowledged a second late: uploads are slow
    nodes = cluster.launch(flags, env={"AWS_ENDPOINT_URL": chaos.url})

    def half_uploaded() -> str | None:
        """A checkpoint with files stored but not its manifest, after one fully uploaded."""
        keys = chaos.puts("/checkpoints/")
        done = {key.split("/checkpoints/")[1].split("/")[0] for key in keys if key.endswith("/manifest.json")}
        started = [key.split("/checkpoints/")[1].split("/")[0] for key in keys if not key.endswith("/manifest.json")]
        return next((name for name in started if name not in done), None) if done else None

    name = wait_for(half_uploaded, 240, "an upload caught half-way", nodes, interval=0.02)
    for node in nodes:
        node.kill()
    wait_all(nodes, 30)
    step = int(name.removeprefix("step-"))
    seen = mirror(f"{uri}/{RUN_NAME}", tmp_path / "after-kill", s3_env) / "checkpoints"
    assert partial_steps(seen) == [name]  # files without a manifest at the output URI
    complete = committed_steps(seen)
    assert complete and complete[-1] < step

    # A new job run (fresh disks): the partial checkpoint is ignored, the previous one resumed,
    # and the interrupted step is uploaded again, whole, manifest last.
    chaos.hold_s = 0.0
    rerun = cluster.launch(
        train_flags(
            tiny, uri, "--checkpoint_interval_steps", "4", "--resume", "auto", "--max_train_step", str(step + 1)
        ),
        env={"AWS_ENDPOINT_URL": chaos.url},
    )
    assert wait_all(rerun, 240) == [0, 0], tail(rerun[0].output)
    [fetched] = events(rerun[0].output, "resume_fetch")
    assert fetched["checkpoint"].endswith(f"step-{complete[-1]:08d}"), fetched
    final = mirror(f"{uri}/{RUN_NAME}", tmp_path / "after-rerun", s3_env)
    assert partial_steps(final / "checkpoints") == []
    assert step in committed_steps(final / "checkpoints")  # every checksum verified
    assert summary(final)["resumed_from"].endswith(f"step-{complete[-1]:08d}")
    assert summary(final)["step"] == step + 1
