"""The one `Store` interface, exercised against each backend's real counterpart:
a directory, moto's S3 server over HTTP, and the OCI SDK against a local Object Storage fake."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from launcher.storage import (
    IntegrityError,
    RetryPolicy,
    StorageError,
    TransferOptions,
    open_store,
)

FAST = RetryPolicy(attempts=4, base_s=0.01, max_backoff_s=0.05, deadline_s=30)
SMALL_PARTS = TransferOptions(multipart_threshold=5 << 20, part_size=5 << 20, concurrency=4)  # S3's minimum part


def _blob(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


@pytest.fixture(params=["file", "s3", "oci"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'remote'}"
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('bucket')}/runs/1"
    request.getfixturevalue("object_storage")
    return "oci://bkt@testns/runs/1"


def test_round_trip_list_exists_delete(store_uri: str, tmp_path: Path) -> None:
    store = open_store(store_uri, retry=FAST)
    a, b = _blob(tmp_path / "a.bin", 1000), _blob(tmp_path / "b.bin", 0)
    for i, key in enumerate(["x/a.bin", "x/sub/b.bin", "y/c.bin", "x/d.bin", "x/e.bin"]):
        info = store.upload_file(b if i == 1 else a, key)
        assert info.size == (0 if i == 1 else 1000) and info.checksum.startswith("sha256:")
    listed = store.list("x/")
    assert [o.key for o in listed] == ["x/a.bin", "x/d.bin", "x/e.bin", "x/sub/b.bin"]  # OCI fake pages by 3
    assert [o.size for o in listed] == [1000, 1000, 1000, 0]
    assert store.exists("x/a.bin") and not store.exists("x/nope")
    store.download_file("x/a.bin", tmp_path / "out" / "a.bin")
    store.download_file("x/sub/b.bin", tmp_path / "out" / "b.bin")
    assert (tmp_path / "out" / "a.bin").read_bytes() == a.read_bytes()
    assert (tmp_path / "out" / "b.bin").read_bytes() == b""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin", "b.bin"]  # no temp leftovers
    store.delete("x/a.bin")
    store.delete("x/a.bin")  # idempotent
    assert not store.exists("x/a.bin")
    with pytest.raises(StorageError, match="no such object"):
        store.download_file("x/a.bin", tmp_path / "out" / "gone")


def test_s3_multipart_upload_is_parallel_parts_and_verified(bucket: str, tmp_path: Path) -> None:
    store = open_store(f"s3://{bucket}/big", retry=FAST, transfer=SMALL_PARTS)
    src = _blob(tmp_path / "big.bin", 12 << 20)
    store.upload_file(src, "big.bin")
    head = boto3.client("s3").head_object(Bucket=bucket, Key="big/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: a real multipart upload
    assert head["Metadata"]["ocift-sha256"]
    store.download_file("big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_s3_corrupted_object_is_detected(bucket: str, tmp_path: Path) -> None:
    store = open_store(f"s3://{bucket}", retry=FAST)
    src = _blob(tmp_path / "w.bin", 4096)
    store.upload_file(src, "w.bin")
    # Behind the client's back: same size and metadata, one flipped byte.
    client = boto3.client("s3")
    meta = client.head_object(Bucket=bucket, Key="w.bin")["Metadata"]
    data = bytearray(src.read_bytes())
    data[100] ^= 0xFF
    client.put_object(Bucket=bucket, Key="w.bin", Body=bytes(data), Metadata=meta)
    with pytest.raises(IntegrityError, match=r"w\.bin.*sha256"):
        store.download_file("w.bin", tmp_path / "got.bin")
    assert not (tmp_path / "got.bin").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]  # the temp file is gone too


def test_s3_foreign_object_checked_by_etag_md5(bucket: str, tmp_path: Path) -> None:
    """An object we did not upload (no sha256 metadata): the single-part ETag is its MD5."""
    boto3.client("s3").put_object(Bucket=bucket, Key="f.txt", Body=b"hello world")
    store = open_store(f"s3://{bucket}", retry=FAST)
    store.download_file("f.txt", tmp_path / "f.txt")
    assert (tmp_path / "f.txt").read_bytes() == b"hello world"


@pytest.mark.parametrize("drop", [False, True], ids=["503", "dropped-connection"])
def test_s3_transient_failures_are_retried(bucket: str, fault_proxy, tmp_path: Path, drop: bool) -> None:
    store = open_store(f"s3://{bucket}/p", retry=FAST, transfer=SMALL_PARTS, endpoint=fault_proxy.url)
    src = _blob(tmp_path / "m.bin", 11 << 20)
    fault_proxy.drop = drop
    fault_proxy.fail_next = 3
    store.upload_file(src, "m.bin")
    fault_proxy.fail_next = 2
    store.download_file("m.bin", tmp_path / "m.out")
    assert fault_proxy.failed == 5
    assert (tmp_path / "m.out").read_bytes() == src.read_bytes()


def test_s3_persistent_failure_gives_up_with_a_clear_error(bucket: str, fault_proxy, tmp_path: Path) -> None:
    policy = RetryPolicy(attempts=2, base_s=0.01, max_backoff_s=0.02, deadline_s=20)
    store = open_store(f"s3://{bucket}", retry=policy, endpoint=fault_proxy.url)
    fault_proxy.fail_next = 10_000
    with pytest.raises(StorageError, match=rf"s3://{bucket}: upload k failed after 2 attempt"):
        store.upload_file(_blob(tmp_path / "k", 10), "k")
    assert fault_proxy.failed == 4  # botocore 2 tries x our 2 tries: bounded


def test_s3_missing_bucket_is_a_clear_error(s3_env: str, tmp_path: Path) -> None:
    store = open_store("s3://no-such-bucket/x", retry=FAST)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        store.upload_file(_blob(tmp_path / "k", 10), "k")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        store.exists("k")


def test_oci_requests_are_signed_and_carry_checksums(object_storage, tmp_path: Path) -> None:
    fake, server = object_storage
    store = open_store("oci://bkt@testns/runs", retry=FAST)
    store.upload_file(_blob(tmp_path / "a", 300), "a")
    put = next(r for r in server.requests if r.method == "PUT")
    assert put.path == "/n/testns/b/bkt/o/runs/a" and put.signed
    assert put.headers["content-md5"] and put.headers["opc-meta-ocift-sha256"]
    assert all(r.signed for r in server.requests)


def test_oci_multipart_upload_and_ranged_download(object_storage, tmp_path: Path) -> None:
    fake, server = object_storage
    store = open_store(
        "oci://bkt@testns/runs",
        retry=FAST,
        transfer=TransferOptions(multipart_threshold=1 << 20, part_size=1 << 20, concurrency=3),
    )
    src = _blob(tmp_path / "big", (3 << 20) + 5)
    store.upload_file(src, "big")
    parts = [r for r in server.requests if r.method == "PUT" and "uploadPartNum" in r.query]
    assert len(parts) == 4
    assert fake.buckets["bkt"]["runs/big"].meta["opc-meta-ocift-sha256"]
    fake.fail_next, fake.fail_only = 1, lambda req: "range" in req.headers  # one range fails, then a retry
    store.download_file("big", tmp_path / "big.out")
    assert (tmp_path / "big.out").read_bytes() == src.read_bytes()
    ranges = [r.headers["range"] for r in server.requests if r.method == "GET" and "range" in r.headers]
    assert sorted(set(ranges)) == [
        "bytes=0-1048575",
        "bytes=1048576-2097151",
        "bytes=2097152-3145727",
        "bytes=3145728-3145732",
    ]
    assert len(ranges) > 4


def test_oci_retries_and_detects_corruption(object_storage, tmp_path: Path) -> None:
    fake, _server = object_storage
    store = open_store("oci://bkt@testns", retry=FAST)
    src = _blob(tmp_path / "c", 2048)
    fake.fail_next = 2
    store.upload_file(src, "c")
    fake.fail_status, fake.fail_next = 0, 1  # a dropped connection
    store.download_file("c", tmp_path / "c.ok")
    fake.corrupt("bkt", "c")
    with pytest.raises(IntegrityError, match="oci://bkt@testns/c"):
        store.download_file("c", tmp_path / "c.bad")


def test_oci_missing_bucket_is_a_clear_error(object_storage, tmp_path: Path) -> None:
    store = open_store("oci://nope@testns/x", retry=FAST)
    with pytest.raises(StorageError, match="bucket 'nope' in namespace 'testns' does not exist"):
        store.upload_file(_blob(tmp_path / "k", 10), "k")
    with pytest.raises(StorageError, match="bucket 'nope'"):
        store.exists("k")
