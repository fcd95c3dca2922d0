"""Helpers that run the real entrypoint (`python -m launcher`) as separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocift.local import free_port
from launcher.signals import descendants, kill_tree

REPO = Path(__file__).resolve().parents[2]
#: Variables a developer's shell (or the service) may have set that would change topology.
TOPOLOGY_VARS = {"NODE_RANK", "INITIAL_CLUSTER_SIZE", "CLUSTER_NODES_METADATA_FILE", "NNODES", "MASTER_ADDR",
                 "MASTER_PORT", "NODE_ADDR", "NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "JOB_RUN_OCID"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without OCIFT_*/topology variables, running the test child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCIFT_") and k not in TOPOLOGY_VARS}
    env.update({
        "OCIFT_TRAIN_MODULE": "tests.launcher.child",
        "OCIFT_CACHE_DIR": str(tmp_path / "cache"),
        "OCIFT_RDZV_PORT": str(free_port()),
        "OCIFT_CLUSTER_TIMEOUT_S": "60",
        "OMP_NUM_THREADS": "1",
    })
    env.update(extra)
    return env


Start = Callable[..., subprocess.Popen]


@pytest.fixture
def start() -> Iterator[Start]:
    """`start(args, env, module="launcher")`: a process in its own session; whatever is left
    of it (torchrun, workers in their own sessions) is killed when the test ends."""
    procs: list[subprocess.Popen] = []

    def _start(args: list[str], env: dict[str, str], module: str = "launcher") -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        kill_tree(proc, descendants(proc.pid))
        if proc.poll() is None:
            proc.communicate()


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Exit status and output; a process past `timeout` is killed and the test fails."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"still running after {timeout}s:\n{out}")
    return proc.returncode, out


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
