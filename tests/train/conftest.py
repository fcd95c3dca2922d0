"""Shared fixtures: a tiny Llama and samsum-like data made in code, and a torchrun runner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.train.tiny import make_samsum_like, make_tiny_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tiny")
    return {
        "model": make_tiny_model(base / "model", hidden_size=48, num_layers=2, num_heads=2, vocab_size=320),
        "data": make_samsum_like(base / "data", n_train=48, n_val=8, seed=1),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(args: list[str], nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
            "127.0.0.1", "--master_port", str(free_port()), "-m", "launcher.train", *args]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}


def torchrun(args: list[str], nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run training under torchrun; fail the test with its output if it does not exit 0."""
    proc = subprocess.run(torchrun_cmd(args, nproc), cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def base_args(tiny: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["--model_name", str(tiny["model"]), "--data_path", str(tiny["data"]), "--output_dir", str(out),
            "--context_length", "64", "--batch_size_training", "2", *extra]


def metrics(out: Path) -> tuple[list[dict], list[dict]]:
    """(train records, eval records) of a run's metrics.jsonl."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "loss" in r], [r for r in lines if "eval_loss" in r]
