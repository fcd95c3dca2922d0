"""`oci://bucket@namespace/prefix` through the OCI SDK (Object Storage's native API).

Files above the multipart threshold go up in parallel parts via the SDK's UploadManager and
come down as parallel ranged GETs; smaller ones in one `put_object` (with Content-MD5, which
the service checks) or one `get_object`. Our sha256 is
stored as `opc-meta-ocift-sha256` and checked on download. The SDK's own retries are off:
`Store` retries whole operations (throttling, 5xx, connection errors) with its bounded
backoff, the multipart assembler retries single parts.
Endpoint override: `endpoint=` or `OCI_OBJECT_STORAGE_ENDPOINT` (tests, private endpoints).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oci
from oci._vendor.requests import exceptions as requests_exceptions
from oci.object_storage.transfer.upload_manager import UploadManager
from urllib3 import exceptions as urllib3_exceptions

from . import ociauth
from .base import SHA256_META, Digests, ObjectInfo, ParsedUri, RetryPolicy, Store, TransferOptions, exception_chain

ENDPOINT_ENV = "OCI_OBJECT_STORAGE_ENDPOINT"
_CHUNK = 1 << 20


class OciStore(Store):
    sends_md5 = True

    def __init__(
        self,
        parsed: ParsedUri,
        retry: RetryPolicy | None = None,
        transfer: TransferOptions | None = None,
        endpoint: str | None = None,
    ):
        super().__init__(parsed, retry, transfer)
        self._client = ociauth.client(
            oci.object_storage.ObjectStorageClient,
            endpoint=endpoint or os.environ.get(ENDPOINT_ENV) or None,
            retry_strategy=oci.retry.NoneRetryStrategy(),
            timeout=(10, 120),
        )
        self._uploads = UploadManager(
            self._client, allow_parallel_uploads=True, parallel_process_count=self.transfer.concurrency
        )

    def _name(self, key: str) -> str:
        return f"{self.parsed.prefix}/{key}" if self.parsed.prefix else key

    def _put(self, local: Path, key: str, digests: Digests) -> None:
        ns, bucket, name = self.parsed.namespace, self.parsed.bucket, self._name(key)
        meta = {SHA256_META: digests.sha256}
        if digests.size > self.transfer.multipart_threshold:
            self._uploads.upload_file(ns, bucket, name, str(local), part_size=self.transfer.part_size, metadata=meta)
            return
        with open(local, "rb") as body:
            self._client.put_object(
                ns, bucket, name, body, content_length=digests.size, content_md5=digests.md5_b64, opc_meta=meta
            )

    def _head(self, key: str) -> ObjectInfo | None:
        try:
            response = self._client.head_object(self.parsed.namespace, self.parsed.bucket, self._name(key))
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404 and exc.code != "BucketNotFound":
                self._client.get_bucket(self.parsed.namespace, self.parsed.bucket)  # missing bucket: an error
                return None
            raise
        headers = response.headers
        sha = headers.get(f"opc-meta-{SHA256_META}")
        md5 = headers.get("content-md5")
        checksum = f"sha256:{sha}" if sha else f"md5:{base64.b64decode(md5).hex()}" if md5 else None
        return ObjectInfo(key, int(headers["content-length"]), checksum)

    def _get(self, key: str, dest: Path, size: int) -> None:
        """One stream for small objects; above the threshold, `part_size` ranges fetched in parallel."""
        if size <= self.transfer.multipart_threshold:
            self._get_range(key, dest, None)
            return
        with open(dest, "wb") as out:
            out.truncate(size)
        ranges = [
            (start, min(start + self.transfer.part_size, size) - 1) for start in range(0, size, self.transfer.part_size)
        ]
        with ThreadPoolExecutor(self.transfer.concurrency) as pool:
            list(pool.map(lambda span: self._get_range(key, dest, span), ranges))

    def _get_range(self, key: str, dest: Path, span: tuple[int, int] | None) -> None:
        kwargs = {"range": f"bytes={span[0]}-{span[1]}"} if span else {}
        response = self._client.get_object(self.parsed.namespace, self.parsed.bucket, self._name(key), **kwargs)
        with open(dest, "r+b" if span else "wb") as out:
            if span:
                out.seek(span[0])
            written = 0
            for chunk in response.data.raw.stream(_CHUNK, decode_content=False):
                out.write(chunk)
                written += len(chunk)
        if span and written != span[1] - span[0] + 1:
            raise ConnectionError(f"range {span[0]}-{span[1]} of {key}: got {written} bytes")

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = f"{self.parsed.prefix}/" if self.parsed.prefix else ""
        start = None
        while True:
            page = self._client.list_objects(
                self.parsed.namespace, self.parsed.bucket, prefix=base + prefix, start=start, fields="name,size,md5"
            ).data
            for item in page.objects:
                md5 = item.md5 if item.md5 and "-" not in item.md5 else None
                yield ObjectInfo(
                    item.name[len(base) :], item.size, f"md5:{base64.b64decode(md5).hex()}" if md5 else None
                )
            start = page.next_start_with
            if not start:
                return

    def _delete(self, key: str) -> None:
        try:
            self._client.delete_object(self.parsed.namespace, self.parsed.bucket, self._name(key))
        except oci.exceptions.ServiceError as exc:
            if exc.status != 404 or exc.code == "BucketNotFound":
                raise

    def _is_transient(self, exc: BaseException) -> bool:
        for err in exception_chain(exc):
            if isinstance(err, oci.exceptions.ServiceError):
                return err.status == 429 or err.status >= 500
            if isinstance(
                err,
                (
                    oci.exceptions.RequestException,
                    oci.exceptions.ConnectTimeout,
                    oci.exceptions.MultipartUploadError,
                    requests_exceptions.ConnectionError,
                    requests_exceptions.Timeout,
                    requests_exceptions.ChunkedEncodingError,
                    urllib3_exceptions.HTTPError,
                    ConnectionError,
                ),
            ):  # the last two: a body cut short
                return True
        return False

    def _explain(self, exc: BaseException) -> str | None:
        for err in exception_chain(exc):
            if isinstance(err, oci.exceptions.ServiceError):
                if err.code in ("BucketNotFound", "NamespaceNotFound") or (
                    err.status == 404 and err.operation_name == "get_bucket"
                ):
                    return (
                        f"{self.uri}: bucket {self.parsed.bucket!r} in namespace {self.parsed.namespace!r} "
                        "does not exist (or is not visible to this principal)"
                    )
                if err.status in (401, 403):
                    return f"{self.uri}: not authorized ({err.code}): check the policy for this principal"
        return None
