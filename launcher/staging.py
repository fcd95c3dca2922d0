"""Stage a model or dataset onto this node once, whatever the number of processes asking.

`stage(uri, cache_dir)` returns a local path: a plain local path as-is; an object or a prefix
(a "directory") at an oci:// or s3:// URI copied into `cache_dir/<digest of the URI>/`; a
Hugging Face model id downloaded with `huggingface_hub.snapshot_download`. A file lock makes
concurrent callers on one node wait for a single download; the completion marker is written
last, after every file landed with its verified size, so a rerun reuses the cache and a
killed download is simply done again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from contract.recipe import split_function
from launcher import log
from launcher.storage import StorageError, open_store, parse_uri

MARKER = ".ocift-staged.json"
_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_PARALLEL_FILES = 8


def stage(uri_or_path: str, cache_dir: Path) -> Path:
    """A local path holding what `uri_or_path` names, downloading it at most once per node."""
    if "://" not in uri_or_path:
        if os.path.exists(uri_or_path):
            return Path(uri_or_path)
        if _HF_ID.match(uri_or_path):
            return _stage_hf(uri_or_path, Path(cache_dir))
        raise StorageError(
            f"{uri_or_path!r}: no such local path, and not a storage URI or a Hugging Face id (org/name)"
        )
    parsed = parse_uri(uri_or_path)
    if parsed.scheme == "file":
        if not os.path.exists(parsed.prefix):
            raise StorageError(f"{uri_or_path!r}: no such file or directory")
        return Path(parsed.prefix)
    if not parsed.prefix:
        raise StorageError(f"{uri_or_path!r}: names a whole bucket; stage an object or a prefix inside it")
    return _stage_remote(uri_or_path, Path(cache_dir))


def staged_value(option: str, given: str, local: str) -> str:
    """The option's new value once its input is staged at `local`: a custom dataset file keeps the
    `:function` it was given with (`oci://.../ds.py:get_foo` -> `<local>/ds.py:get_foo`)."""
    if option == "custom_dataset.file":
        _, function = split_function(given)
        return f"{local}:{function}"
    return local


def _stage_remote(uri: str, cache_dir: Path) -> Path:
    parent_uri, _, name = uri.rstrip("/").rpartition("/")
    slot = cache_dir / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    target = slot / name
    with _node_lock(cache_dir, slot.name):
        if _cached(slot, target):
            log.event("stage_cached", uri=uri, path=target)
            return target
        started = time.monotonic()
        shutil.rmtree(slot, ignore_errors=True)
        partial = slot.with_name(slot.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        store = open_store(parent_uri)
        if store.exists(name):
            keys = [name]
            store.download_file(name, partial / name)
        else:
            keys = [o.key for o in store.list(name + "/")]
            if not keys:
                raise StorageError(f"{uri}: nothing there (no object and no objects under this prefix)")
            with ThreadPoolExecutor(_PARALLEL_FILES) as pool:
                list(pool.map(lambda key: store.download_file(key, partial / key), keys))
        files = {key: (partial / key).stat().st_size for key in keys}
        (partial / MARKER).write_text(json.dumps({"uri": uri, "files": files}, indent=1))
        os.replace(partial, slot)
        log.event(
            "stage_downloaded",
            uri=uri,
            path=target,
            files=len(files),
            bytes=sum(files.values()),
            seconds=round(time.monotonic() - started, 2),
        )
        return target


def _cached(slot: Path, target: Path) -> bool:
    """A previous stage finished (marker present) and every file still has its size."""
    try:
        files = json.loads((slot / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return target.exists() and all(
        (slot / rel).is_file() and (slot / rel).stat().st_size == size for rel, size in files.items()
    )


class _node_lock:
    """An exclusive flock on `cache_dir/.locks/<name>`: one download per node, others wait."""

    def __init__(self, cache_dir: Path, name: str):
        self.path = cache_dir / ".locks" / f"{name}.lock"

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _stage_hf(repo_id: str, cache_dir: Path) -> Path:
    """A Hugging Face model id (needs network; HF_TOKEN from secrets if the model is gated)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise StorageError(f"{repo_id!r} looks like a Hugging Face id, but huggingface_hub is not installed") from exc
    with _node_lock(cache_dir, "hf-" + repo_id.replace("/", "--")):
        try:
            path = snapshot_download(repo_id, cache_dir=str(cache_dir / "hf"))
        except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated: say both readings
            raise StorageError(
                f"{repo_id!r}: no such local path, and as a Hugging Face model id it could not be "
                f"downloaded: {type(exc).__name__}: {exc}"
            ) from exc
    log.event("stage_downloaded", uri=f"hf://{repo_id}", path=path)
    return Path(path)
