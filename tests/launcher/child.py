"""A stand-in for `launcher.train` under torchrun: real torch.distributed, no training.

`CHILD_MODE` chooses the behaviour a test needs:
- `allreduce` (default): all_reduce of ranks over gloo, then write `rank-<global rank>.json`
  (rank, world size, node rank, the sum) into the `--output_dir` it was given;
- `checkpoint`: record the checkpoints present at start in `seen-<rank>.json`, then (rank 0)
  commit the next `checkpoints/step-XXXXXXXX/` (manifest last) and write `metrics.json`;
- `exit3`: exit with status 3;
- `trap`: on SIGTERM sleep `CHILD_TRAP_SLEEP` seconds (less than the grace), commit
  `checkpoints/step-00000099/` (rank 0), write `terminated-<rank>`, exit 1;
- `ignore`: ignore SIGTERM and sleep forever (must be killed after the grace).
Modes other than `allreduce` first write `started-<rank>` with their pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def output_dir(argv: list[str]) -> Path:
    return Path(argv[argv.index("--output_dir") + 1])


def commit_checkpoint(out: Path, step: int) -> None:
    from contract.manifest import write_manifest

    directory = out / "checkpoints" / f"step-{step:08d}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.bin").write_bytes(os.urandom(1024))
    write_manifest(directory, {"step": step})


def main(argv: list[str]) -> int:
    out = output_dir(argv)
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ["RANK"])
    mode = os.environ.get("CHILD_MODE", "allreduce")
    (out / f"args-{rank}.json").write_text(json.dumps(argv))
    if mode == "allreduce":
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")
        total = torch.tensor([dist.get_rank()])
        dist.all_reduce(total)
        record = {
            "rank": dist.get_rank(),
            "world_size": dist.get_world_size(),
            "node_rank": int(os.environ["GROUP_RANK"]),
            "sum": int(total.item()),
        }
        (out / f"rank-{rank}.json").write_text(json.dumps(record))
        dist.destroy_process_group()
        return 0
    if mode == "checkpoint":
        present = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
        (out / f"seen-{rank}.json").write_text(json.dumps(present))
        if rank == 0:
            commit_checkpoint(out, len(present) + 1)
            (out / "metrics.json").write_text(json.dumps({"loss": 1.0}))
        return 0
    if mode == "exit3":
        return 3
    if mode == "trap":

        def on_term(signum: int, frame: object) -> None:
            time.sleep(float(os.environ.get("CHILD_TRAP_SLEEP", "1")))
            if rank == 0:
                commit_checkpoint(out, 99)
            (out / f"terminated-{rank}").write_text("checkpointed")
            sys.exit(1)

        signal.signal(signal.SIGTERM, on_term)
    elif mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (out / f"started-{rank}").write_text(str(os.getpid()))
    while True:
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
