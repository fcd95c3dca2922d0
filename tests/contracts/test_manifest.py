import json

import pytest

from contract.manifest import (
    MANIFEST,
    ManifestError,
    is_committed,
    verify,
    write_manifest,
)


def _checkpoint(tmp_path):
    d = tmp_path / "step-00000010"
    (d / "model").mkdir(parents=True)
    (d / "model" / "shard0.bin").write_bytes(b"a" * 100)
    (d / "meta.json").write_text("{}")
    return d


def test_committed_only_after_manifest(tmp_path):
    d = _checkpoint(tmp_path)
    assert not is_committed(d)
    manifest = write_manifest(d, extra={"step": 10})
    assert set(manifest["files"]) == {"model/shard0.bin", "meta.json"}
    assert manifest["step"] == 10
    assert is_committed(d)
    assert verify(d)["files"]["model/shard0.bin"]["size"] == 100


def test_truncated_or_corrupted_files_are_detected(tmp_path):
    d = _checkpoint(tmp_path)
    write_manifest(d)
    (d / "model" / "shard0.bin").write_bytes(b"a" * 50)
    assert not is_committed(d)
    with pytest.raises(ManifestError, match="shard0.bin has 50 bytes"):
        verify(d)
    (d / "model" / "shard0.bin").write_bytes(b"b" * 100)
    assert is_committed(d)  # sizes match: the cheap check passes...
    with pytest.raises(ManifestError, match="sha256"):
        verify(d)  # ...but the full check does not


def test_half_written_manifest_is_not_committed(tmp_path):
    d = _checkpoint(tmp_path)
    write_manifest(d)
    text = (d / MANIFEST).read_text()
    (d / MANIFEST).write_text(text[: len(text) // 2])
    assert not is_committed(d)
    (d / MANIFEST).write_text(json.dumps({"files": {"missing.bin": {"size": 1, "sha256": "0"}}}))
    with pytest.raises(ManifestError, match="missing.bin is listed in the manifest but missing"):
        verify(d)
