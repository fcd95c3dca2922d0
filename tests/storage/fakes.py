"""Real servers on 127.0.0.1 for storage tests: no internet, nothing patched inside our code.

- `RecordingServer`: an HTTP server that records every request (method, path, query, headers,
  body, whether it was signed) and answers through a handler; the OCI SDK talks to it through
  `service_endpoint=` with a throwaway API key (`write_oci_config`).
- `ObjectStorageFake`: a handler that behaves like OCI Object Storage's native API (put, head,
  get with ranges, list with pagination, delete, multipart upload) and can fail its next N requests.
- `moto_server()`: moto's S3 server; `FaultProxy`: an HTTP proxy in front of it that fails the
  next N requests with 503 or by dropping the connection.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class Request:
    method: str
    target: str  # as sent: quoted path and query
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> object:
        return json.loads(self.body) if self.body else None

    @property
    def signed(self) -> bool:
        """OCI request signing puts `Signature version="1",keyId=...` in the authorization header."""
        return self.headers.get("authorization", "").startswith("Signature ")


@dataclass
class Reply:
    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


Handler = Callable[[Request], Reply]


class RecordingServer:
    """`with RecordingServer(handler) as server:` -> server.url, server.requests."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[Request] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    unquote(parts.path),
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                outer.requests.append(request)
                reply = outer.handler(request)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = reply.payload()
                self.send_response(reply.status)
                headers = {"content-type": "application/json", "opc-request-id": uuid.uuid4().hex, **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if "content-length" not in headers:
                    self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def write_oci_config(directory: Path) -> Path:
    """A throwaway API key and an ~/.oci/config-style file pointing at it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = directory / "oci_api_key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    config = directory / "oci_config"
    config.write_text(
        "[DEFAULT]\n"
        "user=ocid1.user.oc1..aaaatestuser\n"
        "fingerprint=11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff\n"
        "tenancy=ocid1.tenancy.oc1..aaaatesttenancy\n"
        "region=us-ashburn-1\n"
        f"key_file={pem}\n"
    )
    return config


def _error(status: int, code: str, message: str = "") -> Reply:
    return Reply(status, {"code": code, "message": message or code})


@dataclass
class _Object:
    data: bytes
    meta: dict[str, str]
    md5: str  # base64 MD5 of data (single part) or "<b64>-N" (multipart)


class ObjectStorageFake:
    """Enough of OCI Object Storage's API for the SDK's put/head/get/list/delete and UploadManager."""

    def __init__(self, namespace: str, buckets: list[str], page_size: int = 3):
        self.namespace = namespace
        self.buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}
        self.uploads: dict[str, dict] = {}
        self.page_size = page_size
        self.fail_next = 0
        self.fail_status = 503  # 0: drop the connection instead
        self.fail_only: Callable[[Request], bool] = lambda req: True
        self._lock = threading.Lock()

    def corrupt(self, bucket: str, name: str) -> None:
        """Flip the first byte behind the client's back (headers and metadata unchanged)."""
        obj = self.buckets[bucket][name]
        obj.data = bytes([obj.data[0] ^ 0xFF]) + obj.data[1:]

    def __call__(self, req: Request) -> Reply:
        with self._lock:
            if self.fail_next and self.fail_only(req):
                self.fail_next -= 1
                return Reply(drop=True) if self.fail_status == 0 else _error(self.fail_status, "ServiceUnavailable")
        parts = req.path.split("/", 6)  # '', 'n', ns, 'b', bucket, 'o'|'u', name
        if len(parts) < 5 or parts[1] != "n" or parts[2] != self.namespace or parts[3] != "b":
            return _error(404, "NamespaceNotFound")
        bucket = self.buckets.get(parts[4])
        if bucket is None:
            return _error(404, "BucketNotFound", f"bucket {parts[4]} does not exist")
        kind = parts[5] if len(parts) > 5 else ""
        name = parts[6] if len(parts) > 6 else ""
        if kind == "" and req.method in ("GET", "HEAD"):
            return Reply(200, {"name": parts[4], "namespace": self.namespace})
        if kind == "o" and not name:
            return self._list(bucket, req.query)
        if kind == "o":
            return self._object(bucket, name, req)
        if kind == "u":
            return self._multipart(bucket, name, req)
        return _error(400, "InvalidRequest")

    def _list(self, bucket: dict[str, _Object], query: dict[str, str]) -> Reply:
        names = sorted(n for n in bucket if n.startswith(query.get("prefix", "")) and n >= query.get("start", ""))
        page, rest = names[: self.page_size], names[self.page_size :]
        objects = [{"name": n, "size": len(bucket[n].data), "md5": bucket[n].md5} for n in page]
        return Reply(200, {"objects": objects, "prefixes": [], **({"nextStartWith": rest[0]} if rest else {})})

    def _object(self, bucket: dict[str, _Object], name: str, req: Request) -> Reply:
        if req.method == "PUT":
            md5 = base64.b64encode(hashlib.md5(req.body).digest()).decode()
            if req.headers.get("content-md5", md5) != md5:
                return _error(400, "InvalidDigest")
            meta = {k: v for k, v in req.headers.items() if k.startswith("opc-meta-")}
            bucket[name] = _Object(req.body, meta, md5)
            return Reply(200, None, {"etag": uuid.uuid4().hex, "opc-content-md5": md5})
        obj = bucket.get(name)
        if obj is None:
            return (
                _error(404, "ObjectNotFound", f"object {name} not found")
                if req.method != "DELETE"
                else _error(404, "ObjectNotFound")
            )
        if req.method == "DELETE":
            del bucket[name]
            return Reply(204)
        headers = {
            **obj.meta,
            "etag": "e",
            "content-type": "application/octet-stream",
            "content-length": str(len(obj.data)),
        }
        headers["opc-multipart-md5" if "-" in obj.md5 else "content-md5"] = obj.md5
        spec = req.headers.get("range", "")
        if req.method == "GET" and spec.startswith("bytes="):
            first, last = (int(x) for x in spec[6:].split("-"))
            part = obj.data[first : last + 1]
            headers.update({"content-length": str(len(part)), "content-range": f"bytes {first}-{last}/{len(obj.data)}"})
            return Reply(206, part, headers)
        return Reply(200, obj.data if req.method == "GET" else None, headers)

    def _multipart(self, bucket: dict[str, _Object], name: str, req: Request) -> Reply:
        if req.method == "POST" and not name:
            body = req.json
            if any(not k.startswith("opc-meta-") for k in body.get("metadata") or {}):
                return _error(400, "InvalidParameter", "metadata keys must be in opc-meta-* format")
            upload_id = uuid.uuid4().hex
            self.uploads[upload_id] = {"object": body["object"], "meta": body.get("metadata") or {}, "parts": {}}
            return Reply(
                200,
                {
                    "uploadId": upload_id,
                    "object": body["object"],
                    "namespace": self.namespace,
                    "bucket": "b",
                    "timeCreated": "2026-01-01T00:00:00.000Z",
                },
            )
        upload = self.uploads.get(req.query.get("uploadId", ""))
        if upload is None:
            return _error(404, "NoSuchUpload")
        if req.method == "PUT":
            etag = hashlib.md5(req.body).hexdigest()
            upload["parts"][int(req.query["uploadPartNum"])] = (req.body, etag)
            md5 = base64.b64encode(hashlib.md5(req.body).digest()).decode()
            return Reply(200, None, {"etag": etag, "opc-content-md5": md5})
        if req.method == "POST":
            numbers = [p["partNum"] for p in req.json["partsToCommit"]]
            data = b"".join(upload["parts"][n][0] for n in sorted(numbers))
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode() + f"-{len(numbers)}"
            bucket[name] = _Object(data, dict(upload["meta"]), md5)
            return Reply(200, None, {"etag": "m", "opc-multipart-md5": md5})
        if req.method == "DELETE":
            self.uploads.pop(req.query["uploadId"], None)
            return Reply(204)
        return _error(400, "InvalidRequest")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (an ephemeral port); yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class FaultProxy:
    """Forwards HTTP to `upstream`; the next `fail_next` requests get a 503 (or a dropped connection)."""

    def __init__(self, upstream: str):
        self.fail_next = 0
        self.drop = False
        self.failed = 0
        self.forwarded = 0
        target = urlsplit(upstream)
        proxy = self

        def forward(req: Request) -> Reply:
            with proxy._lock:
                failing = proxy.fail_next > 0
                if failing:
                    proxy.fail_next -= 1
                    proxy.failed += 1
                else:
                    proxy.forwarded += 1
            if failing:
                if proxy.drop:
                    return Reply(drop=True)
                xml = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                return Reply(503, xml, {"content-type": "application/xml"})
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in req.headers.items() if k not in ("connection", "keep-alive")}
            conn.request(req.method, req.target, body=req.body, headers=headers)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            skip = ("connection", "transfer-encoding", "keep-alive", "content-length")
            out = {k.lower(): v for k, v in response.getheaders() if k.lower() not in skip}
            if req.method == "HEAD":
                out["content-length"] = response.getheader("content-length") or "0"
            return Reply(response.status, body, out)

        self._lock = threading.Lock()
        self.server = RecordingServer(forward)
        self.url = self.server.url

    def __enter__(self) -> FaultProxy:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
