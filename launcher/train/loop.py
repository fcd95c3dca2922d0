"""The training loop: accumulation windows, AdamW, learning-rate schedule, evaluation, stops.

A step is one optimizer step over `gradient_accumulation_steps` micro-batches per process.
The loop stops for three reasons: the epochs are done, `--max_train_step` was reached, or a
SIGTERM arrived (the launcher's cancel). Ranks agree on a stop through a small CPU collective
after every step, so all of them leave after the same step and write the same checkpoint.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.fsdp import FSDPModule

from contract.recipe import TrainConfig
from launcher import log
from launcher.train.attention import document_mask
from launcher.train.checkpoint import Checkpointer, TrainState
from launcher.train.config import TrainingPlan
from launcher.train.data import IGNORE, Dataset
from launcher.train.loss import AUTO, chunk_size, linear_cross_entropy
from launcher.train.metrics import Metrics
from launcher.train.model import decoder
from launcher.train.optim import AnyPrecisionAdamW


def build_optimizer(model: nn.Module, cfg: TrainingPlan, device: torch.device) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (the fused kernel on CUDA); with `--pure_bf16` and
    `--fsdp_config.optimizer anyprecision`, the Kahan-compensated AdamW (optim.py), as in
    llama-recipes, where anyprecision applies to pure_bf16 only."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.pure_bf16 and cfg.fsdp.optimizer == "anyprecision":
        return AnyPrecisionAdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    if cfg.fsdp.optimizer == "anyprecision":
        log.event(
            "optimizer_adamw",
            note="optimizer anyprecision applies to pure_bf16 only (as in llama-recipes); "
            "fp32 weights train with AdamW",
        )
    elif cfg.pure_bf16 and cfg.method == "full":
        log.event(
            "pure_bf16_adamw",
            level="warning",
            note="AdamW on bf16 weights leaves small updates unapplied; add --fsdp_config.optimizer anyprecision "
            "(Kahan-compensated) or drop --pure_bf16 for fp32 master weights",
        )
    return torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, fused=device.type == "cuda")


def lr_factor(cfg: TrainingPlan, step: int, epoch: int, total_steps: int) -> float:
    """Multiplier of `--lr` for optimizer step `step` (0-based) in `epoch`.

    `step` (llama-recipes' StepLR): gamma ** epoch; `cosine`: from 1 to 0 over all epochs
    (`--max_train_step` stops early, it does not shorten the schedule);
    `constant`: 1. A linear warmup over `--warmup_steps` comes first in all three.
    """
    t = cfg.train
    if t.warmup_steps and step < t.warmup_steps:
        return (step + 1) / t.warmup_steps
    if t.lr_scheduler == "step":
        return t.gamma**epoch
    if t.lr_scheduler == "cosine":
        span = max(1, total_steps - t.warmup_steps)
        progress = min(1.0, (step - t.warmup_steps) / span)
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def model_inputs(model: nn.Module, batch: dict, device: torch.device, document_masking: bool) -> dict[str, Any]:
    """The forward's arguments for `batch`.

    With document masking: positions restarting per document and the document mask, built here
    (attention.py). Without it, llama-recipes' packing: causal over the whole row plus the
    padding mask, from which transformers builds the mask (reading one value from the device).
    """
    ids = batch["input_ids"].to(device, non_blocking=True)
    if document_masking:
        documents = batch["document_ids"].to(device, non_blocking=True)
        return {
            "input_ids": ids,
            "position_ids": batch["position_ids"].to(device, non_blocking=True),
            "attention_mask": document_mask(documents, model.config._attn_implementation),
        }
    return {"input_ids": ids, "attention_mask": batch["attention_mask"].to(device, non_blocking=True)}


def batch_loss(
    model: nn.Module, batch: dict, device: torch.device, document_masking: bool = True, loss_chunk_size: int = AUTO
) -> tuple[torch.Tensor, float]:
    """(sum of next-token losses over the labelled positions, as fp32; their count as a divisor).

    Computed here rather than by the model so that a micro-batch without labelled tokens gives 0
    instead of NaN, and the count comes from the host. The defaults are the recipe's.
    With `loss_chunk_size`, the model's own head runs on the last position only and the loss
    over all positions comes from the final hidden states, `loss_chunk_size` tokens at a time
    (loss.py), so the whole row's logits never exist.
    """
    loss_chunk_size = chunk_size(model, loss_chunk_size)
    inputs = model_inputs(model, batch, device, document_masking)
    labels = batch["labels"]
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE)], dim=1).to(device, non_blocking=True)
    if loss_chunk_size:
        captured: list[torch.Tensor] = []

        def keep_hidden(module: nn.Module, args: Any, output: Any) -> None:
            captured.append(output.last_hidden_state)

        hook = decoder(model).register_forward_hook(keep_hidden)
        try:
            model(**inputs, logits_to_keep=1)
        finally:
            hook.remove()
        total = linear_cross_entropy(captured[0], model.get_output_embeddings().weight, targets, loss_chunk_size)
    else:
        logits = model(**inputs).logits.float()
        total = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
        )
    return total, float(max(batch["label_tokens"], 1))


def accumulate(model: nn.Module, window: list[dict], device: torch.device, t: TrainConfig) -> torch.Tensor:
    """Forward and backward over one accumulation window; returns the step's loss, on the device.

    Each micro-batch contributes its token-mean loss over the number of micro-batches. Every
    divisor is a host number, so nothing here waits for the device.

    With HSDP, the all-reduce across replicas (across nodes) runs after the window's last backward
    only: earlier micro-batches reduce-scatter within the shard group and FSDP2 sums those partial
    results until the all-reduce (`FSDPModule.set_requires_all_reduce`; the accumulation is
    `partial_reduce_output` in torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py, v2.13).
    Gradient memory stays sharded, unlike `set_requires_gradient_sync(False)`.
    """
    step_loss = torch.zeros((), device=device)
    for i, batch in enumerate(window):
        if isinstance(model, FSDPModule):
            model.set_requires_all_reduce(i == len(window) - 1)
        total, count = batch_loss(model, batch, device, t.document_masking, t.loss_chunk_size)
        loss = total / (count * len(window))
        loss.backward()
        step_loss += loss.detach()
    return step_loss


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, cfg: TrainingPlan, device: torch.device) -> float | None:
    """Mean token loss over the validation split (all ranks' tokens), or None when it is too small."""
    ranks = cfg.ranks
    batches = dataset.eval_batches(
        rank=ranks.rank, world=ranks.world_size, batch_size=cfg.train.val_batch_size, limit=cfg.train.max_eval_step
    )
    if not batches:
        return None
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    for batch in batches:
        total, _ = batch_loss(model, batch, device, cfg.train.document_masking, cfg.train.loss_chunk_size)
        sums[0] += total.double()
        sums[1] += batch["label_tokens"]
    model.train()
    dist.all_reduce(sums)
    loss_sum, count = sums.tolist()
    return loss_sum / max(count, 1.0)


class StopSignal:
    """Remembers a SIGTERM; `agreed()` tells every rank whether any rank got one."""

    def __init__(self, control_group, grace_seconds: float) -> None:
        self.requested = False
        self.received_at: float | None = None
        self.grace_seconds = grace_seconds
        self.control = control_group
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.received_at is None:
            self.received_at = time.monotonic()
            log.event("sigterm", grace_s=self.grace_seconds, note="finishing the current step, then checkpointing")
        self.requested = True

    def report(self) -> None:
        """After the checkpoint: say whether it fit the grace period the launcher gives."""
        if self.received_at is not None:
            used = time.monotonic() - self.received_at
            log.event(
                "sigterm_checkpointed",
                seconds=f"{used:.1f}",
                grace_s=self.grace_seconds,
                level="info" if used <= self.grace_seconds else "warning",
            )

    def agreed(self) -> bool:
        flag = torch.tensor([int(self.requested)], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.control)
        self.requested = bool(flag.item())
        return self.requested


@dataclass
class Outcome:
    reason: str  # "completed", "max_train_step" or "terminated"
    state: TrainState


def train(
    cfg: TrainingPlan,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_ds: Dataset,
    val_ds: Dataset | None,
    state: TrainState,
    checkpointer: Checkpointer,
    metrics: Metrics,
    stop: StopSignal,
    device: torch.device,
    total_steps: int,
) -> Outcome:
    t, ranks = cfg.train, cfg.ranks
    accumulation = t.gradient_accumulation_steps
    trainable = [p for p in model.parameters() if p.requires_grad]

    def run_eval() -> None:
        if val_ds is None or not t.run_validation:
            return
        metrics.flush()
        loss = evaluate(model, val_ds, cfg, device)
        if loss is not None:
            metrics.evaluation(state.step, state.epoch, loss)
        metrics.start_window()

    def checkpoint(background: bool = False) -> None:
        metrics.flush()
        checkpointer.save(model, optimizer, state, background=background)
        metrics.start_window()

    if t.max_train_step and state.step >= t.max_train_step:  # resumed from a checkpoint already that far
        return Outcome("max_train_step", state)
    if stop.agreed():  # SIGTERM while loading: no step taken, nothing new to save
        return Outcome("terminated", state)
    metrics.start_window()
    while state.epoch < t.num_epochs:
        reason = ""
        windows = train_ds.windows(
            seed=t.seed,
            epoch=state.epoch,
            start=state.samples_in_epoch,
            rank=ranks.rank,
            world=ranks.world_size,
            batch_size=t.batch_size_training,
            accumulation=accumulation,
        )
        for window in windows:
            # Dropout and any other randomness: a function of (seed, step, rank), so resume reproduces it.
            torch.manual_seed(t.seed * 1_000_003 + state.step * 1_009 + ranks.rank)
            lr = t.lr * lr_factor(cfg, state.step, state.epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = accumulate(model, window, device, t)
            if t.gradient_clipping:
                torch.nn.utils.clip_grad_norm_(trainable, t.gradient_clipping_threshold, foreach=True)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.samples_in_epoch += cfg.global_batch_samples
            metrics.step(state.step, state.epoch, step_loss, lr, sum(b["tokens"] for b in window))

            if t.max_train_step and state.step >= t.max_train_step:
                reason = "max_train_step"
            if stop.agreed():
                reason = "terminated"
            if t.eval_every_steps and state.step % t.eval_every_steps == 0 and reason != "terminated":
                run_eval()  # not while the grace period runs
            if reason or (t.checkpoint_interval_steps and state.step % t.checkpoint_interval_steps == 0):
                checkpoint(background=t.checkpoint_async and not reason)  # the last one is synchronous
            if reason == "terminated":
                stop.report()
            if reason:
                return Outcome(reason, state)
        run_eval()
        state.epoch += 1
        state.samples_in_epoch = 0
        checkpoint()
    return Outcome("completed", state)
