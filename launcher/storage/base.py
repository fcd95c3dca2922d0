"""One storage interface for three backends (file, OCI Object Storage, S3).

`Store` owns everything the backends share, so they cannot drift apart: key checks, retries
with backoff, integrity checks, and the rule that a download lands under a temporary name and
is renamed only once its size (and checksum, where the backend keeps one) matched. A backend
implements only the small `_put/_head/_get/_list/_delete` primitives and says which of its
errors are worth retrying.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from launcher import log

SHA256_META = "ocift-sha256"
"""Object metadata key holding the sha256 of a file we uploaded (multipart ETags are not hashes)."""

_CHUNK = 1 << 20
T = TypeVar("T")


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URI or key at fault."""


class IntegrityError(StorageError):
    """Downloaded bytes do not match what the store says the object holds."""


@dataclass(frozen=True)
class ParsedUri:
    """`scheme` is file, oci or s3; `prefix` has no leading or trailing slash (file: absolute path)."""

    uri: str
    scheme: str
    bucket: str = ""
    namespace: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class ObjectInfo:
    """`key` is relative to the store's root; `checksum` is "sha256:<hex>" or "md5:<hex>" when known."""

    key: str
    size: int
    checksum: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded both in attempts and in total time."""

    attempts: int = 5
    base_s: float = 0.5
    max_backoff_s: float = 20.0
    deadline_s: float = 600.0


@dataclass(frozen=True)
class TransferOptions:
    """Files above `multipart_threshold` go up in `part_size` parts, `concurrency` at a time."""

    multipart_threshold: int = 64 << 20
    part_size: int = 16 << 20
    concurrency: int = 8


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5_b64: str | None
    size: int


def file_digests(path: Path, md5: bool = False) -> Digests:
    """sha256 (what we store and verify) and, if asked, MD5 (what OCI checks on a single put) in one read."""
    sha, md5_hash, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False) if md5 else None, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            if md5_hash is not None:
                md5_hash.update(chunk)
            size += len(chunk)
    return Digests(sha.hexdigest(), base64.b64encode(md5_hash.digest()).decode() if md5_hash else None, size)


def file_hash(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes: SDKs wrap the interesting error (boto3's S3UploadFailedError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def check_key(key: str, allow_empty: bool = False) -> str:
    """Keys are relative, '/'-separated, and may not climb out of the store's root."""
    if not key and allow_empty:
        return key
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in ("", ".", ".."):
        raise StorageError(f"invalid object key {key!r}: must be relative, without empty, '.' or '..' parts")
    return key


class Store(ABC):
    """A bucket prefix (or directory) addressed by relative keys."""

    sends_md5 = False
    """Whether `_put` needs the file's MD5 (computed in the same read as the sha256)."""

    def __init__(self, parsed: ParsedUri, retry: RetryPolicy | None = None, transfer: TransferOptions | None = None):
        self.parsed = parsed
        self.retry = retry or RetryPolicy()
        self.transfer = transfer or TransferOptions()

    @property
    def uri(self) -> str:
        return self.parsed.uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    # ---- public API -------------------------------------------------------------------------
    def upload_file(self, local: Path, key: str) -> ObjectInfo:
        """Upload `local` to `key`, storing its sha256 as metadata; returns what was stored."""
        local = Path(local)
        check_key(key)
        if not local.is_file():
            raise StorageError(f"cannot upload {local}: not a file")
        digests = file_digests(local, md5=self.sends_md5)
        self._with_retry(f"upload {key}", lambda: self._put(local, key, digests))
        return ObjectInfo(key, digests.size, f"sha256:{digests.sha256}")

    def download_file(self, key: str, local: Path) -> ObjectInfo:
        """Download `key` to `local` via a temporary name, renamed only when size and checksum match.

        Returns what the store said the object is (size, checksum); raises IntegrityError on a mismatch.
        """
        check_key(key)
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        info = self._with_retry(f"inspect {key}", lambda: self._head(key))
        if info is None:
            raise StorageError(f"{self._where(key)}: no such object")
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            self._with_retry(f"download {key}", lambda: self._get(key, tmp, info.size))
            self._verify(key, tmp, info)
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
        return info

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose key starts with `prefix` (a plain string prefix), sorted by key."""
        return sorted(self._with_retry(f"list {prefix!r}", lambda: list(self._list(prefix))), key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        check_key(key)
        return self._with_retry(f"inspect {key}", lambda: self._head(key)) is not None

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing object is not an error."""
        check_key(key)
        self._with_retry(f"delete {key}", lambda: self._delete(key))

    # ---- shared machinery -------------------------------------------------------------------
    def _where(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"

    def _verify(self, key: str, path: Path, info: ObjectInfo) -> None:
        size = path.stat().st_size
        if size != info.size:
            raise IntegrityError(
                f"{self._where(key)}: downloaded {size} bytes, the store says {info.size}: corrupted or truncated"
            )
        if info.checksum is None:
            return
        algorithm, _, expected = info.checksum.partition(":")
        if file_hash(path, algorithm) != expected:
            raise IntegrityError(
                f"{self._where(key)}: downloaded bytes do not match the stored {algorithm}: corrupted object"
            )

    def _with_retry(self, what: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient failures; permanent ones become a clear StorageError."""
        policy = self.retry
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except StorageError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified just below
                clear = self._explain(exc)
                if clear is not None:
                    raise StorageError(clear) from exc
                elapsed = time.monotonic() - start
                delay = random.uniform(0, min(policy.max_backoff_s, policy.base_s * 2 ** (attempt - 1)))
                if not self._is_transient(exc) or attempt >= policy.attempts or elapsed + delay > policy.deadline_s:
                    raise StorageError(
                        f"{self.uri}: {what} failed after {attempt} attempt(s) in {elapsed:.1f}s: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                log.event(
                    "storage_retry",
                    level="warning",
                    uri=self.uri,
                    op=what,
                    attempt=attempt,
                    delay_s=round(delay, 2),
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                time.sleep(delay)

    # ---- backend primitives -----------------------------------------------------------------
    @abstractmethod
    def _put(self, local: Path, key: str, digests: Digests) -> None: ...

    @abstractmethod
    def _head(self, key: str) -> ObjectInfo | None:
        """Size and best checksum of `key` (our sha256 metadata first), or None when absent."""

    @abstractmethod
    def _get(self, key: str, dest: Path, size: int) -> None:
        """Write the object's bytes to `dest` (`size` as `_head` reported it, to plan ranged reads)."""

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    def _is_transient(self, exc: BaseException) -> bool:
        """Throttling, 5xx and connection trouble: worth another try."""
        return False

    def _explain(self, exc: BaseException) -> str | None:
        """A clear message for a permanent error the user must fix (e.g. a missing bucket)."""
        return None
