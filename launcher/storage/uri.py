"""Storage URIs: `file:///abs/path` or a plain path, `oci://bucket@namespace/prefix`, `s3://bucket/prefix`."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from .base import ParsedUri, StorageError

SCHEMES = ("file", "oci", "s3")
_HINT = "use a local path, file:///abs/path, oci://bucket@namespace/prefix or s3://bucket/prefix"
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def is_remote(value: str) -> bool:
    """An `oci://` or `s3://` URI: staged onto the node before training reads it, so checks on the
    file itself wait until then."""
    return "://" in value and urlsplit(value).scheme.lower() in ("oci", "s3")


def parse_uri(uri: str) -> ParsedUri:
    """Split a storage URI, or raise StorageError naming the URI and the part that is wrong."""
    if not isinstance(uri, str) or not uri.strip():
        raise StorageError(f"empty storage URI: {_HINT}")
    if "://" not in uri:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) and not os.path.exists(uri):
            raise StorageError(f"{uri!r}: malformed storage URI (missing '//'): {_HINT}")
        return ParsedUri(uri=uri, scheme="file", prefix=os.path.abspath(uri))
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise StorageError(f"{uri!r}: unknown storage scheme {parts.scheme!r}: {_HINT}")
    if parts.query or parts.fragment:
        raise StorageError(f"{uri!r}: storage URIs take no '?query' or '#fragment'")
    prefix = parts.path.strip("/")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"{uri!r}: file URIs must be absolute (file:///abs/path), got host {parts.netloc!r}")
        if not parts.path.startswith("/"):
            raise StorageError(f"{uri!r}: file URI has no path")
        return ParsedUri(uri=uri, scheme="file", prefix=os.path.abspath(parts.path))
    if "//" in parts.path.strip("/"):
        raise StorageError(f"{uri!r}: prefix {prefix!r} has an empty path segment")
    if scheme == "oci":
        bucket, at, namespace = parts.netloc.partition("@")
        if not at or not namespace:
            raise StorageError(f"{uri!r}: OCI URIs need the namespace: oci://bucket@namespace/prefix")
        if not bucket:
            raise StorageError(f"{uri!r}: missing bucket: oci://bucket@namespace/prefix")
        if not _BUCKET.match(bucket):
            raise StorageError(f"{uri!r}: invalid bucket name {bucket!r}")
        if not _NAMESPACE.match(namespace):
            raise StorageError(f"{uri!r}: invalid namespace {namespace!r}")
        return ParsedUri(uri=uri, scheme="oci", bucket=bucket, namespace=namespace, prefix=prefix)
    bucket = parts.netloc
    if not bucket:
        raise StorageError(f"{uri!r}: missing bucket: s3://bucket/prefix")
    if not _BUCKET.match(bucket) or "@" in bucket:
        raise StorageError(f"{uri!r}: invalid bucket name {bucket!r}")
    return ParsedUri(uri=uri, scheme="s3", bucket=bucket, prefix=prefix)
