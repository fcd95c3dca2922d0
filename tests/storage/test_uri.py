from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from launcher.storage import StorageError, open_store, parse_uri


@pytest.mark.parametrize(
    ("uri", "scheme", "bucket", "namespace", "prefix"),
    [
        ("s3://models/llama/8b", "s3", "models", "", "llama/8b"),
        ("s3://models", "s3", "models", "", ""),
        ("oci://outputs@axyz123/runs/42/", "oci", "outputs", "axyz123", "runs/42"),
        ("file:///tmp/x/y", "file", "", "", "/tmp/x/y"),
    ],
)
def test_parse_good(uri: str, scheme: str, bucket: str, namespace: str, prefix: str) -> None:
    parsed = parse_uri(uri)
    assert (parsed.scheme, parsed.bucket, parsed.namespace, parsed.prefix) == (scheme, bucket, namespace, prefix)


def test_plain_path_is_absolute_file(tmp_path) -> None:
    assert parse_uri(str(tmp_path)).prefix == str(tmp_path)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("gs://bucket/x", ["gs://bucket/x", "unknown storage scheme 'gs'"]),
        ("s3:///prefix", ["s3:///prefix", "missing bucket"]),
        ("oci://@ns/prefix", ["missing bucket"]),
        ("oci://bucket/prefix", ["oci://bucket/prefix", "namespace"]),
        ("oci://bucket@/prefix", ["namespace"]),
        ("s3://bad bucket/x", ["invalid bucket name"]),
        ("s3:bucket/x", ["malformed", "'//'"]),
        ("s3://b/x?versionId=3", ["query"]),
        ("s3://b/a//c", ["empty path segment"]),
        ("file://host/x", ["absolute"]),
        ("", ["empty storage URI"]),
    ],
)
def test_parse_bad_names_the_uri_and_field(uri: str, words: list[str]) -> None:
    with pytest.raises(StorageError) as info:
        open_store(uri)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "..", "a/"])
def test_keys_cannot_escape_the_root(tmp_path, key: str) -> None:
    store = open_store(str(tmp_path))
    with pytest.raises(StorageError, match="invalid object key"):
        store.exists(key)


@given(st.text(alphabet="ab./", max_size=12))
@settings(max_examples=300, deadline=None)
def test_no_key_reaches_outside_the_root(key: str) -> None:
    """Whatever the key, a file store either refuses it or stays inside its directory."""
    root = Path(tempfile.gettempdir()) / "ocift-key-property"
    store = open_store(str(root))
    try:
        store.exists(key)
    except StorageError:
        return
    assert (root / key).resolve().is_relative_to(root.resolve()) and (root / key).resolve() != root.resolve()
