from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import boto3
import pytest

from launcher.staging import MARKER, stage
from launcher.storage import StorageError


@pytest.fixture
def model(bucket: str, fault_proxy, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """A three-file "model" under s3://bucket/models/tiny/, read through a counting proxy."""
    files = {"config.json": b'{"layers": 2}', "weights/part-0.bin": os.urandom(70_000), "tokenizer.json": b"{}"}
    client = boto3.client("s3")
    for name, data in files.items():
        client.put_object(Bucket=bucket, Key=f"models/tiny/{name}", Body=data)
    client.put_object(Bucket=bucket, Key="models/tiny-other/x", Body=b"not part of it")
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    return files


def _gets(proxy) -> list[str]:
    return [r.path for r in proxy.server.requests if r.method == "GET" and "list-type" not in r.query]


def test_prefix_is_staged_once_and_reused(bucket: str, model: dict[str, bytes], fault_proxy, tmp_path: Path) -> None:
    path = stage(f"s3://{bucket}/models/tiny", tmp_path / "cache")
    assert path.name == "tiny" and path.is_dir()
    assert {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()} == model
    assert len(_gets(fault_proxy)) == 3
    again = stage(f"s3://{bucket}/models/tiny/", tmp_path / "cache")
    assert again == path and len(_gets(fault_proxy)) == 3  # no new download
    assert json.loads((path.parent / MARKER).read_text())["files"]["tiny/weights/part-0.bin"] == 70_000


def test_damaged_or_unfinished_cache_is_downloaded_again(bucket: str, model, fault_proxy, tmp_path: Path) -> None:
    path = stage(f"s3://{bucket}/models/tiny", tmp_path / "cache")
    (path / "weights" / "part-0.bin").write_bytes(b"truncated")
    assert stage(f"s3://{bucket}/models/tiny", tmp_path / "cache") == path
    assert (path / "weights" / "part-0.bin").read_bytes() == model["weights/part-0.bin"]
    (path.parent / MARKER).unlink()  # as if killed before the marker was written
    stage(f"s3://{bucket}/models/tiny", tmp_path / "cache")
    assert len(_gets(fault_proxy)) == 9


def test_concurrent_callers_share_one_download(bucket: str, model, fault_proxy, tmp_path: Path) -> None:
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(stage(f"s3://{bucket}/models/tiny", tmp_path / "c")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 4
    assert len(_gets(fault_proxy)) == 3


def test_single_object(bucket: str, model, tmp_path: Path) -> None:
    path = stage(f"s3://{bucket}/models/tiny/config.json", tmp_path / "cache")
    assert path.name == "config.json" and path.read_bytes() == model["config.json"]


def test_local_paths_are_returned_as_is(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("{}\n")
    assert stage(str(tmp_path / "data.jsonl"), tmp_path / "cache") == tmp_path / "data.jsonl"
    assert stage(f"file://{tmp_path}/data.jsonl", tmp_path / "cache") == tmp_path / "data.jsonl"
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("what", ["./no/such/dir", "file:///no/such/file", "ftp://host/x"])
def test_bad_inputs_name_the_input(what: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=what.replace(".", r"\.")):
        stage(what, tmp_path / "cache")


def test_nothing_at_the_uri(bucket: str, model, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="nothing there"):
        stage(f"s3://{bucket}/models/absent", tmp_path / "cache")
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "cache").iterdir())
