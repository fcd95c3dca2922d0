"""`ocift local`: the job's entrypoint as N simulated nodes on this machine, CPU only.

Each node is `python -m launcher <training flags>` in a process group of its own, with the
environment an OCI multi-node job run gives it: `NODE_RANK`, `INITIAL_CLUSTER_SIZE`,
`JOB_RUN_OCID`, and a `CLUSTER_NODES_METADATA_FILE` that this command writes the way the
service does, late and in pieces, with one loopback address per node (127.0.0.1, 127.0.0.2,
...). So cluster formation, rendezvous, staging, sync, signals and exit codes all run the
code paths they run on OCI. Each node has its own work and cache directories, as separate
machines have separate disks.

Ctrl-C or SIGTERM is forwarded to every node, as the service does when a run is cancelled;
`--timeout` sends it when the run exceeds its maximum runtime, as the service does. When a
node fails, the others get `SETTLE_S` to end on their own (each status is then its own), then
are stopped the same way; the last lines name the node that failed first.
The exit status is the first non-zero node status, else 0.

Every invocation is a new job run (a fresh fake `JOB_RUN_OCID`), so its outputs land under
`<output-uri>/<run name>/` of its own; `--run-name` (or `OCIFT_RUN_NAME`) names the run, and the
name of an earlier run continues it. On a terminal, node 0's training lines drive a progress bar.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import IO

from contract.settings import LauncherSettings, SettingsError, default_run_name
from launcher.signals import KILL_MARGIN_S, descendants, exit_status, kill_tree
from ocift.progress import Bar, from_log_line

FAKE_JOB_RUN = "ocid1.datasciencejobrun.oc1.local.{suffix}"
#: The metadata file appears this long after the nodes start, then grows one node at a time.
METADATA_DELAY_S = 1.0
METADATA_STEP_S = 0.3
#: After a node fails, the others get this long to end on their own before SIGTERM: a bad flag
#: fails every node, and each should report its own status (2), not the 143 of being stopped.
SETTLE_S = 10.0


def node_addr(rank: int) -> str:
    """Node `rank`'s address: distinct loopback addresses, as distinct hosts would have."""
    return f"127.0.0.{rank + 1}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now, for rank 0's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def write_metadata_gradually(
    path: Path, nnodes: int, stop: threading.Event, delay_s: float = METADATA_DELAY_S, step_s: float = METADATA_STEP_S
) -> None:
    """Write the metadata file as the service may: late, half-written, one node at a time.

    Writes are in place (truncate, then write in two parts), so a reader can see an empty
    or truncated file, which is what the launcher must tolerate.
    """
    if stop.wait(delay_s):
        return
    for count in range(1, nnodes + 1):
        text = json.dumps([{"Rank": r, "IPAddress": node_addr(r)} for r in range(count)])
        with open(path, "w") as handle:
            handle.write(text[: len(text) // 2])
            handle.flush()
            if stop.wait(step_s / 2):
                return
            handle.write(text[len(text) // 2 :])
        if stop.wait(step_s / 2):
            return


def new_job_run_ocid() -> str:
    """A fake job run OCID, new for every invocation (a reused work dir is still a new run)."""
    return FAKE_JOB_RUN.format(suffix=time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:6])


def pump(stream: IO[bytes], prefix: bytes, sink: IO[bytes], lock: threading.Lock, bar: Bar | None = None) -> None:
    """Copy a node's output line by line, each prefixed with the node; with a bar (a terminal),
    lines go above it and training's progress lines move it."""
    for line in iter(stream.readline, b""):
        with lock:
            if bar is None or not bar.enabled:
                sink.write(prefix + line)
                sink.flush()
                continue
            text = (prefix + line).decode(errors="replace")
            bar.write(text)
            progress = from_log_line(text)
            if progress is not None:
                bar.update(progress)
    stream.close()


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        cut = argv.index("--")
        own, training = argv[:cut], argv[cut + 1 :]
    else:
        own, training = argv, []
    parser = argparse.ArgumentParser(
        prog="ocift local",
        usage="ocift local [options] -- <training flags>",
        description="Run the launcher as N simulated OCI nodes on this machine (CPU, gloo).",
        epilog="Training flags follow `--`, exactly as the job's command-line arguments. "
        "OCIFT_* variables in the environment reach every node.",
    )
    parser.add_argument("--nnodes", type=int, default=2, help="simulated nodes (default 2)")
    parser.add_argument("--nproc-per-node", type=int, default=1, help="processes per node (default 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="maximum runtime in seconds; then every node gets SIGTERM (default: none)",
    )
    parser.add_argument("--output-uri", default="", help="OCIFT_OUTPUT_URI for every node")
    parser.add_argument(
        "--work-dir", default="", help="per-node work/cache directories go here (default: a new temp dir)"
    )
    parser.add_argument(
        "--run-name",
        default="",
        help="OCIFT_RUN_NAME for every node: outputs under <output-uri>/<run name>/; an earlier run's "
        "name continues it (default: a new run, named after its fake job run id)",
    )
    args = parser.parse_args(own)
    if args.nnodes < 1 or args.nnodes > 254:
        parser.error(f"--nnodes {args.nnodes}: between 1 and 254")
    if args.nproc_per_node < 1:
        parser.error(f"--nproc-per-node {args.nproc_per_node}: at least 1")
    return args, training


class LocalCluster:
    """N launcher processes, their output, and the signals between them and the user."""

    def __init__(self, args: argparse.Namespace, training: list[str]):
        self.args = args
        self.training = training
        self.base = Path(args.work_dir or tempfile.mkdtemp(prefix="ocift-local-")).resolve()
        self.procs: list[subprocess.Popen] = []
        self.seen: dict[int, list] = {}
        self.stop = threading.Event()
        self.stopping_since: float | None = None
        self.killed = False
        self.stopped: set[int] = set()
        settings = LauncherSettings.from_env()
        self.grace_s = settings.term_grace_s
        self.job_run = new_job_run_ocid()
        self.run_name = args.run_name or settings.run_name or default_run_name(self.job_run)
        self.bar = Bar(sys.stdout)

    def node_env(self, rank: int, metadata: Path, port: int, peer_port: int) -> dict[str, str]:
        node_dir = self.base / f"node-{rank}"
        env = {
            **os.environ,
            "NODE_RANK": str(rank),
            "INITIAL_CLUSTER_SIZE": str(self.args.nnodes),
            "CLUSTER_NODES_METADATA_FILE": str(metadata),
            "JOB_RUN_OCID": self.job_run,
            "OCIFT_RUN_NAME": self.run_name,
            "OCIFT_WORK_DIR": str(node_dir / "work"),
            "OCIFT_CACHE_DIR": os.environ.get("OCIFT_CACHE_DIR") or str(node_dir / "cache"),
            "OCIFT_CPU_PROCS_PER_NODE": str(self.args.nproc_per_node),
            "OCIFT_NPROC_PER_NODE": str(self.args.nproc_per_node),
            "OCIFT_RDZV_PORT": os.environ.get("OCIFT_RDZV_PORT") or str(port),
            "OCIFT_PEER_PORT": os.environ.get("OCIFT_PEER_PORT") or str(peer_port),
            "PYTHONUNBUFFERED": "1",
        }
        if self.args.output_uri:
            env["OCIFT_OUTPUT_URI"] = self.args.output_uri
        return env

    def terminate(self, reason: str) -> None:
        """SIGTERM every node still running (once); each then has its grace period."""
        if self.stopping_since is not None:
            return
        self.stopping_since = time.monotonic()
        sys.stderr.write(f"ocift local: {reason}: sending SIGTERM to every node\n")
        for rank, proc in enumerate(self.procs):
            if proc.poll() is None:
                self.stopped.add(rank)
                self.seen[proc.pid] = descendants(proc.pid)
                try:
                    proc.send_signal(signal.SIGTERM)
                except OSError:
                    pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.terminate(f"received {signal.Signals(signum).name}")

    def run(self) -> int:
        self.base.mkdir(parents=True, exist_ok=True)
        metadata = self.base / "cluster-nodes.json"
        metadata.unlink(missing_ok=True)
        port = free_port()
        peer_port = next(p for p in iter(free_port, None) if p != port)  # heartbeats (launcher.peers)
        sys.stderr.write(
            f"ocift local: {self.args.nnodes} node(s) x {self.args.nproc_per_node} process(es), "
            f"run {self.run_name}, work dir {self.base}\n"
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        lock = threading.Lock()
        threads = [
            threading.Thread(target=write_metadata_gradually, args=(metadata, self.args.nnodes, self.stop), daemon=True)
        ]
        cmd = [sys.executable, "-m", "launcher", *self.training]
        for rank in range(self.args.nnodes):
            proc = subprocess.Popen(
                cmd,
                env=self.node_env(rank, metadata, port, peer_port),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append(proc)
            # Every node's lines go through the bar (one writer keeps them in order); rank 0's training lines move it.
            threads.append(
                threading.Thread(
                    target=pump,
                    args=(proc.stdout, f"[node {rank}] ".encode(), sys.stdout.buffer, lock, self.bar),
                    daemon=True,
                )
            )
        for thread in threads:
            thread.start()
        try:
            return self._wait()
        finally:
            self.stop.set()
            for thread in threads[1:]:
                thread.join(timeout=5)
            self.bar.close()

    def _wait(self) -> int:
        """Wait for every node; the first non-zero status wins. Every wait is bounded."""
        started = time.monotonic()
        first_failure, culprit, failed_at = 0, -1, 0.0
        statuses: dict[int, int] = {}
        while len(statuses) < len(self.procs):
            for rank, proc in enumerate(self.procs):
                if rank in statuses or proc.poll() is None:
                    continue
                statuses[rank] = exit_status(proc.returncode)
                if statuses[rank] and not first_failure:
                    first_failure = statuses[rank]
                    culprit = rank if self.stopping_since is None else -1  # not one we stopped
                    failed_at = time.monotonic()
                    sys.stderr.write(
                        f"ocift local: node {rank} exited with status {statuses[rank]}; the others "
                        f"get {SETTLE_S:g}s to end on their own\n"
                    )
            if culprit >= 0 and time.monotonic() - failed_at > SETTLE_S:
                self.terminate(f"node {culprit} exited with status {first_failure}")
            if self.args.timeout and time.monotonic() - started > self.args.timeout:
                self.terminate(f"maximum runtime of {self.args.timeout:g}s reached")
            if (
                self.stopping_since is not None
                and not self.killed
                and time.monotonic() - self.stopping_since > self.grace_s + 2 * KILL_MARGIN_S
            ):
                self.killed = True
                for proc in self.procs:
                    if proc.poll() is None:
                        sys.stderr.write(f"ocift local: node pid {proc.pid} outlived its grace period: SIGKILL\n")
                        kill_tree(proc, self.seen.get(proc.pid, ()))
            time.sleep(0.1)
        for rank, status in sorted(statuses.items()):
            how = " (stopped by ocift local)" if rank in self.stopped else ""
            sys.stderr.write(f"ocift local: node {rank} exited with status {status}{how}\n")
        if culprit >= 0 and len(self.procs) > 1:
            cause = f" ({describe_status(first_failure)})" if describe_status(first_failure) else ""
            sys.stderr.write(
                f"ocift local: the run failed because node {culprit} failed first, with status {first_failure}{cause}\n"
            )
        if first_failure:
            sys.stderr.write(
                f"ocift local: run {self.run_name}; continue it from its latest checkpoint with "
                f"--run-name {self.run_name} -- <training flags> --resume auto\n"
            )
        return first_failure


def describe_status(status: int) -> str:
    """What a node's exit status says about the cause (the launcher's codes, signals)."""
    known = {2: "bad input", 74: "storage failure", 75: "peers missing or lost"}
    if status in known:
        return known[status]
    if status > 128:
        try:
            return f"killed by {signal.Signals(status - 128).name}"
        except ValueError:
            return ""
    return ""


def main(argv: list[str]) -> int:
    args, training = parse_args(argv)
    try:
        return LocalCluster(args, training).run()
    except SettingsError as exc:
        sys.stderr.write(f"ocift local: {exc}\n")
        return 2
