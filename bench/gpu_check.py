"""The launcher path end to end, checked against an eager reference: `bench/gpu_check.sh`'s first part.

    python bench/gpu_check.py --preset llama2-7b --seq 4096          # on a GPU (NCCL, flex attention)
    python bench/gpu_check.py --preset cpu-tiny --seq 128 --steps 3  # the same checks on CPU (gloo)

1. A random-weight model of the preset's shape and samsum-like data (bench/train.py's).
2. LoRA training for `--steps` steps with the recipe's defaults (document masking, attention and
   loss chunking `auto`, mixed precision, activation checkpointing) through the command the
   launcher runs on a node (`launcher.torchrun.command`: torchrun, static rendezvous) in the
   launcher's worker environment (`launcher.torchrun.worker_env`).
3. The first step's loss recomputed in this process with eager attention in fp32 on the same first
   batch: LoRA starts as the identity, so it is the base model's loss. They must agree to
   `--rtol` (bf16 compute against fp32).

Exit status 0 only when the run succeeded, chose the attention kernel expected on this device, and
the losses agree; anything else prints why and exits 1. With `--results`, a row goes there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train import PRESETS, machine, make_model  # noqa: E402


def train_through_launcher(model: Path, data: Path, out: Path, seq: int, steps: int, nproc: int) -> str:
    """The node's torchrun command with the defaults; returns its log (stderr), raising on failure."""
    from contract.settings import LauncherSettings
    from launcher.cluster import ClusterTopology
    from launcher.torchrun import command, worker_env
    from ocift.local import free_port

    topology = ClusterTopology(
        nnodes=1,
        node_rank=0,
        node_addr="127.0.0.1",
        master_addr="127.0.0.1",
        master_port=free_port(),
        source="single-node",
    )
    flags = [
        "--model_name",
        str(model),
        "--data_path",
        str(data),
        "--output_dir",
        str(out),
        "--use_peft",
        "--context_length",
        str(seq),
        "--batch_size_training",
        "1",
        "--max_train_step",
        str(steps),
        "--run_validation",
        "false",
        "--save_model",
        "false",
    ]
    cmd = command(topology, nproc, LauncherSettings.from_env({}), "launcher.train", flags)
    env = worker_env({**os.environ, "PYTHONPATH": str(ROOT)})
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"gpu_check: training through the launcher failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
        )
    return proc.stderr


def reference_loss(model_dir: Path, data: Path, seq: int, masking: bool) -> float:
    """The first batch's token-mean loss with eager attention, fp32, in this process."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from contract.recipe import TrainConfig
    from launcher.train.data import Formatter, find_splits, load_split, make_dataset, tokenize
    from launcher.train.loop import batch_loss

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    defaults = TrainConfig()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train_file, _ = find_splits(data)
    examples = tokenize(load_split(train_file, Formatter(defaults.dataset)), tokenizer)
    ds = make_dataset(
        examples, train_file, strategy=defaults.batching_strategy, context_length=seq, pad_id=tokenizer.pad_token_id
    )
    window = next(iter(ds.windows(seed=defaults.seed, epoch=0, start=0, rank=0, world=1, batch_size=1, accumulation=1)))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.to(device).eval()
    with torch.no_grad():
        total, count = batch_loss(model, window[0], device, document_masking=masking, loss_chunk_size=0)
    loss = float(total) / count
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return loss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="cpu-tiny")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rtol", type=float, default=0.01, help="first-step loss against the eager reference")
    parser.add_argument("--model-dir", type=Path, help="reuse (or create) the model here")
    parser.add_argument("--workdir", type=Path, help="data and outputs (default: a temp dir, removed)")
    parser.add_argument("--results", type=Path, help="append a row to this RESULTS.md")
    parser.add_argument(
        "--reference-masking", choices=["true", "false"], default="true", help=argparse.SUPPRESS
    )  # false: a reference that must disagree (tests the check)
    args = parser.parse_args()

    import torch

    from launcher.train.attention import resolve_implementation
    from launcher.train.tiny import make_samsum_like

    gpu = torch.cuda.is_available()
    expected_attention = resolve_implementation("auto", "cuda" if gpu else "cpu", document_masking=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        model = make_model(args.preset, args.model_dir or tmp / "model", gpu)
        data = make_samsum_like(tmp / "data", n_train=args.steps * args.seq // 60 + 200, n_val=0)
        # One process: its first step is rank 0's first batch, which the reference recomputes.
        log = train_through_launcher(model, data, tmp / "out", args.seq, args.steps, nproc=1)
        records = [json.loads(x) for x in (tmp / "out" / "metrics.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in records if "loss" in r]
        rates = [r["tokens_per_s"] for r in records if "tokens_per_s" in r]
        reference = reference_loss(model, data, args.seq, masking=args.reference_masking == "true")
    chosen = re.search(r"event=model_ready .*attention=(\S+)", log)
    problems = []
    if chosen is None or chosen.group(1) != expected_attention:
        problems.append(
            f"attention: expected {expected_attention}, the run used {chosen.group(1) if chosen else 'nothing logged'}"
        )
    if len(losses) != args.steps:
        problems.append(f"{len(losses)} step losses in metrics.jsonl, expected {args.steps}")
    elif abs(losses[0] - reference) > args.rtol * abs(reference):
        problems.append(
            f"first-step loss {losses[0]:.5f} differs from the eager fp32 reference {reference:.5f} "
            f"by more than {args.rtol:.0%}"
        )
    print(
        f"gpu_check: {args.preset} LoRA seq {args.seq} via torchrun ({'NCCL' if gpu else 'gloo'}), attention "
        f"{chosen.group(1) if chosen else '?'}: step losses {[round(x, 4) for x in losses]}, eager fp32 reference "
        f"{reference:.4f}, last tokens/s {rates[-1] if rates else 0:,.0f}"
    )
    if args.results:
        append_row(args, machine(), chosen.group(1) if chosen else "?", losses, reference, rates, not problems)
    for problem in problems:
        print(f"gpu_check FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def append_row(
    args, where: str, attention: str, losses: list[float], reference: float, rates: list[float], passed: bool
) -> None:
    title = "## Launcher path against the eager reference (`bench/gpu_check.py`)\n"
    header = (
        "| date (UTC) | machine | preset | seq | attention | step-1 loss / eager fp32 | last tokens/s | check |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    line = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {where} | {args.preset} LoRA | {args.seq} | "
        f"{attention} | "
        f"{losses[0] if losses else float('nan'):.4f} / {reference:.4f} | {rates[-1] if rates else 0:,.0f} | "
        f"{'passed' if passed else 'FAILED'} |\n"
    )
    text = args.results.read_text() if args.results.exists() else "# Benchmarks\n"
    if title not in text:
        text = text.rstrip("\n") + "\n\n" + title + "\n" + header
    head, _, tail = text.partition(title)
    table_end = tail.find("\n\n", tail.find("|---|"))
    tail = tail + line if table_end < 0 else tail[: table_end + 1] + line + tail[table_end + 1 :]
    args.results.write_text(head + title + tail)


if __name__ == "__main__":
    raise SystemExit(main())
