"""GPU readiness that CPU can check: the workers' environment defaults, and bench/gpu_check.py's
checks run on CPU (gloo) through the same launcher path, passing and failing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from launcher.torchrun import WORKER_ENV_DEFAULTS, worker_env
from tests.support import REPO, train_env


def test_workers_get_flight_recorder_and_allocator_defaults_that_the_environment_overrides():
    env = worker_env({"PATH": "/bin", "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"})
    assert env["TORCH_NCCL_TRACE_BUFFER_SIZE"] == "2000" and env["TORCH_NCCL_DUMP_ON_TIMEOUT"] == "1"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:512"  # the user's value wins
    assert worker_env({})["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert env["PATH"] == "/bin"


def test_the_launcher_hands_the_defaults_to_torchrun():
    from launcher.__main__ import child_env
    from launcher.cluster import ClusterTopology

    topology = ClusterTopology(
        nnodes=1, node_rank=0, node_addr="127.0.0.1", master_addr="127.0.0.1", master_port=29500, source="single-node"
    )
    env = child_env({"HOME": "/home/x"}, {}, topology, "run-1")
    assert all(env[k] == v for k, v in WORKER_ENV_DEFAULTS.items()) and env["HOME"] == "/home/x"


@pytest.mark.slow
@pytest.mark.parametrize("reference_masking, passes", [("true", True), ("false", False)])
def test_gpu_check_on_cpu_passes_on_the_right_reference_and_fails_on_a_wrong_one(tmp_path, reference_masking, passes):
    """The same script the GPU run uses, on the tiny preset: a reference without document masking
    (another model of the data) must make it fail, so a pass on the GPU means something."""
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            "bench/gpu_check.py",
            "--preset",
            "cpu-tiny",
            "--seq",
            "128",
            "--steps",
            "3",
            "--results",
            str(results),
            "--reference-masking",
            reference_masking,
        ],
        cwd=REPO,
        env=train_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert (proc.returncode == 0) == passes, proc.stderr[-4000:]
    assert "attention sdpa" in proc.stdout  # auto on CPU
    assert ("passed |" if passes else "FAILED |") in results.read_text()
    if not passes:
        assert "differs from the eager fp32 reference" in proc.stderr
