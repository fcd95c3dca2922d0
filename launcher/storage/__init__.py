"""Storage for the launcher: one interface (`Store`), three backends, chosen by URI scheme.

    store = open_store("oci://bucket@namespace/runs/42")   # or s3://bucket/prefix, file:///path, /path
    store.upload_file(Path("out/metrics.jsonl"), "metrics.jsonl")
    store.download_file("metrics.jsonl", Path("/tmp/metrics.jsonl"))

Backends are imported only when used, so a file:// run never imports boto3 or the OCI SDK.
"""

from __future__ import annotations

from .base import IntegrityError, ObjectInfo, ParsedUri, RetryPolicy, StorageError, Store, TransferOptions
from .uri import parse_uri

__all__ = [
    "IntegrityError",
    "ObjectInfo",
    "ParsedUri",
    "RetryPolicy",
    "StorageError",
    "Store",
    "TransferOptions",
    "open_store",
    "parse_uri",
]


def open_store(
    uri: str, *, retry: RetryPolicy | None = None, transfer: TransferOptions | None = None, endpoint: str | None = None
) -> Store:
    """The store rooted at `uri`; `endpoint` overrides the oci/s3 service endpoint."""
    parsed = parse_uri(uri)
    if parsed.scheme == "file":
        from .local import FileStore

        return FileStore(parsed, retry, transfer)
    if parsed.scheme == "s3":
        from .s3 import S3Store

        return S3Store(parsed, retry, transfer, endpoint)
    from .ocistore import OciStore

    return OciStore(parsed, retry, transfer, endpoint)
