"""A misbehaving object store on 127.0.0.1: an HTTP proxy in front of moto's S3 server whose
behaviour a test switches while the launcher talks to it.

Modes: `ok` (forward), `error` (answer every request with `status`, e.g. 500), `throttle`
(503 SlowDown, S3's throttling answer), `drop` (read the request, then close the connection
without an answer), `down` (stop listening: connections are refused until `mode = ...` again).
`hold_s` keeps a forwarded PUT's answer back that long after the object landed, so a test can
catch an upload half-way (some files stored, the rest not yet sent). Every request is recorded
as (time, method, key, what happened).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

MODES = ("ok", "error", "throttle", "drop", "down")


@dataclass(frozen=True)
class Seen:
    at: float
    method: str
    key: str  # bucket/key, path-style
    outcome: str  # "forwarded <status>", "error <status>", "throttled", "dropped"


class ChaosProxy:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.status = 500
        self.hold_s = 0.0
        self.seen: list[Seen] = []
        self._mode = "ok"
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._listen()
        self.url = f"http://127.0.0.1:{self.port}"

    # ---- control ------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            if mode == "down" and self._server is not None:
                self._close()
            elif mode != "down" and self._server is None:
                self._listen()
            self._mode = mode

    def count(self, method: str = "", key_part: str = "", outcome: str = "") -> int:
        with self._lock:
            return sum(
                1
                for s in self.seen
                if s.method.startswith(method) and key_part in s.key and s.outcome.startswith(outcome)
            )

    def puts(self, key_part: str = "") -> list[str]:
        """Keys whose PUT reached the store, in order."""
        with self._lock:
            return [
                s.key
                for s in self.seen
                if s.method == "PUT" and key_part in s.key and s.outcome.startswith("forwarded 2")
            ]

    def refused_probe(self) -> bool:
        """Whether a TCP connect to the proxy is refused now (the store is down)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._close()

    def __enter__(self) -> ChaosProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- serving ------------------------------------------------------------------------
    def _record(self, method: str, key: str, outcome: str) -> None:
        with self._lock:
            self.seen.append(Seen(time.monotonic(), method, key, outcome))

    def _listen(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                key = unquote(urlsplit(self.path).path).lstrip("/")
                mode = proxy._mode
                if mode in ("drop", "down"):  # down: connections still open are reset too
                    proxy._record(self.command, key, "dropped")
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode in ("error", "throttle"):
                    status, code = (503, "SlowDown") if mode == "throttle" else (proxy.status, "InternalError")
                    proxy._record(self.command, key, "throttled" if mode == "throttle" else f"error {status}")
                    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self._answer(status, {"content-type": "application/xml"}, xml)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive", "expect")
                }
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                conn.close()
                proxy._record(self.command, key, f"forwarded {response.status}")
                if self.command == "PUT" and proxy.hold_s:
                    time.sleep(proxy.hold_s)
                skip = ("connection", "transfer-encoding", "keep-alive", "content-length")
                out = {k.lower(): v for k, v in response.getheaders() if k.lower() not in skip}
                if self.command == "HEAD":
                    out["content-length"] = response.getheader("content-length") or "0"
                self._answer(response.status, out, payload)

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "content-length" not in headers:
                        self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed meanwhile
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def _close(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None
