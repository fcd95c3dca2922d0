"""Keep a run's outputs safe while it trains: checkpoints go up as soon as they are complete.

`CheckpointSync` runs beside training (a separate process) on a background thread. Every
`interval_s` it uploads each *committed* checkpoint under `local_dir/checkpoints/` (its
manifest exists and sizes match), files first and `manifest.json` last, so the remote copy
follows the same rule as the local one: no manifest, not a checkpoint. What went up is
remembered (key -> size, sha256) and never sent twice. A storage error only postpones the
upload to the next pass; the last pass (`stop_and_flush`) also sends the other outputs
(adapter/model dirs, metrics, plots, summary) and reports what could not be uploaded.
Remote checkpoints are never deleted, so a failed run keeps every one that completed.

`fetch_latest_checkpoint` is the way back: the newest remote checkpoint whose manifest
exists and whose files match it, downloaded and verified before it is put in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from contract.manifest import MANIFEST, ManifestError, is_committed, read_manifest, sha256_file, verify
from launcher import log
from launcher.storage import RetryPolicy, StorageError, Store, open_store

CHECKPOINTS = "checkpoints"
PROGRESS = "metrics.jsonl"
"""Also sent on every pass (not only at the end), so `ocift run watch` can show a live run's progress."""
SYNC_RETRY = RetryPolicy(attempts=4, base_s=1.0, max_backoff_s=15.0, deadline_s=120.0)
"""Shorter than the default: a pass that cannot upload gives up quickly and tries again next pass."""
FINAL_GIVE_UP = 2
"""In the last pass, after this many uploads in a row failed (each after its retries), the rest are
reported as not attempted: a store that is down fails the run in bounded time, not per file."""


@dataclass
class SyncReport:
    """`uploaded`: keys sent during the run; `failed`: key -> why, for what the final pass could not send."""

    uploaded: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class CheckpointSync:
    """Background uploader of `local_dir` to `remote_uri` (see the module docstring)."""

    def __init__(self, local_dir: Path, remote_uri: str, interval_s: float, *, retry: RetryPolicy = SYNC_RETRY):
        self.local_dir = Path(local_dir)
        self.remote_uri = remote_uri
        self.interval_s = interval_s
        self.store = open_store(remote_uri, retry=retry)  # a bad URI fails here, before training starts
        self._sent: dict[str, tuple[int, str]] = {}
        self._report = SyncReport()
        self._finished: set[str] = set()
        self._broken: dict[str, str] = {}
        self._final = False
        self._failed_in_a_row = 0
        self._giving_up = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ocift-checkpoint-sync", daemon=True)
        self._thread.start()

    def stop_and_flush(self) -> SyncReport:
        """Stop the thread, then one last pass over everything; returns what was and was not uploaded."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        failures = self._pass(final=True)
        self._report.failed = {**self._broken, **failures}
        log.event(
            "sync_done",
            level="info" if self._report.ok else "error",
            uri=self.remote_uri,
            uploaded=len(self._report.uploaded),
            checkpoints=len(self._report.checkpoints),
            failed=len(self._report.failed),
        )
        return self._report

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._pass(final=False)
            except Exception as exc:  # noqa: BLE001 - the sync thread must outlive any surprise
                log.error("sync_pass_failed", error=f"{type(exc).__name__}: {exc}")

    def _pass(self, final: bool) -> dict[str, str]:
        failures: dict[str, str] = {}
        with self._lock:
            self._final, self._failed_in_a_row, self._giving_up = final, 0, ""
            root = self.local_dir / CHECKPOINTS
            for checkpoint in sorted(root.iterdir()) if root.is_dir() else []:
                if not final and self._stop.is_set():
                    break  # stop_and_flush is waiting: the last pass does the rest
                name = checkpoint.name
                if (
                    checkpoint.is_dir()
                    and name not in self._finished
                    and name not in self._broken
                    and is_committed(checkpoint)
                ):
                    self._upload_checkpoint(checkpoint, failures)
            if final:
                self._upload_outputs(failures)
            else:
                self._upload_progress()
        return failures

    def _upload_progress(self) -> None:
        """A snapshot of the metrics file (training appends to it while we read), under a temp name
        the final pass skips; a failure waits for the next pass."""
        source = self.local_dir / PROGRESS
        if not source.is_file():
            return
        snapshot = self.local_dir / f".{PROGRESS}.sync.tmp"
        try:
            shutil.copyfile(source, snapshot)
            self._send(snapshot, PROGRESS, snapshot.stat().st_size, sha256_file(snapshot))
        except (OSError, StorageError) as exc:
            log.event("sync_progress_later", level="warning", error=str(exc)[:300])
        finally:
            snapshot.unlink(missing_ok=True)

    def _upload_checkpoint(self, checkpoint: Path, failures: dict[str, str]) -> None:
        manifest = read_manifest(checkpoint)
        if manifest is None:  # rotated away since is_committed
            return
        prefix = f"{CHECKPOINTS}/{checkpoint.name}"
        files = [(rel, meta["size"], meta["sha256"]) for rel, meta in sorted(manifest["files"].items())]
        files.append((MANIFEST, -1, ""))  # last; measured when its turn comes
        for rel, size, sha in files:
            key = f"{prefix}/{rel}"
            try:
                if rel == MANIFEST:
                    size, sha = (checkpoint / MANIFEST).stat().st_size, sha256_file(checkpoint / MANIFEST)
                if not self._send(checkpoint / rel, key, size, sha):
                    self._broken[prefix] = f"{checkpoint / rel} does not match its manifest; checkpoint not uploaded"
                    log.error("sync_checkpoint_corrupt", path=checkpoint / rel)
                    return
            except FileNotFoundError:
                log.event("sync_checkpoint_vanished", path=checkpoint)  # training rotated it out
                return
            except StorageError as exc:
                failures[key] = str(exc)
                log.event("sync_retry_later", level="warning", key=key, error=str(exc)[:300])
                return
        self._finished.add(checkpoint.name)
        self._report.checkpoints.append(checkpoint.name)
        log.event("checkpoint_synced", checkpoint=checkpoint.name, uri=self.remote_uri, files=len(files))

    def _upload_outputs(self, failures: dict[str, str]) -> None:
        """Everything outside checkpoints/, skipping files still being written (temp names)."""
        for path in sorted(p for p in self.local_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(self.local_dir)
            if rel.parts[0] == CHECKPOINTS or path.name.endswith((".tmp", ".part")):
                continue
            key = rel.as_posix()
            try:
                self._send(path, key, path.stat().st_size, sha256_file(path))
            except StorageError as exc:
                failures[key] = str(exc)

    def _send(self, path: Path, key: str, size: int, sha: str) -> bool:
        """Upload unless this exact content went up before; False if the bytes are not `sha`."""
        if self._sent.get(key) == (size, sha):
            return True
        if self._giving_up:
            raise StorageError(f"not attempted: {self._giving_up}")
        try:
            info = self.store.upload_file(path, key)
        except StorageError as exc:
            self._failed_in_a_row += 1
            if self._final and self._failed_in_a_row >= FINAL_GIVE_UP:
                self._giving_up = f"{self._failed_in_a_row} uploads in a row failed in the last pass (last: {exc})"[
                    :500
                ]
                log.error("sync_giving_up", uri=self.remote_uri, reason=self._giving_up)
            raise
        self._failed_in_a_row = 0
        if info.checksum != f"sha256:{sha}":
            return False
        self._sent[key] = (size, sha)
        self._report.uploaded.append(key)
        return True


def _step(name: str) -> tuple[int, str]:
    match = re.search(r"(\d+)$", name)
    return (int(match.group(1)) if match else -1, name)


def fetch_latest_checkpoint(remote_uri: str, local_dir: Path, *, retry: RetryPolicy | None = None) -> Path | None:
    """The newest complete remote checkpoint as `local_dir/checkpoints/<name>`, or None if there is none."""
    store = open_store(remote_uri, retry=retry)
    objects = {o.key: o.size for o in store.list(f"{CHECKPOINTS}/")}
    names = {key.split("/")[1] for key in objects if key.count("/") >= 2}
    committed = sorted((n for n in names if f"{CHECKPOINTS}/{n}/{MANIFEST}" in objects), key=_step, reverse=True)
    for name in committed:
        dest = Path(local_dir) / CHECKPOINTS / name
        if is_committed(dest):
            log.event("resume_checkpoint_local", checkpoint=name, path=dest)
            return dest
        try:
            _download_checkpoint(store, f"{CHECKPOINTS}/{name}", objects, dest)
        except (StorageError, ManifestError, ValueError, KeyError, TypeError) as exc:
            log.event("resume_checkpoint_skipped", level="warning", checkpoint=name, reason=str(exc)[:300])
            continue
        log.event("resume_checkpoint_fetched", checkpoint=name, uri=remote_uri, path=dest)
        return dest
    return None


def _download_checkpoint(store: Store, prefix: str, objects: dict[str, int], dest: Path) -> None:
    """Files first into a partial dir, manifest last, full sha256 check, then rename into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        store.download_file(f"{prefix}/{MANIFEST}", partial / (MANIFEST + ".remote"))
        manifest = json.loads((partial / (MANIFEST + ".remote")).read_text())
        for rel, meta in manifest["files"].items():
            if objects.get(f"{prefix}/{rel}") != meta["size"]:
                raise ManifestError(
                    f"{store.uri}/{prefix}/{rel}: missing or not {meta['size']} bytes as the manifest says"
                )
        for rel in manifest["files"]:
            store.download_file(f"{prefix}/{rel}", partial / rel)
        os.replace(partial / (MANIFEST + ".remote"), partial / MANIFEST)
        verify(partial, checksums=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(partial, dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
