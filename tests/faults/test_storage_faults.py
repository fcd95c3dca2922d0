"""The object store misbehaves while training runs: 500s, throttling (503 SlowDown), dropped
connections, and down altogether (connections refused). Uploads are retried with backoff,
training keeps stepping, and once the store is back every checkpoint is there, complete. A
store that never comes back fails the run at the end, clearly, with a non-zero exit."""

from __future__ import annotations

import signal
import time
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

#: From the end of training to the exit when the store is down for good: the upload in flight
#: (retried up to launcher.sync.SYNC_RETRY) and two more in the last pass before it gives up.
#: Measured ~60 s with botocore's and the store's retries against a store answering 503.
STORE_DOWN_BOUND_S = 150
#: Each kind of failure lasts at least this long (and until the store answered it 3 times).
PHASE_S = 3.0


def last_step(text: str) -> int:
    steps = events(text, "train", rank="0")
    return int(steps[-1]["step"].split("/")[0]) if steps else 0  # step=N/total


def test_outage_is_retried_training_goes_on_and_nothing_is_lost(
    tiny, cluster: Cluster, chaos: ChaosProxy, bucket: str, s3_env: str, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/run"
    nodes = cluster.launch(
        train_flags(tiny, uri, "--checkpoint_interval_steps", "10"), env={"AWS_ENDPOINT_URL": chaos.url}
    )
    node0 = nodes[0]
    # Failing from the start of training (each node's write check, before it, found the store working).
    wait_for(lambda: all(events(n.output, "torchrun_start") for n in nodes), 240, "training to start", nodes)
    chaos.mode, chaos.status = "error", 500
    wait_for(lambda: last_step(node0.output), 240, "training to take steps", nodes)
    began, first_step = time.monotonic(), last_step(node0.output)
    for mode, outcome in (("error", "error 500"), ("throttle", "throttled"), ("drop", "dropped")):
        chaos.mode = mode
        before, since = chaos.count(outcome=outcome), time.monotonic()

        def answered(outcome: str = outcome, before: int = before, since: float = since) -> bool:
            return chaos.count(outcome=outcome) >= before + 3 and time.monotonic() - since >= PHASE_S

        wait_for(answered, 120, f"the store to answer {outcome}", nodes)
    chaos.mode = "down"
    assert chaos.refused_probe()
    time.sleep(PHASE_S)
    outage_s, outage_steps = time.monotonic() - began, last_step(node0.output) - first_step
    print(f"storage outage: {outage_steps} training steps during {outage_s:.0f}s of failing storage")
    # Training did not wait for the store: it stepped on through the outage (~0.1 s a step).
    assert outage_steps >= 20, f"{outage_steps} steps in {outage_s:.0f}s of outage\n{tail(node0.output)}"
    assert node0.proc.poll() is None, "the outage must span training for this test to mean anything"
    assert not chaos.puts("/checkpoints/")  # nothing got through

    chaos.mode = "ok"
    wait_for(lambda: chaos.puts("/manifest.json"), 120, "uploads to resume", nodes)
    for node in nodes:  # the run ends while training (its last checkpoint goes up too)
        node.proc.send_signal(signal.SIGTERM)
    assert wait_all(nodes, 300) == [143, 143], tail(node0.output)
    out = node0.output
    retries = events(out, "storage_retry")
    assert retries and max(int(e["attempt"]) for e in retries) >= 2 and all(float(e["delay_s"]) >= 0 for e in retries)
    saved = sorted({int(e["step"]) for e in events(out, "checkpoint_saved", rank="0")})
    remote = mirror(f"{uri}/{RUN_NAME}", tmp_path / "remote", s3_env)
    assert committed_steps(remote / "checkpoints") == saved and len(saved) >= 3  # every one, checksums verified
    assert partial_steps(remote / "checkpoints") == []
    assert summary(remote)["step"] == saved[-1] and summary(remote)["outcome"] == "terminated"
    assert events(out, "summary")[-1]["sync_failed"] == "0"


def test_store_that_never_recovers_fails_the_run_at_the_end(
    tiny, cluster: Cluster, chaos: ChaosProxy, bucket: str, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/run"
    nodes = cluster.launch(
        train_flags(tiny, uri, "--checkpoint_interval_steps", "3", "--max_train_step", "6"),
        env={"AWS_ENDPOINT_URL": chaos.url},
    )
    node0 = nodes[0]
    # Down from the moment training starts (each node's write check, before it, found the store working).
    wait_for(lambda: all(events(n.output, "torchrun_start") for n in nodes), 240, "training to start", nodes)
    chaos.mode = "throttle"
    wait_for(lambda: events(node0.output, "train_done", rank="0"), 240, "training to finish", nodes)
    trained = time.monotonic()
    status = node0.wait(timeout=600)
    took = time.monotonic() - trained
    out = node0.output
    print(f"permanent failure reported {took:.1f}s after training finished")
    assert status == 74, tail(out)
    [failed] = events(out, "sync_failed")
    assert uri in failed["message"] and "checkpoints/step-00000006" in failed["message"], failed
    assert int(events(out, "summary")[-1]["sync_failed"]) >= 1
    assert events(out, "sync_giving_up")  # the rest were not tried file by file
    assert took < STORE_DOWN_BOUND_S, f"{took:.0f}s from the end of training to the exit"
    assert not chaos.puts("/checkpoints/")
