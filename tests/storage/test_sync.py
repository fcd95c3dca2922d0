from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import boto3

from contract.manifest import write_manifest
from launcher.storage import RetryPolicy, open_store
from launcher.sync import CheckpointSync, fetch_latest_checkpoint

FAST = RetryPolicy(attempts=2, base_s=0.01, max_backoff_s=0.02, deadline_s=10)


def _checkpoint(root: Path, step: int, commit: bool = True) -> Path:
    directory = root / "checkpoints" / f"step-{step:08d}"
    (directory / "model").mkdir(parents=True)
    (directory / "model" / "weights.bin").write_bytes(os.urandom(3000))
    (directory / "optimizer.pt").write_bytes(os.urandom(1000))
    if commit:
        write_manifest(directory, {"step": step})
    return directory


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _puts(proxy) -> list[str]:
    """Object keys PUT through the proxy, in order (path-style: /bucket/key)."""
    return [r.path.split("/", 2)[2] for r in proxy.server.requests if r.method == "PUT" and r.path.count("/") >= 2]


def test_committed_only_manifest_last_never_twice(bucket: str, fault_proxy, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    out = tmp_path / "out"
    _checkpoint(out, 10)
    partial = _checkpoint(out, 20, commit=False)
    sync = CheckpointSync(out, f"s3://{bucket}/run", interval_s=0.05, retry=FAST)
    sync.start()
    _wait_for(lambda: "run/checkpoints/step-00000010/manifest.json" in _puts(fault_proxy))
    time.sleep(0.3)  # several more passes
    assert not any("step-00000020" in key for key in _puts(fault_proxy))  # not committed yet
    write_manifest(partial)  # training finishes writing it
    _wait_for(lambda: "run/checkpoints/step-00000020/manifest.json" in _puts(fault_proxy))
    (out / "metrics.jsonl").write_text('{"step": 20}\n')
    (out / "adapter").mkdir()
    (out / "adapter" / "adapter_model.safetensors").write_bytes(b"A" * 100)
    (out / "summary.json.tmp").write_text("half-written")
    _checkpoint(out, 30, commit=False)  # interrupted: never uploaded
    report = sync.stop_and_flush()

    puts = _puts(fault_proxy)
    assert report.ok and report.checkpoints == ["step-00000010", "step-00000020"]
    assert Counter(puts).most_common(1)[0][1] == 1  # nothing uploaded twice
    for step in ("step-00000010", "step-00000020"):
        mine = [k for k in puts if step in k]
        assert len(mine) == 3 and mine[-1].endswith("manifest.json")
    assert "run/metrics.jsonl" in puts and "run/adapter/adapter_model.safetensors" in puts
    assert not any("step-00000030" in k or k.endswith(".tmp") for k in puts)
    assert sorted(report.uploaded) == sorted(k.removeprefix("run/") for k in puts)

    # A second flush has nothing new to send.
    assert sync.stop_and_flush().uploaded == report.uploaded and len(_puts(fault_proxy)) == len(puts)


def test_keeps_going_through_storage_failures(bucket: str, fault_proxy, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    out = tmp_path / "out"
    fault_proxy.drop, fault_proxy.fail_next = True, 10_000  # storage is down
    sync = CheckpointSync(out, f"s3://{bucket}/run", interval_s=0.05, retry=FAST)
    sync.start()
    _checkpoint(out, 10)
    _wait_for(lambda: fault_proxy.failed > 8)  # several passes failed, the thread lives on
    assert sync._thread.is_alive()
    fault_proxy.fail_next = 0  # storage is back
    _wait_for(lambda: "run/checkpoints/step-00000010/manifest.json" in _puts(fault_proxy))
    report = sync.stop_and_flush()
    assert report.ok and report.checkpoints == ["step-00000010"]


def test_permanent_failure_is_reported_not_hung(bucket: str, fault_proxy, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    out = tmp_path / "out"
    _checkpoint(out, 10)
    (out / "metrics.jsonl").write_text("{}\n")
    fault_proxy.fail_next = 10_000
    started = time.monotonic()
    report = CheckpointSync(out, f"s3://{bucket}/run", interval_s=60, retry=FAST).stop_and_flush()
    assert time.monotonic() - started < 15
    assert not report.ok and report.checkpoints == []
    assert set(report.failed) == {"checkpoints/step-00000010/model/weights.bin", "metrics.jsonl"}


def test_locally_corrupt_checkpoint_is_not_committed_remotely(tmp_path: Path) -> None:
    out, remote = tmp_path / "out", tmp_path / "remote"
    weights = _checkpoint(out, 10) / "model" / "weights.bin"
    weights.write_bytes(os.urandom(3000))  # same size, other bytes: the manifest no longer matches
    report = CheckpointSync(out, str(remote), interval_s=60).stop_and_flush()
    assert "checkpoints/step-00000010" in report.failed
    assert not (remote / "checkpoints" / "step-00000010" / "manifest.json").exists()


def test_fetch_latest_ignores_partial_and_incomplete(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    _checkpoint(remote, 10)
    good = _checkpoint(remote, 20)
    _checkpoint(remote, 30, commit=False)  # upload died before the manifest
    broken = _checkpoint(remote, 40)
    (broken / "optimizer.pt").unlink()  # manifest present, a file missing
    store_before = {o.key for o in open_store(str(remote)).list("")}

    local = tmp_path / "local"
    got = fetch_latest_checkpoint(f"file://{remote}", local)
    assert got == local / "checkpoints" / "step-00000020"
    for name in ("manifest.json", "optimizer.pt", "model/weights.bin"):
        assert (got / name).read_bytes() == (good / name).read_bytes()
    assert sorted(p.name for p in (local / "checkpoints").iterdir()) == ["step-00000020"]  # no partial dirs left
    assert {o.key for o in open_store(str(remote)).list("")} == store_before  # read-only on the remote

    (good / "optimizer.pt").unlink()  # already local: no download needed
    assert fetch_latest_checkpoint(str(remote), local) == got


def test_fetch_latest_skips_corrupted_remote_and_none_when_empty(bucket: str, tmp_path: Path) -> None:
    uri = f"s3://{bucket}/run"
    store = open_store(uri)
    for step in (10, 20):
        directory = _checkpoint(tmp_path / "src", step)
        for path in sorted(directory.rglob("*"), key=lambda p: p.name == "manifest.json"):
            if path.is_file():
                store.upload_file(path, f"checkpoints/{directory.name}/{path.relative_to(directory).as_posix()}")
    client = boto3.client("s3")
    key = "run/checkpoints/step-00000020/optimizer.pt"
    meta = client.head_object(Bucket=bucket, Key=key)["Metadata"]
    client.put_object(Bucket=bucket, Key=key, Body=os.urandom(1000), Metadata=meta)  # bit rot, same size
    got = fetch_latest_checkpoint(uri, tmp_path / "local")
    assert got is not None and got.name == "step-00000010"
    assert fetch_latest_checkpoint(f"s3://{bucket}/other", tmp_path / "local2") is None
