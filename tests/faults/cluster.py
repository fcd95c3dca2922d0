"""Real multi-node runs for fault tests: N launchers (`python -m launcher`) on this host, each a
"node" on its own loopback address with its own disk, training the tiny Llama for real.

Nodes are started directly rather than through `ocift local`, which stops every node as soon
as one fails: here each survivor must find out by itself. Every node's output goes to a log
file (a pipe nobody reads would block a chatty node), and every wait has a deadline.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from contract.manifest import MANIFEST, read_manifest, verify
from launcher.signals import descendants, kill_tree
from ocift.local import free_port, node_addr
from tests.support import REPO, clean_env

#: Small and fast: one optimizer step is ~0.1 s on one core; start-up (imports, model) ~15-25 s.
#: Many epochs so a run lasts until a test breaks it; `--max_train_step` ends a rerun early.
TRAIN = [
    "--use_peft",
    "--context_length",
    "64",
    "--batch_size_training",
    "1",
    "--run_validation",
    "false",
    "--lr",
    "3e-3",
    "--num_epochs",
    "100",
]
#: Every launch of a test is one logical run (a rerun continues it): its outputs are under
#: `<output URI>/ft/`, its local ones under `<work dir>/runs/ft/`.
RUN_NAME = "ft"
#: Launcher settings for fault tests: quick sync passes, a short heartbeat timeout.
FAST = {
    "OCIFT_SYNC_INTERVAL_S": "0.5",
    "OCIFT_PEER_TIMEOUT_S": "5",
    "OCIFT_TERM_GRACE_S": "30",
    "OCIFT_CLUSTER_TIMEOUT_S": "120",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
    "OCIFT_RUN_NAME": RUN_NAME,
}


def train_flags(tiny: dict[str, Path], output: str, *extra: str) -> list[str]:
    return [
        "--model_name",
        str(tiny["model"]),
        "--data_path",
        str(tiny["data"]),
        "--output_dir",
        output,
        *TRAIN,
        *extra,
    ]


@dataclass
class Node:
    rank: int
    proc: subprocess.Popen
    log: Path
    work: Path
    seen: list[psutil.Process] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def local_out(self) -> Path:
        return self.work / "runs" / RUN_NAME

    def tree(self) -> list[psutil.Process]:
        """The launcher and everything below it (torchrun, workers in their own sessions)."""
        found = {p.pid: p for p in (*self.seen, *descendants(self.proc.pid)) if p.is_running()}
        self.seen = list(found.values())
        try:
            return [psutil.Process(self.proc.pid), *self.seen]
        except psutil.NoSuchProcess:
            return self.seen

    def kill(self) -> None:
        """SIGKILL every process of this node at once, as a reclaimed machine loses them."""
        kill_tree(self.proc, self.tree())

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            pytest.fail(f"node {self.rank} still running after {timeout:.0f}s:\n{tail(self.output)}")


class Cluster:
    """`launch()` N nodes; `cleanup()` (the fixture calls it) kills whatever is left."""

    def __init__(self, base: Path):
        self.base = base
        self.nodes: list[Node] = []
        self.runs = 0

    def launch(
        self,
        flags: list[str],
        nnodes: int = 2,
        env: dict[str, str] | None = None,
        delays: dict[int, float] | None = None,
        run: str = "",
        work_dirs: dict[int, Path] | None = None,
    ) -> list[Node]:
        """Start `nnodes` launchers of one job run (fresh disks unless `run` names an earlier one);
        node r starts `delays[r]` seconds after the first and works in `work_dirs[r]` if given."""
        self.runs += 1
        run = run or f"run{self.runs}"
        base = self.base / run
        base.mkdir(parents=True, exist_ok=True)
        metadata = base / "nodes.json"
        metadata.write_text(json.dumps([{"Rank": r, "IPAddress": node_addr(r)} for r in range(nnodes)]))
        ports = {"OCIFT_RDZV_PORT": str(free_port()), "OCIFT_PEER_PORT": str(free_port())}
        nodes = []
        started = time.monotonic()
        order = sorted(range(nnodes), key=lambda r: (delays or {}).get(r, 0.0))
        for rank in order:
            wait = (delays or {}).get(rank, 0.0) - (time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
            work = (work_dirs or {}).get(rank, base / f"node-{rank}")
            settings = {
                **FAST,
                **ports,
                "OCIFT_TRAIN_MODULE": "launcher.train",
                "NODE_RANK": str(rank),
                "INITIAL_CLUSTER_SIZE": str(nnodes),
                "CLUSTER_NODES_METADATA_FILE": str(metadata),
                "JOB_RUN_OCID": f"ocid1.datasciencejobrun.oc1.local.{run}",
                "OCIFT_WORK_DIR": str(work),
                "OCIFT_CACHE_DIR": str(base / f"cache-{rank}"),
                **(env or {}),
            }
            log = base / f"node-{rank}.{self.runs}.log"
            with open(log, "ab") as sink:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "launcher", *flags],
                    cwd=REPO,
                    env=clean_env(base, **settings),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            nodes.append(Node(rank, proc, log, work))
        nodes.sort(key=lambda n: n.rank)
        self.nodes += nodes
        return nodes

    def local(self, args: list[str], flags: list[str], env: dict[str, str] | None = None) -> Node:
        """`ocift local <args> -- <flags>`: the local runner, which forwards signals to every node."""
        self.runs += 1
        log = self.base / f"local-{self.runs}.log"
        local_env = clean_env(self.base, **{**FAST, "OCIFT_TRAIN_MODULE": "launcher.train", **(env or {})})
        with open(log, "ab") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ocift.cli", "local", *args, "--", *flags],
                cwd=REPO,
                env=local_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = Node(0, proc, log, self.base)
        self.nodes.append(node)
        return node

    def cleanup(self) -> None:
        for node in self.nodes:
            if node.proc.poll() is None or any(p.is_running() for p in node.seen):
                node.kill()
            node.proc.wait()


def wait_all(nodes: list[Node], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    return [node.wait(max(1.0, deadline - time.monotonic())) for node in nodes]


def wait_for(condition, timeout: float, what: str, nodes: list[Node] = (), interval: float = 0.05):
    """Poll `condition` until it returns something truthy (returned); fail with the nodes' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        dead = [n for n in nodes if n.proc.poll() is not None]
        if time.monotonic() > deadline or dead:
            logs = "\n".join(f"--- node {n.rank} (exit {n.proc.poll()}):\n{tail(n.output)}" for n in nodes)
            pytest.fail(f"{'a node exited' if dead else f'timed out after {timeout}s'} waiting for {what}\n{logs}")
        time.sleep(interval)


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


_STEP = re.compile(r"^step-(\d{8})$")


def committed_steps(checkpoints: Path) -> list[int]:
    """Steps of the checkpoints under `checkpoints/` whose manifest exists and whose files match it
    (sizes and sha256: what resume trusts)."""
    steps = []
    for path in sorted(checkpoints.glob("step-*")) if checkpoints.is_dir() else []:
        match = _STEP.match(path.name)
        if match and read_manifest(path) is not None:
            verify(path, checksums=True)  # raises if a committed-looking checkpoint is not complete
            steps.append(int(match.group(1)))
    return steps


def partial_steps(checkpoints: Path) -> list[str]:
    """Checkpoint directories without a manifest (an interrupted write or upload)."""
    if not checkpoints.is_dir():
        return []
    return sorted(p.name for p in checkpoints.iterdir() if p.is_dir() and not (p / MANIFEST).exists())


def events(text: str, name: str, **match: str) -> list[dict[str, str]]:
    """The `event=<name>` lines of a log whose fields include `match` (e.g. rank="0"), as
    key -> value (quoted values unquoted)."""
    found = []
    for line in text.splitlines():
        if f" event={name} " not in line + " ":
            continue
        fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
        fields = {k: v[1:-1] if v.startswith('"') else v for k, v in fields.items()}
        if all(fields.get(k) == v for k, v in match.items()):
            found.append(fields)
    return found


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def mirror(uri: str, dest: Path, endpoint: str) -> Path:
    """Download everything at `uri` (straight from the store, not through a fault proxy) to `dest`."""
    from launcher.storage import open_store

    store = open_store(uri, endpoint=endpoint)
    for obj in store.list(""):
        store.download_file(obj.key, dest / obj.key)
    return dest
