"""Running a child process tree so that a cancelled job ends cleanly and completely.

On OCI, cancelling or timing out a job run sends SIGTERM to the container's main process:
the launcher. The supervisor turns that into a bounded shutdown:

- before the child starts, SIGTERM/SIGINT abort the launcher (`Terminated`);
- while the child runs, SIGTERM is forwarded to it and the launcher waits up to the grace
  period (plus a small margin for the child's own teardown), then SIGKILLs every process of
  the tree, each worker's process group included (torchrun starts each worker in a session
  of its own, so killing torchrun's group alone would orphan them);
- after the child exits, signals are only recorded, so the final upload is not cut short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

import psutil

#: Time past the grace period for the child to tear itself down before SIGKILL.
KILL_MARGIN_S = 5.0
HANDLED = (signal.SIGTERM, signal.SIGINT)


class Terminated(Exception):
    """A termination signal arrived before there was a child to hand it to."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"received {signal.Signals(signum).name}")


def exit_status(returncode: int) -> int:
    """A process's exit status the way a shell reports it: 128+N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def descendants(pid: int) -> list[psutil.Process]:
    """Every live process below `pid` (empty when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(root: subprocess.Popen, known: Sequence[psutil.Process] = ()) -> None:
    """SIGKILL `root`, its process group, and every group its descendants lead.

    `known` are descendants seen earlier: they may have been re-parented away from `root`
    by now. Our own process group is never signalled.
    """
    procs = {p.pid: p for p in (*known, *descendants(root.pid)) if p.is_running()}
    groups = {root.pid}
    for proc in procs.values():
        try:
            groups.add(os.getpgid(proc.pid))
        except OSError:
            continue
    groups.discard(os.getpgrp())
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    for proc in procs.values():
        try:
            proc.kill()
        except psutil.Error:
            pass


class Supervisor:
    """Owns SIGTERM/SIGINT for the launcher process and runs its one child under them."""

    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self.received: int | None = None
        self._child: subprocess.Popen | None = None
        self._child_done = False
        self._deadline: float | None = None
        self._seen: list[psutil.Process] = []
        self._abort_grace: float | None = None

    def install(self) -> None:
        for sig in HANDLED:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signum
        if self._child_done:
            return
        if self._child is None:
            raise Terminated(signum)
        if first:
            self._seen = descendants(self._child.pid)
            self._deadline = time.monotonic() + self.grace_s + KILL_MARGIN_S
            try:
                self._child.send_signal(signal.SIGTERM)
            except OSError:
                pass

    def settle(self) -> None:
        """The outcome is decided (the launcher is reporting its own failure): a signal from here on
        is only recorded, so the exit status stays the one that was decided."""
        self._child_done = True

    def abort(self, grace_s: float) -> None:
        """Stop the child from another thread (e.g. a peer node was lost): SIGTERM now, and the
        whole tree is killed after `grace_s` (plus the margin) if it is still there."""
        self._abort_grace = grace_s

    def run(self, cmd: Sequence[str], env: Mapping[str, str]) -> tuple[int, bool]:
        """Run `cmd` in a session of its own; (exit status, whether it had to be killed)."""
        if self.received is not None:
            raise Terminated(self.received)
        self._child = subprocess.Popen(list(cmd), env=dict(env), start_new_session=True)
        killed = False
        try:
            while True:
                try:
                    returncode = self._child.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self._abort_grace is not None and self._deadline is None:
                    self._seen = descendants(self._child.pid)
                    self._deadline = time.monotonic() + self._abort_grace + KILL_MARGIN_S
                    try:
                        self._child.send_signal(signal.SIGTERM)
                    except OSError:
                        pass
                if self._deadline is not None and time.monotonic() >= self._deadline and not killed:
                    kill_tree(self._child, self._seen)
                    killed = True
        finally:
            self._child_done = True
        # Anything the child left behind (a worker that outlived torchrun) goes too.
        leftovers = [p for p in self._seen if p.is_running()]
        if leftovers:
            kill_tree(self._child, leftovers)
        return exit_status(returncode), killed
