"""Throughput of ocift's training loop next to Hugging Face `Trainer`, same model and tokens.

    python bench/train.py                                  # CPU: a tiny Llama, LoRA, a few seconds
    python bench/train.py --preset tinyllama-1.1b --method full --seq 2048 --batch 8   # on a GPU
    python bench/train.py --preset llama2-7b --method lora --seq 4096 --batch 1 --variants all
    python bench/train.py --preset cpu-vocab32k --seq 256 --steps 12 --repeats 1 --variants masked,masked+chunked

`--variants` runs our loop once per variant (features joined by '+': `unmasked` = llama-recipes'
packing, where documents see each other, as Trainer trains on it; `masked` = document masking,
the default; `flex` = flex_attention; `chunked` = the chunked LM-head loss; `compile` = each
decoder layer compiled), alternating with Trainer, so every variant is timed beside the same
baseline in one go.

Both run in their own process (one device, no activation checkpointing, AdamW, bf16 on GPU,
fp32 on CPU; LoRA adapters bf16 on both sides on GPU, rotary buffers fp32) on the same
random-weight model and the same packed samsum-like tokens. Both sides wait for the device at the
same rate: ours reads its losses every 10 steps (metrics.FLUSH_EVERY), Trainer logs every 10 steps
and is timed with one synchronize at each end of the timed span. Reported per side: tokens/s after
the first 10 steps, TFLOP/s and % of a matmul peak measured here on this machine, peak memory, and
the mean loss of each 10-step window; the best of `--repeats` alternating runs per side. A row is
appended to bench/RESULTS.md.

Fit: the model is built in a child process (the parent never holds it on the GPU), and each run's
output directory (with its final DCP checkpoint: ~40 GB for a 7B full fine-tune) is removed as soon
as its metrics are read. `--model-dir` reuses a model directory (bench/gpu_check.sh shares one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = {  # random-init shapes: (hidden, layers, heads, kv heads, intermediate, vocab)
    "cpu-tiny": (128, 4, 4, 4, 256, 384),
    "cpu-vocab32k": (128, 2, 4, 4, 256, 32000),  # the logits outweigh the model: the chunked loss shows on CPU
    "tinyllama-1.1b": (2048, 22, 32, 4, 5632, 32000),
    "llama2-7b": (4096, 32, 32, 32, 11008, 32000),
}
WARMUP_STEPS = 10
LOG_EVERY = 10  # ours: launcher.train.metrics.FLUSH_EVERY (asserted in main)
LORA_TARGETS = ["q_proj", "v_proj"]
FEATURES = {  # ocift flags per variant feature
    "unmasked": ["--document_masking", "false"],
    "masked": ["--document_masking", "true"],
    "flex": ["--attn_implementation", "flex_attention"],
    "chunked": ["--loss_chunk_size", "1024"],
    "compile": ["--compile"],
}
ALL_VARIANTS = [
    "unmasked",
    "masked",
    "masked+flex",
    "masked+chunked",
    "masked+flex+chunked",
    "unmasked+compile",
    "masked+flex+compile",
    "masked+flex+chunked+compile",
]


def variant_flags(variant: str) -> list[str]:
    """The flags a '+'-joined variant adds to our loop's command line."""
    unknown = [f for f in variant.split("+") if f not in FEATURES]
    if unknown:
        raise SystemExit(f"unknown variant feature(s) {unknown} in {variant!r}; features: {', '.join(FEATURES)}")
    return [flag for feature in variant.split("+") for flag in FEATURES[feature]]


def make_model(preset: str, directory: Path, gpu: bool) -> Path:
    """The tiny preset uses the tiny tokenizer; the others a random Llama of that shape. Built in a
    child process, so that none of its memory stays with the caller; kept when it exists already."""
    if not (directory / "config.json").is_file():
        subprocess.run(
            [sys.executable, __file__, "--make-model-child", "--preset", preset, "--model", str(directory)]
            + (["--gpu-model"] if gpu else []),
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    return directory


def _build_model(preset: str, directory: Path, gpu: bool) -> None:
    """Child process: the random model, made on the device in its storage dtype, saved to `directory`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from launcher.train.tiny import make_tokenizer

    hidden, layers, heads, kv, inter, vocab = PRESETS[preset]
    tokenizer = make_tokenizer(384)
    config = LlamaConfig(
        vocab_size=max(vocab, len(tokenizer)),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.1 if preset == "cpu-tiny" else 0.02,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if gpu else torch.float32
    torch.set_default_dtype(dtype)  # built in bf16 directly: never a 7B fp32 copy on the GPU
    with torch.device("cuda" if gpu else "cpu"):
        model = LlamaForCausalLM(config)
    model.config.dtype = dtype
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def model_shape(preset: str) -> tuple[int, int, int, int]:
    """(parameters, input-embedding parameters, hidden size, layers), counted on the meta device."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, kv, inter, vocab = PRESETS[preset]
    config = LlamaConfig(
        vocab_size=max(vocab, 384),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return sum(p.numel() for p in model.parameters()), model.get_input_embeddings().weight.numel(), hidden, layers


def run_ours(args, model: Path, data: Path, out: Path, gpu: bool, variant: str) -> dict:
    flags = [
        "--model_name",
        str(model),
        "--data_path",
        str(data),
        "--output_dir",
        str(out),
        "--context_length",
        str(args.seq),
        "--batch_size_training",
        str(args.batch),
        "--max_train_step",
        str(args.steps),
        "--num_epochs",
        "100",
        "--run_validation",
        "false",
        "--save_model",
        "false",
        "--fsdp_activation_checkpointing",
        "false",
        "--lr",
        "1e-4",
        "--mixed_precision",
        "false",
        "--lora_config.target_modules",
        ",".join(LORA_TARGETS),
    ]
    if args.method == "lora":
        flags.append("--use_peft")
    if gpu:
        flags.append("--pure_bf16")  # as Trainer below: bf16 weights, no autocast
    if args.compile:
        flags.append("--compile")
    flags += variant_flags(variant)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "launcher.train", *flags], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(out)  # its final checkpoint: the next run must find the disk as this one did
    steady = [r for r in records if r.get("step", 0) > WARMUP_STEPS and "loss" in r] or records
    losses = [r["loss"] for r in records if "loss" in r]
    return {
        "tokens_per_s": sum(r["tokens_per_s"] for r in steady) / len(steady),
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in records),
        "first_losses": window_means(losses),
    }


def window_means(losses: list[float]) -> list[float]:
    """Mean loss of each LOG_EVERY-step window: what Trainer logs, so the two sides compare."""
    return [
        round(sum(losses[i : i + LOG_EVERY]) / len(losses[i : i + LOG_EVERY]), 4)
        for i in range(0, len(losses), LOG_EVERY)
    ]


def run_trainer(args) -> None:
    """Child process: the same model and tokens through transformers.Trainer; prints one JSON line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from launcher.train.data import Formatter, find_splits, load_split, make_dataset, tokenize
    from launcher.train.metrics import peak_memory_bytes

    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    train_file, _ = find_splits(args.data)
    examples = tokenize(load_split(train_file, Formatter("samsum_dataset")), tokenizer)
    ds = make_dataset(examples, train_file, strategy="packing", context_length=args.seq, pad_id=tokenizer.pad_token_id)
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in ds.examples if len(e.input_ids) == args.seq]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16 if gpu else torch.float32)
    model.config.use_cache = False
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        from launcher.train.model import cast_parameters

        model = get_peft_model(
            model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        )
        if gpu:
            cast_parameters(model, torch.bfloat16)  # as ours with --pure_bf16: bf16 adapters, fp32 rotary buffers

    class Clock(TrainerCallback):
        """Synchronizes twice: at the start and at the end of the timed steps, never in between."""

        def __init__(self):
            self.start = None
            self.end = None

        def on_step_end(self, a, state, control, **kw):
            if state.global_step in (WARMUP_STEPS, args.steps):
                if gpu:
                    torch.cuda.synchronize()
                if state.global_step == WARMUP_STEPS:
                    self.start = time.perf_counter()
                else:
                    self.end = time.perf_counter()

    clock = Clock()
    targs = TrainingArguments(
        output_dir=args.out,
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=1e-4,
        logging_steps=LOG_EVERY,
        report_to=[],
        save_strategy="no",
        bf16=False,
        optim="adamw_torch_fused" if gpu else "adamw_torch",
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=42,
        lr_scheduler_type="constant",
        torch_compile=args.compile,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=rows, callbacks=[clock])
    trainer.train()
    steps = args.steps - WARMUP_STEPS
    tokens = steps * args.batch * args.seq
    losses = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    print(
        json.dumps(
            {
                "tokens_per_s": tokens / (clock.end - clock.start),
                "peak_memory_bytes": peak_memory_bytes(device),
                "first_losses": losses,
            }
        )
    )


def machine() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (torch {torch.__version__})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="cpu-tiny")
    parser.add_argument("--method", choices=["lora", "full"], default="lora")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side; the best is reported")
    parser.add_argument(
        "--variants",
        default="unmasked,masked",
        help=f"comma-separated variants of our loop, or 'all' ({','.join(ALL_VARIANTS)})",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--model-dir", type=Path, help="reuse (or create) the model here instead of a temp dir")
    parser.add_argument("--hf-trainer-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-model-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gpu-model", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hf_trainer_child:
        run_trainer(args)
        return 0
    if args.make_model_child:
        _build_model(args.preset, args.model, args.gpu_model)
        return 0
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must exceed the {WARMUP_STEPS} warm-up steps")
    variants = ALL_VARIANTS if args.variants == "all" else [v for v in args.variants.split(",") if v]
    for variant in variants:
        variant_flags(variant)

    import torch

    from launcher.train.metrics import FLUSH_EVERY, flops_per_token, measure_matmul_peak
    from launcher.train.tiny import make_samsum_like

    assert FLUSH_EVERY == LOG_EVERY, "Trainer must log (and so sync) as often as our loop reads its losses"

    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_model(args.preset, args.model_dir or tmp / "model", gpu)
        samples = args.steps * args.batch * args.seq // 60 + 200  # ~60+ tokens per dialogue, with margin
        data = make_samsum_like(tmp / "data", n_train=samples, n_val=0)
        ours_runs: dict[str, list[dict]] = {v: [] for v in variants}
        trainer_runs = []
        for repeat in range(args.repeats):  # alternate, so a busy moment on a shared machine hits all
            for variant in variants:
                ours_runs[variant].append(run_ours(args, model, data, tmp / f"ours-{variant}-{repeat}", gpu, variant))
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--hf-trainer-child",
                    "--model",
                    str(model),
                    "--data",
                    str(data),
                    "--out",
                    str(tmp / "trainer"),
                    "--method",
                    args.method,
                    "--seq",
                    str(args.seq),
                    "--batch",
                    str(args.batch),
                    "--steps",
                    str(args.steps),
                ]
                + (["--compile"] if args.compile else []),
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            trainer_runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        ours = {v: max(runs, key=lambda r: r["tokens_per_s"]) for v, runs in ours_runs.items()}
        trainer = max(trainer_runs, key=lambda r: r["tokens_per_s"])
    params, embedding, hidden, layers = model_shape(args.preset)
    fpt = flops_per_token(params, embedding, args.method == "full", layers, hidden, args.seq)
    peak = measure_matmul_peak(device, torch.bfloat16 if gpu else torch.float32)
    for name, result in [*((f"ocift {v}", r) for v, r in ours.items()), ("HF Trainer", trainer)]:
        tflops = result["tokens_per_s"] * fpt / 1e12
        result.update(tflops=tflops, pct_peak=100 * tflops * 1e12 / peak)
        print(
            f"{name:34s} {result['tokens_per_s']:12,.0f} tokens/s  {tflops:8.3g} TFLOP/s  "
            f"{result['pct_peak']:5.1f}% of {peak / 1e12:.3g} TFLOP/s measured  "
            f"peak mem {result['peak_memory_bytes'] / 2**30:.2f} GiB  first losses {result['first_losses']}"
        )
    where = machine()
    for variant, result in ours.items():
        append_result(args, where, peak, [result, trainer], variant)
    return 0


def append_result(args, where: str, peak: float, rows: list[dict], variant: str) -> None:
    header = (
        "| date (UTC) | machine | preset | method | seq x batch | ocift tokens/s | ocift TFLOP/s (% peak) | "
        "Trainer tokens/s | Trainer TFLOP/s (% peak) | peak mem ocift / Trainer (GiB) | "
        "first losses ocift / Trainer |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    ours, trainer = rows
    line = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {where}; matmul peak {peak / 1e12:.3g} TFLOP/s | "
        f"{args.preset}{' +compile' if args.compile else ''} [{variant}] | {args.method} | {args.seq} x {args.batch} | "
        f"{ours['tokens_per_s']:,.0f} | {ours['tflops']:.3g} ({ours['pct_peak']:.1f}%) | "
        f"{trainer['tokens_per_s']:,.0f} | {trainer['tflops']:.3g} ({trainer['pct_peak']:.1f}%) | "
        f"{ours['peak_memory_bytes'] / 2**30:.2f} / {trainer['peak_memory_bytes'] / 2**30:.2f} | "
        f"{ours['first_losses'][:3]} / {trainer['first_losses'][:3]} |\n"
    )
    if not args.results.exists():
        args.results.write_text("# Benchmarks\n\nAppended by the bench scripts; one row per run.\n")
    lines = args.results.read_text().splitlines(keepends=True)
    title = "## Training loop vs Hugging Face Trainer (`bench/train.py`)\n"
    if title not in lines:
        lines += ["\n", title, "\n", *header.splitlines(keepends=True)]
    end = lines.index(title) + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith("|")):
        end += 1
    while not lines[end - 1].strip():  # after the table's last row, not after blank lines
        end -= 1
    lines.insert(end, line)
    args.results.write_text("".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
