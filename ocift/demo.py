"""`make demo`: the main job on its embedded default, offline, on this machine.

1. Synthesize every shipped environment (`stacks/*.yaml`, state kept locally), each stack
   checked against the provider schema and the policy rules, and print what was built.
2. Build a tiny Llama (random weights, a tokenizer trained in code) and samsum-like data.
3. Run Oracle's documented llama-recipes LoRA command line, unchanged but for the paths,
   as 2 simulated OCI nodes (`ocift local`): the same launcher, cluster discovery, torchrun,
   checkpoint sync and outputs as in a real job run, on CPU with gloo.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# The job Oracle documents, with its model and output swapped for the local ones.
ORACLE_FLAGS = ["--enable_fsdp", "--use_peft", "--peft_method", "lora", "--pure_bf16", "--batch_size_training", "1"]
# What keeps the demo to a minute on two cores.
SMALL_RUN = [
    "--context_length",
    "64",
    "--num_epochs",
    "1",
    "--max_train_step",
    "24",
    "--checkpoint_interval_steps",
    "8",
    "--eval_every_steps",
    "12",
    "--lr",
    "3e-3",
]


def synthesize(out: Path) -> bool:
    from stacks.app import synth_all

    summary = synth_all(out / "cdktf.out", local_state=True)
    print(summary)
    return summary.ok


def fine_tune(out: Path, nnodes: int, run: str) -> int:
    from launcher.train.tiny import make_samsum_like, make_tiny_model
    from ocift import local

    model = make_tiny_model((out / "tiny" / "model").resolve())
    data = make_samsum_like((out / "tiny" / "data").resolve())
    outputs = (out / "outputs").resolve()
    flags = [
        *ORACLE_FLAGS,
        "--model_name",
        str(model),
        "--data_path",
        str(data),
        "--output_dir",
        outputs.as_uri(),
        *SMALL_RUN,
    ]
    print(
        f"\nocift demo: fine-tuning on {nnodes} simulated nodes: ocift local --nnodes {nnodes} -- {' '.join(flags)}\n",
        flush=True,
    )
    return local.main(
        [
            "--nnodes",
            str(nnodes),
            "--nproc-per-node",
            "1",
            "--work-dir",
            str(out / "nodes"),
            "--run-name",
            run,
            "--",
            *flags,
        ]
    )


def report(out: Path, run: str) -> None:
    outputs = out / "outputs" / run  # every run its own prefix (docs/launcher.md)
    summary = outputs / "summary.json"
    print(f"\nocift demo: outputs synced to {outputs}")
    checkpoints = sorted(p.name for p in (outputs / "checkpoints").glob("step-*"))
    print(f"  checkpoints/: {', '.join(checkpoints) or 'none'}")
    for path in sorted(p for p in outputs.iterdir() if p.is_file()):
        print(f"  {path.name}")
    if summary.is_file():
        print(json.dumps(json.loads(summary.read_text()), indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocift demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="where everything goes (default demo-out/)")
    parser.add_argument("--nnodes", type=int, default=2)
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_synth and not synthesize(args.out):
        print("ocift demo: synthesis failed (see above)", file=sys.stderr)
        return 1
    if args.skip_train:
        return 0
    run = time.strftime("demo-%Y%m%d-%H%M%S")
    status = fine_tune(args.out, args.nnodes, run)
    if status:
        print(f"ocift demo: the fine-tune failed with status {status}", file=sys.stderr)
        return status
    report(args.out, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
