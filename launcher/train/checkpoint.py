"""Sharded checkpoints with DCP, committed by a manifest, and resume from them.

Layout: `<output_dir>/checkpoints/step-XXXXXXXX/` holds DCP's files (every rank writes its own
shards; `.metadata` describes the global tensors, so a different number of processes can load
them) and `trainer_state.json` (step, epoch, data position). Writing goes to
`.tmp-step-XXXXXXXX`; when every rank has finished, rank 0 renames it to its final name and
then writes `manifest.json` last: a committed directory always has its final name (the storage
sync uploads any committed directory it sees). A directory without a valid manifest is never
resumed from, and stale temporary directories are removed at start-up.

What the training state needs, and where it lives:
- model: the trainable parameters (LoRA: only the adapter, the frozen base comes from
  model_name); optimizer: AdamW's moments and step counts, both as sharded tensors;
- scheduler: the learning rate is a function of (step, epoch), so those two restore it;
- data position: epoch and samples consumed by the job in that epoch;
- RNG: reseeded at every step from (seed, step, rank), so the step restores it as well and
  dropout masks after resume are those the uninterrupted run would have drawn.

Real sizes: a 7B full fine-tune checkpoint (fp32 weights and AdamW moments) is ~81 GB. Each save
logs its size, time and write rate, and warns when that time would not fit `term_grace_seconds`
(the checkpoint a SIGTERM asks for must fit the grace period the launcher gives), naming the grace
that would. `--checkpoint_keep N` removes all but the newest N local checkpoints (remote copies stay:
the storage sync never deletes). `--checkpoint_async` writes the periodic checkpoints with DCP's
`async_save`: the state is staged to host memory, training goes on, and the checkpoint is committed
when its files are written (at the next save or at the end); the final and SIGTERM checkpoints are
always written synchronously.

On several nodes each node has its own output_dir. With HSDP, replica 0 (node 0's shard group)
holds a complete copy and writes the checkpoint alone, so node 0's directory is complete.
Sharding a model across nodes therefore needs an output_dir they share (checked at start-up).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn

# DCP wraps a rank's failure (a full disk) in CheckpointException, a BaseException
# (torch/distributed/checkpoint/api.py), which `except Exception` lets through.
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from contract.manifest import MANIFEST, ManifestError, is_committed, verify, write_manifest
from launcher import log

STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"^step-(\d{8})$")


class CheckpointError(RuntimeError):
    """A checkpoint that could not be written or read; the message says what is intact."""


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch in progress (== num_epochs when training is complete)
    samples_in_epoch: int = 0  # samples of this epoch's order consumed by the whole job


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def committed(root: Path) -> list[Path]:
    """Committed checkpoints under `root`, oldest first; partial ones are skipped."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and is_committed(p)]
    return sorted(found, key=lambda p: p.name)


def latest(root: Path) -> Path | None:
    found = committed(root)
    return found[-1] if found else None


def clean_stale(root: Path) -> list[Path]:
    """Remove temporary directories a killed run left behind (call before anyone writes)."""
    removed = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith(".tmp-step-"):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _options(method: str, loading: bool = False) -> StateDictOptions:
    # LoRA: the frozen base is not training state; it is reloaded from model_name. Loading must
    # then accept the base's keys as absent; dcp.load still fails on any key the checkpoint lacks.
    lora = method == "lora"
    return StateDictOptions(ignore_frozen_params=lora, strict=not (lora and loading))


class Checkpointer:
    """Saves and loads the training state; every rank calls every method."""

    def __init__(
        self,
        root: Path,
        *,
        method: str,
        rank: int,
        writer_group,
        writes: bool,
        control_group,
        meta: dict,
        keep: int = 0,
        background: bool = False,
        grace_s: float = 0.0,
    ):
        self.root = root
        self.method = method
        self.rank = rank
        self.writer_group = writer_group  # process group that writes shards (None = all)
        self.writes = writes  # whether this rank is in it
        self.control = control_group
        self.meta = meta
        self.keep = keep  # newest committed checkpoints kept locally; 0 = all
        self.grace_s = grace_s
        self.grace_warned = False  # said once a run: every checkpoint of a run writes about as fast
        self.last_saved_step: int | None = None
        self.pending: _Pending | None = None
        # Async writes plan and finish with collectives from a background thread: on a group of
        # their own (gloo, as async_save needs a CPU backend), never one training uses meanwhile.
        # With HSDP on per-node disks only replica 0 writes, and it has no such group: synchronous.
        self.background_group = dist.new_group(backend="gloo") if background and writer_group is None else None
        if background and writer_group is not None:
            log.event(
                "checkpoint_async_off",
                level="warning",
                note="per-node output_dir with HSDP: replica 0 writes alone, synchronously",
            )

    def save(self, model: nn.Module, optimizer, state: TrainState, background: bool = False) -> Path:
        """Write the state at `state.step`; with `background` (and --checkpoint_async) return once it is staged."""
        final = step_dir(self.root, state.step)
        if self.last_saved_step != state.step or not background:
            self.finish()  # the previous checkpoint is committed before another starts or training ends
        if self.last_saved_step == state.step:
            return final
        started = time.monotonic()
        tmp = self.root / f".tmp-step-{state.step:08d}"
        error = ""
        if self.rank == 0:
            try:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            except OSError as exc:
                error = str(exc)
        self._agree(error)
        # Every rank takes part in gathering the state dict (HSDP replicas too), only writers write.
        model_sd, optim_sd = get_state_dict(model, optimizer, options=_options(self.method))
        future = None
        try:
            if self.rank == 0:
                (tmp / STATE_FILE).write_text(json.dumps({**asdict(state), **self.meta}, indent=1))
            if self.writes and background and self.background_group is not None:
                future = dcp.async_save(
                    {"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp, process_group=self.background_group
                )
            elif self.writes:
                dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp, process_group=self.writer_group)
        except (Exception, CheckpointException) as exc:  # noqa: BLE001 - any failure must reach every rank
            error = f"{type(exc).__name__}: {exc}"
        self.last_saved_step = state.step
        self.pending = _Pending(state.step, tmp, final, future, started, error)
        if future is None:
            self.finish()
        else:
            log.event("checkpoint_staged", step=state.step, seconds=f"{time.monotonic() - started:.1f}")
        return final

    def finish(self) -> None:
        """Commit the pending checkpoint once every rank's files are written (every rank calls)."""
        if self.pending is None:
            return
        pending, self.pending = self.pending, None
        tmp, final, error = pending.tmp, pending.final, pending.error
        if pending.future is not None:
            try:
                pending.future.result()
            except (Exception, CheckpointException) as exc:  # noqa: BLE001 - any failure must reach every rank
                error = f"{type(exc).__name__}: {exc}"
        error = self._agree(error)
        if not error and self.rank == 0:
            try:
                if final.exists():  # an uncommitted leftover, or a step taken again after an earlier resume
                    shutil.rmtree(final)
                tmp.rename(final)
                write_manifest(final, extra={"step": pending.step})
            except OSError as exc:
                error = str(exc)
        error = self._agree(error)
        if error:
            if self.rank == 0:
                shutil.rmtree(tmp, ignore_errors=True)
                if final.exists() and not is_committed(final):
                    shutil.rmtree(final, ignore_errors=True)
            previous = latest(self.root)
            self.last_saved_step = None
            raise CheckpointError(
                f"writing checkpoint {final.name} in {self.root} failed ({error}); "
                + (f"the previous checkpoint {previous.name} is intact" if previous else "no earlier checkpoint exists")
            )
        if self.rank == 0:
            self._report(pending, final)
            self._prune()

    def _report(self, pending: _Pending, final: Path) -> None:
        """The write rate, and whether a checkpoint this size fits the SIGTERM grace period."""
        seconds = max(time.monotonic() - pending.started, 1e-6)
        size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
        log.event(
            "checkpoint_saved",
            step=pending.step,
            path=str(final),
            bytes=size,
            seconds=f"{seconds:.1f}",
            mb_per_s=f"{size / seconds / 1e6:.1f}",
        )
        needed = grace_needed(seconds)
        if self.grace_s and needed > self.grace_s and not self.grace_warned:
            self.grace_warned = True
            log.event(
                "checkpoint_exceeds_grace",
                level="warning",
                seconds=f"{seconds:.1f}",
                grace_s=self.grace_s,
                note=f"a checkpoint at SIGTERM would not fit: set term_grace_seconds and the launcher's "
                f"term_grace_s to at least {needed:.0f}",
            )

    def _prune(self) -> None:
        """Rank 0: all but the newest `keep` committed checkpoints go, each uncommitted first."""
        if not self.keep:
            return
        for old in committed(self.root)[: -self.keep]:
            (old / MANIFEST).unlink(missing_ok=True)  # not a checkpoint from here on, even if removal stops
            shutil.rmtree(old, ignore_errors=True)
            log.event("checkpoint_pruned", path=str(old), keep=self.keep)

    def load(self, path: Path, model: nn.Module, optimizer) -> TrainState:
        self.finish()
        try:
            verify(path, checksums=False)
        except ManifestError as exc:
            raise CheckpointError(f"cannot resume: {exc}") from None
        saved = json.loads((path / STATE_FILE).read_text())
        if saved.get("method") != self.method:
            raise CheckpointError(
                f"cannot resume from {path}: it holds a {saved.get('method')} fine-tune, this run is {self.method} "
                "(use_peft must match)"
            )
        model_sd, optim_sd = get_state_dict(model, optimizer, options=_options(self.method))
        state_dict = {"model": model_sd, "optim": optim_sd}
        dcp.load(state_dict, checkpoint_id=path)
        set_state_dict(
            model,
            optimizer,
            model_state_dict=state_dict["model"],
            optim_state_dict=state_dict["optim"],
            options=_options(self.method, loading=True),
        )
        self.last_saved_step = saved["step"]
        fields = TrainState.__dataclass_fields__
        state = TrainState(**{k: v for k, v in saved.items() if k in fields})
        log.event(
            "checkpoint_loaded",
            step=state.step,
            epoch=state.epoch,
            path=str(path),
            saved_world_size=saved.get("world_size"),
        )
        return state

    def _agree(self, error: str) -> str:
        """All ranks learn whether any rank failed (a CPU collective on the control group)."""
        flags: list = [None] * dist.get_world_size()
        dist.all_gather_object(flags, error, group=self.control)
        return next((f"rank {i}: {e}" for i, e in enumerate(flags) if e), "")


def grace_needed(checkpoint_seconds: float) -> float:
    """The grace period for a checkpoint that took `checkpoint_seconds`: 1.5x plus 30 s to finish the step."""
    return 1.5 * checkpoint_seconds + 30


@dataclass
class _Pending:
    """A checkpoint written (or being written) into `tmp`, to commit as `final`."""

    step: int
    tmp: Path
    final: Path
    future: Future | None
    started: float
    error: str


def resolve_resume(resume: str, root: Path, control_group=None) -> Path | None:
    """'' -> fresh; 'auto' -> the latest committed checkpoint (or fresh); else that directory.

    With `control_group` (every rank calls), 'auto' is the latest step committed on *every*
    rank's disk: nodes have their own output_dir, and one may hold a newer checkpoint the others
    never received (committed on node 0, killed before its upload). Loading different steps
    would desynchronize the ranks; the newer one is written again when training gets there.
    """
    if not resume:
        return None
    if resume == "auto":
        if control_group is None or dist.get_world_size() == 1:
            return latest(root)
        mine = [p.name for p in committed(root)]
        everyone: list = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, mine, group=control_group)
        common = set(everyone[0]).intersection(*everyone[1:])
        chosen = root / max(common) if common else None
        if mine and (chosen is None or chosen.name != mine[-1]):
            log.event(
                "resume_common",
                level="warning",
                latest_here=mine[-1],
                chosen=chosen.name if chosen else "none",
                note="not every node has the latest checkpoint: resuming from the latest they all have",
            )
        return chosen
    path = Path(resume)
    if not is_committed(path):
        raise CheckpointError(f"resume: {path} is not a committed checkpoint (no valid manifest.json)")
    return path


def output_dir_is_shared(
    output_dir: Path, rank: int, local_rank: int, barrier: Callable[[], None], control_group
) -> bool:
    """Whether every node sees the same output_dir: rank 0 writes a marker, others look for it."""
    marker = output_dir / ".ocift-shared-check"
    if rank == 0:
        marker.write_text("x")
    barrier()
    seen = marker.is_file() if local_rank == 0 else True
    flags: list = [None] * dist.get_world_size()
    dist.all_gather_object(flags, seen, group=control_group)
    barrier()
    if rank == 0:
        marker.unlink(missing_ok=True)
    return all(flags)
