"""`s3://bucket/prefix` through boto3: AWS, or OCI's S3-compatible endpoint.

The endpoint comes from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (for OCI:
`https://<namespace>.compat.objectstorage.<region>.oraclecloud.com`, with path-style
addressing), credentials from boto3's usual chain (for OCI: a customer secret key).
boto3 >= 1.36 adds checksums OCI's S3 API rejects, so they are sent only when required.
Large files move in parallel parts (boto3's TransferConfig); botocore retries each request
(standard mode: throttling, 5xx, connection errors) and `Store` retries whole operations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from .base import SHA256_META, Digests, ObjectInfo, ParsedUri, RetryPolicy, Store, TransferOptions, exception_chain

_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "TooManyRequests",
}
_MISSING_BUCKET = {"NoSuchBucket", "BucketNotFound"}


class S3Store(Store):
    def __init__(
        self,
        parsed: ParsedUri,
        retry: RetryPolicy | None = None,
        transfer: TransferOptions | None = None,
        endpoint: str | None = None,
    ):
        super().__init__(parsed, retry, transfer)
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        config = botocore.config.Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "total_max_attempts": self.retry.attempts},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=self.transfer.concurrency + 4,
            s3={"addressing_style": "path"} if endpoint else None,
        )
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=config)
        self._config = TransferConfig(
            multipart_threshold=self.transfer.multipart_threshold,
            multipart_chunksize=self.transfer.part_size,
            max_concurrency=self.transfer.concurrency,
        )

    def _name(self, key: str) -> str:
        return f"{self.parsed.prefix}/{key}" if self.parsed.prefix else key

    def _put(self, local: Path, key: str, digests: Digests) -> None:
        self._client.upload_file(
            str(local),
            self.parsed.bucket,
            self._name(key),
            ExtraArgs={"Metadata": {SHA256_META: digests.sha256}},
            Config=self._config,
        )

    def _head(self, key: str) -> ObjectInfo | None:
        try:
            head = self._client.head_object(Bucket=self.parsed.bucket, Key=self._name(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                self._client.head_bucket(Bucket=self.parsed.bucket)  # a missing bucket is an error, not absence
                return None
            raise
        sha = head.get("Metadata", {}).get(SHA256_META)
        encrypted = head.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in head
        return ObjectInfo(
            key, head["ContentLength"], f"sha256:{sha}" if sha else None if encrypted else _etag_md5(head.get("ETag"))
        )

    def _get(self, key: str, dest: Path, size: int) -> None:
        self._client.download_file(self.parsed.bucket, self._name(key), str(dest), Config=self._config)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = f"{self.parsed.prefix}/" if self.parsed.prefix else ""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.parsed.bucket, Prefix=base + prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"][len(base) :], item["Size"])  # ETags are not always MD5s: see _head

    def _delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.parsed.bucket, Key=self._name(key))

    def _is_transient(self, exc: BaseException) -> bool:
        for err in exception_chain(exc):
            if isinstance(err, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
                return True
            if isinstance(err, botocore.exceptions.ClientError):
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                return status == 429 or status >= 500 or err.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
            if type(err).__name__ in ("RetriesExceededError", "IncompleteReadError"):
                return True
        return False

    def _explain(self, exc: BaseException) -> str | None:
        for err in exception_chain(exc):
            if isinstance(err, botocore.exceptions.ClientError):
                error = err.response.get("Error", {})
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if error.get("Code") in _MISSING_BUCKET or (status == 404 and err.operation_name == "HeadBucket"):
                    return (
                        f"{self.uri}: bucket {self.parsed.bucket!r} does not exist "
                        "(or is not visible to these credentials)"
                    )
                if status in (401, 403):
                    return f"{self.uri}: access denied ({error.get('Code')}): check credentials and bucket policy"
            if isinstance(err, botocore.exceptions.NoCredentialsError):
                return f"{self.uri}: no S3 credentials found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
        return None


def _etag_md5(etag: str | None) -> str | None:
    """A single-part ETag is the MD5 of the bytes (unless KMS-encrypted); a multipart one ("...-N") is not."""
    value = (etag or "").strip('"')
    return f"md5:{value}" if len(value) == 32 and "-" not in value else None
