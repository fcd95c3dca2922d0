"""Training metrics: one JSON line per step, a progress bar on a terminal, a plot and a summary.

Per-step losses stay on the device until a flush (every `FLUSH_EVERY` steps, before evaluation
and checkpoints, at the end), where they are averaged across ranks in one collective and read
in one host transfer. Throughput is measured over the same window, so its timings are real:
the flush is the only point where the host waits for the device.

MFU: model FLOPs per trained token (6N for full fine-tuning, 4N for LoRA, where the frozen
weights need no weight gradients; N excludes the input embedding; plus 12 x layers x hidden x
sequence for attention) over the accelerator's dense bf16 peak (a table for known GPUs,
otherwise a matmul measured here), times the number of processes.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from launcher import log

FLUSH_EVERY = 10
PEAK_BF16_FLOPS = {  # dense, per device, from vendor datasheets
    "H200": 989e12,
    "H100": 989e12,
    "GH200": 989e12,
    "A100": 312e12,
    "A10": 125e12,
    "L40S": 362e12,
    "L4": 121e12,
    "MI300X": 1307e12,
    "B200": 2250e12,
}


def measure_matmul_peak(
    device: torch.device, dtype: torch.dtype = torch.bfloat16, size: int = 0, seconds: float = 0.5
) -> float:
    """FLOP/s of a large square matmul on `device`: the ceiling this machine actually offers."""
    size = size or (8192 if device.type == "cuda" else 512)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
        if runs % 4 == 0:
            _sync(device)
    _sync(device)
    return 2 * size**3 * runs / (time.perf_counter() - start)


def peak_flops(device: torch.device) -> tuple[float, str]:
    """(FLOP/s, where the number came from)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in sorted(PEAK_BF16_FLOPS.items(), key=lambda kv: -len(kv[0])):
            if key in name:
                return value, f"datasheet {key}"
    return measure_matmul_peak(device), "measured matmul"


def flops_per_token(params: int, embedding: int, full_finetune: bool, layers: int, hidden: int, seq: int) -> float:
    """Training FLOPs per token: forward 2N, input gradients 2N, weight gradients 2N (full only)."""
    factor = 6 if full_finetune else 4
    return factor * (params - embedding) + 12 * layers * hidden * seq


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class _Pending:
    step: int
    epoch: int
    loss: torch.Tensor
    lr: float
    tokens: int


@dataclass
class Metrics:
    """Collects on every rank (the collective needs all); writes on rank 0 only."""

    output_dir: Path
    device: torch.device
    rank: int
    world_size: int
    flops_per_token: float
    peak_flops: float
    peak_source: str
    total_steps: int
    pending: list[_Pending] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    window_start: float = field(default_factory=time.perf_counter)
    train_seconds: float = 0.0
    train_tokens: int = 0
    title: str = ""
    _bar: Any = None

    def __post_init__(self) -> None:
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.output_dir / "metrics.jsonl", "a")
            if sys.stderr.isatty():
                from tqdm import tqdm

                self._bar = tqdm(total=self.total_steps, unit="step", dynamic_ncols=True)

    def start_window(self) -> None:
        """Exclude time outside training steps (evaluation, checkpoints) from throughput."""
        self.window_start = time.perf_counter()

    def step(self, step: int, epoch: int, loss: torch.Tensor, lr: float, tokens: int) -> None:
        self.pending.append(_Pending(step, epoch, loss.detach(), lr, tokens))
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Average the pending losses over ranks, measure the window, write the lines."""
        if not self.pending:
            return
        losses = torch.stack([p.loss.float() for p in self.pending])
        tokens = torch.tensor([p.tokens for p in self.pending], dtype=torch.float64, device=losses.device)
        packed = torch.cat([losses.double(), tokens])
        dist.all_reduce(packed)
        values = packed.tolist()
        n = len(self.pending)
        elapsed = max(time.perf_counter() - self.window_start, 1e-9)
        global_tokens = sum(values[n:])
        tps = global_tokens / elapsed
        mfu = tps * self.flops_per_token / (self.peak_flops * self.world_size) if self.peak_flops else None
        self.train_seconds += elapsed
        self.train_tokens += int(global_tokens)
        memory = peak_memory_bytes(self.device)
        # Steps left at this process's pace so far (a resumed run counts only its own steps).
        eta_s = (self.total_steps - self.pending[-1].step) * self.train_seconds / (len(self.history) + n)
        for p, loss_sum, tok in zip(self.pending, values[:n], values[n:]):
            record = {
                "step": p.step,
                "epoch": p.epoch,
                "loss": loss_sum / self.world_size,
                "lr": p.lr,
                "tokens": int(tok),
                "tokens_per_s": tps,
                "tflops_per_s": tps * self.flops_per_token / 1e12,
                "mfu": mfu,
                "peak_memory_bytes": memory,
                "total_steps": self.total_steps,
                "eta_s": eta_s,
            }
            self.history.append(record)
            if self.rank == 0:
                self._file.write(json.dumps(record) + "\n")
        if self.rank == 0:
            self._file.flush()
            last = self.history[-1]
            if self._bar is not None:
                self._bar.n = last["step"]
                self._bar.set_postfix(loss=f"{last['loss']:.4f}", tok_s=f"{tps:,.0f}", eta=log.format_eta(eta_s))
                self._bar.refresh()
            log.event(
                "train",
                step=f"{last['step']}/{self.total_steps}",
                epoch=last["epoch"],
                loss=f"{last['loss']:.4f}",
                lr=f"{last['lr']:.3g}",
                tokens_per_s=f"{tps:.0f}",
                eta=log.format_eta(eta_s),
                eta_s=f"{eta_s:.0f}",
                mfu=f"{mfu:.3f}" if mfu is not None else "n/a",
            )
        self.pending.clear()
        self.window_start = time.perf_counter()

    def evaluation(self, step: int, epoch: int, loss: float) -> None:
        record = {"step": step, "epoch": epoch, "eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50.0))}
        self.evals.append(record)
        if self.rank == 0:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            log.event("eval", step=step, epoch=epoch, loss=f"{loss:.4f}", perplexity=f"{record['eval_perplexity']:.3f}")

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Write `summary.json` and `loss.png` (rank 0); returns the summary."""
        self.flush()
        tps = self.train_tokens / self.train_seconds if self.train_seconds else 0.0
        summary = {
            **summary,
            "steps_logged": len(self.history),
            "final_train_loss": self.history[-1]["loss"] if self.history else None,
            "first_train_loss": self.history[0]["loss"] if self.history else None,
            "final_eval_loss": self.evals[-1]["eval_loss"] if self.evals else None,
            "final_eval_perplexity": self.evals[-1]["eval_perplexity"] if self.evals else None,
            "tokens_per_s": tps,
            "tflops_per_s": tps * self.flops_per_token / 1e12,
            "mfu": tps * self.flops_per_token / (self.peak_flops * self.world_size) if self.peak_flops else None,
            "peak_flops_per_device": self.peak_flops,
            "peak_flops_source": self.peak_source,
            "peak_memory_bytes_rank0": peak_memory_bytes(self.device),
            "wall_seconds": time.perf_counter() - self.started,
        }
        if self.rank == 0:
            if self._bar is not None:
                self._bar.close()
            self._file.close()
            (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
            plot_losses(self.output_dir / "metrics.jsonl", self.output_dir / "loss.png", self.title)
        return summary


def run_title(job_ocid: str, run: str, model_name: str, method: str) -> str:
    """What a plot or report names a run by: job, run, model, method."""
    job = job_ocid.rsplit(".", 1)[-1][-12:] if job_ocid else "local"
    model = Path(model_name.rstrip("/")).name or model_name
    return f"job {job} · run {run or 'unnamed'} · {model} · {'LoRA' if method == 'lora' else 'full fine-tune'}"


def plot_losses(metrics_file: Path, target: Path, title: str = "") -> None:
    """Loss curve from the whole metrics file (a resumed run's lines included; later wins), titled
    with the run (also the PNG's Title text, for tools that index images)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train: dict[int, float] = {}
    evals: dict[int, float] = {}
    for line in metrics_file.read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            train[record["step"]] = record["loss"]
        elif "eval_loss" in record:
            evals[record["step"]] = record["eval_loss"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        steps = sorted(train)
        ax.plot(steps, [train[s] for s in steps], label="train loss")
    if evals:
        steps = sorted(evals)
        ax.plot(steps, [evals[s] for s in steps], "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=100, metadata={"Title": title} if title else None)
    plt.close(fig)
