"""`file://` and plain paths: a directory tree, written atomically (temp file + rename)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .base import Digests, ObjectInfo, Store

_PART = ".part"


class FileStore(Store):
    """Objects are files under `parsed.prefix`; nothing is stored besides the bytes."""

    @property
    def root(self) -> Path:
        return Path(self.parsed.prefix)

    def _put(self, local: Path, key: str, digests: Digests) -> None:
        dest = self.root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}{_PART}")
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _head(self, key: str) -> ObjectInfo | None:
        path = self.root / key
        return ObjectInfo(key, path.stat().st_size) if path.is_file() else None

    def _get(self, key: str, dest: Path, size: int) -> None:
        shutil.copyfile(self.root / key, dest)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".") and name.endswith(_PART):
                    continue  # an upload in flight
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield ObjectInfo(key, path.stat().st_size)

    def _delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
