"""Heartbeats between the launchers of one job run: a lost node is named, and found in bounded time.

When a node dies, the collective libraries on the survivors learn of it only if the dead node's
kernel closed its sockets (a process killed on a live machine). A reclaimed VM or a dropped
network closes nothing: the survivors wait in their next collective for gloo's or NCCL's
timeout (30 minutes by default), and their errors never say which node went away.

So every launcher (one per node) answers heartbeats on `node_addr:peer_port` and asks every
other node for one every `interval_s`. A peer that answered at least once and then stays
silent (or refuses connections) for `timeout_s` is *lost*: `on_lost(rank, addr, why)` is
called once, and the launcher stops its training and exits with the peers status. A peer that
has not answered yet is only starting (or still staging); the rendezvous deadline covers it.
`probe()` asks every peer once, immediately: after training failed, it names the nodes gone.
`farewell(status)` tells every peer this node's training has ended (a launcher still uploads
afterwards, then exits): a node that said goodbye is never taken for lost.

Protocol: one line each way over TCP, `ocift-ping <job> <from rank>\n` answered by
`ocift-pong <job> <rank>\n` (an answer from another job or rank does not count), and
`ocift-bye <job> <from rank> <status>\n` answered by `ocift-ok\n`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from launcher import log

#: Heartbeats per timeout: a peer is asked this many times before it is declared lost.
PINGS_PER_TIMEOUT = 4
MAX_INTERVAL_S = 5.0


@dataclass
class PeerState:
    addr: str
    seen: bool = False
    last_ok: float = 0.0
    last_error: str = ""
    lost: bool = False
    finished: int | None = None  # the status it said goodbye with


class PeerWatch:
    """Answer heartbeats on (node_addr, port) and watch every other node (see the module docstring)."""

    def __init__(
        self,
        rank: int,
        addrs: Mapping[int, str],
        port: int,
        timeout_s: float,
        job: str,
        on_lost: Callable[[int, str, str], None],
    ):
        self.rank = rank
        self.port = port
        self.timeout_s = timeout_s
        self.interval_s = min(MAX_INTERVAL_S, timeout_s / PINGS_PER_TIMEOUT)
        self.job = job.replace(" ", "_") or "-"
        self.on_lost = on_lost
        self.peers = {r: PeerState(a) for r, a in addrs.items() if r != rank}
        self._addr = addrs[rank]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Bind the heartbeat port (an OSError says why not) and start both threads."""
        family = socket.AF_INET6 if ":" in self._addr else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self._addr, self.port))
        except OSError:
            server.close()
            raise
        server.listen(64)
        server.settimeout(0.5)
        self._server = server
        for target, name in ((self._serve, "ocift-peer-answer"), (self._watch, "ocift-peer-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._server is not None:
            self._server.close()

    @property
    def lost(self) -> dict[int, str]:
        with self._lock:
            return {r: p.addr for r, p in self.peers.items() if p.lost}

    # ---- answering ----------------------------------------------------------------------
    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(2.0)
                    line = _read_line(conn)
                    if line.startswith("ocift-ping "):
                        conn.sendall(f"ocift-pong {self.job} {self.rank}\n".encode())
                    elif line.startswith("ocift-bye "):
                        self._goodbye(line.split())
                        conn.sendall(b"ocift-ok\n")
                except OSError:
                    continue

    def _goodbye(self, words: list[str]) -> None:
        if len(words) != 4 or words[1] != self.job or not words[2].isdigit():
            return
        rank, status = int(words[2]), words[3]
        with self._lock:
            peer = self.peers.get(rank)
            if peer is None or peer.finished is not None:
                return
            peer.finished = int(status) if status.lstrip("-").isdigit() else -1
        log.event("peer_finished", peer_node=rank, peer_addr=peer.addr, status=peer.finished)

    def farewell(self, status: int, timeout_s: float = 1.0) -> None:
        """Tell every peer that this node's training ended with `status` (best effort)."""
        for _, peer in sorted(self.peers.items()):
            try:
                with socket.create_connection((peer.addr, self.port), timeout=timeout_s) as conn:
                    conn.settimeout(timeout_s)
                    conn.sendall(f"ocift-bye {self.job} {self.rank} {status}\n".encode())
                    _read_line(conn)
            except OSError:
                continue

    # ---- asking -------------------------------------------------------------------------
    def ping(self, rank: int, timeout_s: float) -> str:
        """'' when peer `rank` answered as itself within `timeout_s`, else why not."""
        peer = self.peers[rank]
        try:
            with socket.create_connection((peer.addr, self.port), timeout=timeout_s) as conn:
                conn.settimeout(timeout_s)
                conn.sendall(f"ocift-ping {self.job} {self.rank}\n".encode())
                reply = _read_line(conn)
        except OSError as exc:
            return (
                f"{type(exc).__name__}: {exc.strerror or exc}"
                if not isinstance(exc, socket.timeout)
                else f"no answer within {timeout_s:g}s"
            )
        if reply != f"ocift-pong {self.job} {rank}":
            return f"unexpected answer {reply[:80]!r}"
        return ""

    def _check(self, rank: int, timeout_s: float, now_lost: bool) -> None:
        """Ping `rank`; record the answer; declare it lost if silent past the timeout (or `now_lost`)."""
        error = self.ping(rank, timeout_s)
        now = time.monotonic()
        with self._lock:
            peer = self.peers[rank]
            if peer.lost or peer.finished is not None:
                return
            if not error:
                if not peer.seen:
                    log.event("peer_seen", peer_node=rank, peer_addr=peer.addr)
                peer.seen, peer.last_ok, peer.last_error = True, now, ""
                return
            peer.last_error = error
            if not peer.seen:
                return
            silent = now - peer.last_ok
            if not (now_lost or silent >= self.timeout_s):
                return
            peer.lost = True
        self.on_lost(rank, peer.addr, f"silent for {silent:.1f}s ({error})")

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            for rank in sorted(self.peers):
                if self._stop.is_set():
                    return
                self._check(rank, min(self.interval_s, 2.0), now_lost=False)

    def probe(self, timeout_s: float = 2.0) -> dict[int, str]:
        """Ask every peer once now; peers seen before that do not answer are declared lost.
        Returns every lost peer (rank -> address)."""
        for rank in sorted(self.peers):
            self._check(rank, timeout_s, now_lost=True)
        return self.lost


def _read_line(conn: socket.socket, limit: int = 256) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("ascii", "replace").strip()
