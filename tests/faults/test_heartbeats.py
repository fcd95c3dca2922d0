"""launcher.peers on its own: two watches on two loopback addresses, real sockets."""

from __future__ import annotations

import threading
import time

import pytest

from launcher.peers import PeerWatch
from ocift.local import free_port

ADDRS = {0: "127.0.0.1", 1: "127.0.0.2"}


class Lost:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str]] = []
        self.event = threading.Event()

    def __call__(self, rank: int, addr: str, why: str) -> None:
        self.calls.append((rank, addr, why))
        self.event.set()


@pytest.fixture
def pair():
    port = free_port()
    lost = [Lost(), Lost()]
    watches = [PeerWatch(rank, ADDRS, port, timeout_s=1.0, job="job-a", on_lost=lost[rank]) for rank in (0, 1)]
    yield watches, lost
    for watch in watches:
        watch.stop()


def start_and_meet(zero: PeerWatch, one: PeerWatch) -> None:
    """Start both watches; return once node 0 has heard node 1."""
    zero.start()
    one.start()
    deadline = time.monotonic() + 10
    while not zero.peers[1].seen:
        assert time.monotonic() < deadline, "node 0 never heard node 1"
        time.sleep(0.05)


def test_a_peer_that_stops_answering_is_lost_once_within_the_timeout(pair) -> None:
    (zero, one), (lost0, _) = pair
    start_and_meet(zero, one)
    assert zero.ping(1, 1.0) == "" and not lost0.calls
    one.stop()
    gone = time.monotonic()
    assert lost0.event.wait(5), "node 1 was never declared lost"
    took = time.monotonic() - gone
    assert took < zero.timeout_s + zero.interval_s + 2.5, took
    time.sleep(3 * zero.interval_s)
    [(rank, addr, why)] = lost0.calls  # once
    assert (rank, addr) == (1, "127.0.0.2") and "silent for" in why
    assert float(why.split("silent for ")[1].split("s")[0]) >= zero.timeout_s  # never before the timeout
    assert zero.lost == {1: "127.0.0.2"} and zero.probe() == {1: "127.0.0.2"}


def test_a_peer_never_seen_is_starting_not_lost(pair) -> None:
    (zero, _), (lost0, _) = pair
    zero.start()
    time.sleep(2.5)  # longer than the timeout
    assert not lost0.calls and zero.probe() == {}  # the rendezvous deadline covers a node that never comes
    assert zero.peers[1].last_error


def test_an_answer_from_another_job_does_not_count() -> None:
    port = free_port()
    mine = PeerWatch(0, ADDRS, port, 1.0, "job-a", Lost())
    other = PeerWatch(1, ADDRS, port, 1.0, "job-b", Lost())
    other.start()
    try:
        assert "unexpected answer" in mine.ping(1, 1.0)
    finally:
        other.stop()


def test_the_port_in_use_is_an_error_at_start() -> None:
    port = free_port()
    first = PeerWatch(0, ADDRS, port, 1.0, "job", Lost())
    first.start()
    try:
        with pytest.raises(OSError):
            PeerWatch(0, ADDRS, port, 1.0, "job", Lost()).start()
    finally:
        first.stop()


def test_a_peer_that_said_goodbye_is_never_lost(pair) -> None:
    """A node whose training ended tells the others before its launcher exits: its silence
    afterwards is not a loss (the others may still be writing their last outputs)."""
    (zero, one), (lost0, _) = pair
    start_and_meet(zero, one)
    one.farewell(3)
    one.stop()
    time.sleep(zero.timeout_s + 2 * zero.interval_s)
    assert not lost0.calls and zero.probe() == {}
    assert zero.peers[1].finished == 3
