"""Checkpoint manifests: what makes a directory of files a *complete* checkpoint.

A writer puts every file in place first and the manifest (relative path, size, sha256 of
each file) last, atomically. Readers (resume, background sync, upload) trust a directory only
when its manifest exists and every file matches it. Training writes manifests; the launcher's
storage sync uploads a checkpoint's files first and its manifest last, so the remote copy
follows the same rule.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class ManifestError(RuntimeError):
    """A checkpoint that is not complete or does not match its manifest."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, extra: dict | None = None) -> dict:
    """Record every file under `directory` and write the manifest last (atomic rename)."""
    directory = Path(directory)
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel == MANIFEST or rel.endswith(".tmp"):
            continue
        files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"version": 1, "files": files, **(extra or {})}
    tmp = directory / (MANIFEST + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / MANIFEST)
    return manifest


def read_manifest(directory: Path) -> dict | None:
    """The manifest, or None when the directory is not committed (missing or unreadable)."""
    try:
        with open(Path(directory) / MANIFEST) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def verify(directory: Path, checksums: bool = True) -> dict:
    """Return the manifest if every listed file is present with the right size (and hash)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        raise ManifestError(f"{directory}: no readable {MANIFEST}: checkpoint is incomplete")
    for rel, meta in manifest["files"].items():
        path = directory / rel
        if not path.is_file():
            raise ManifestError(f"{directory}: {rel} is listed in the manifest but missing")
        if path.stat().st_size != meta["size"]:
            raise ManifestError(f"{directory}: {rel} has {path.stat().st_size} bytes, manifest says {meta['size']}")
        if checksums and sha256_file(path) != meta["sha256"]:
            raise ManifestError(f"{directory}: {rel} does not match its sha256 in the manifest")
    return manifest


def is_committed(directory: Path) -> bool:
    """Cheap check (sizes only): used to pick checkpoints for sync and resume."""
    try:
        verify(directory, checksums=False)
    except ManifestError:
        return False
    return True
