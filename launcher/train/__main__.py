"""`python -m launcher.train <llama-recipes flags>`: what torchrun runs on every process.

Exit status: 0 done (epochs finished or --max_train_step reached), 2 bad options,
1 bad data or a checkpoint that could not be written or read, 143 stopped by SIGTERM after
writing a checkpoint. Run directly (without torchrun) it is a one-process job.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

from contract.recipe import Recipe, RecipeError
from launcher import log
from launcher.train.checkpoint import (
    Checkpointer,
    CheckpointError,
    TrainState,
    clean_stale,
    output_dir_is_shared,
    resolve_resume,
)
from launcher.train.config import ProcessRanks, TrainingPlan, derive
from launcher.train.control import new_control_group, wait
from launcher.train.data import DataError, load_splits, make_dataset
from launcher.train.loop import StopSignal, build_optimizer, train
from launcher.train.metrics import Metrics, flops_per_token, peak_flops, run_title
from launcher.train.model import build_model, count_parameters
from launcher.train.outputs import save_adapter, save_dist_checkpoint, save_hf_model, save_merged
from launcher.train.parallelize import build_mesh

EXIT_BAD_OPTIONS = 2
EXIT_FAILED = 1
EXIT_TERMINATED = 143


def init_distributed(ranks: ProcessRanks) -> torch.device:
    """NCCL for CUDA tensors and gloo for CPU ones when there is a GPU; gloo alone otherwise."""
    if torch.cuda.is_available():
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
        backend = "cpu:gloo,cuda:nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if "MASTER_ADDR" in os.environ:
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    else:  # run directly: a one-process group needs no rendezvous
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return device


def _writers(cfg: TrainingPlan, mesh, control) -> tuple[object, bool]:
    """Which ranks write checkpoint shards (see checkpoint.py on several nodes)."""
    ranks = cfg.ranks
    if ranks.nodes == 1:
        return None, True
    shared = output_dir_is_shared(
        cfg.output_dir, ranks.rank, ranks.local_rank, lambda: wait(control, "the shared-disk check"), control
    )
    if shared:
        return None, True
    replicate, shard = cfg.mesh_shape
    if replicate == 1 or shard > ranks.local_world_size:
        raise CheckpointError(
            f"the model is sharded across nodes (fsdp_config.sharding_group_size {shard} > {ranks.local_world_size} "
            f"processes per node) but output_dir {cfg.output_dir} is not shared between them: a checkpoint would "
            "be split across machines; use HSDP (the default on several nodes) or a shared output_dir"
        )
    return mesh["shard"].get_group(), mesh.get_local_rank("replicate") == 0


def run(cfg: TrainingPlan, device: torch.device) -> int:
    from transformers import AutoTokenizer

    t, ranks = cfg.train, cfg.ranks
    torch.manual_seed(t.seed)
    control = new_control_group()
    stop = StopSignal(control, t.term_grace_seconds)  # from here on a SIGTERM is handled, not fatal
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    if ranks.local_rank == 0:
        for path in clean_stale(cfg.checkpoint_root):
            log.event("stale_checkpoint_removed", path=str(path))
    wait(control, "removing stale checkpoints")
    mesh = build_mesh(cfg, device.type)
    writer_group, writes = _writers(cfg, mesh, control)

    tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer_name)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    splits = load_splits(
        cfg.recipe,
        tokenizer,
        cache_dir=cfg.output_dir,
        is_writer=ranks.local_rank == 0,
        barrier=lambda: wait(control, f"preparing the {t.dataset} data"),
    )
    shape = {"strategy": t.batching_strategy, "context_length": t.context_length, "pad_id": pad_id}
    train_ds = make_dataset(splits.train, splits.train_source, **shape)
    val_ds = make_dataset(splits.validation, splits.validation_source, **shape) if splits.validation else None
    log.event(
        "data_ready",
        dataset=t.dataset,
        train=splits.train_source,
        train_rows=len(train_ds),
        validation=splits.validation_source if val_ds else "none",
        validation_rows=len(val_ds) if val_ds else 0,
    )
    steps_per_epoch = train_ds.steps_per_epoch(cfg.global_batch_samples)
    if steps_per_epoch == 0:
        raise DataError(
            f"{splits.train_source}: {len(train_ds)} training samples (after {t.batching_strategy}) are fewer than "
            f"one step needs: batch_size_training {t.batch_size_training} x gradient_accumulation_steps "
            f"{t.gradient_accumulation_steps} x {ranks.world_size} processes = {cfg.global_batch_samples}"
        )
    # The schedule spans the epochs; --max_train_step stops early without reshaping it, so a run
    # stopped that way and resumed follows the same learning rates as one never stopped.
    total_steps = steps_per_epoch * t.num_epochs
    shown_steps = min(total_steps, t.max_train_step) if t.max_train_step else total_steps
    if val_ds is None and t.run_validation:
        log.event("no_validation_split", note="no validation split and val_split_ratio 0: evaluation skipped")

    model = build_model(cfg, mesh, device)
    optimizer = build_optimizer(model, cfg, device)
    params, trainable, embedding = count_parameters(model)
    base_config = model.config
    log.event(
        "model_ready",
        method=cfg.method,
        parameters=params,
        trainable=trainable,
        mesh=str(cfg.mesh_shape),
        attention=base_config._attn_implementation,
        pure_bf16=cfg.pure_bf16,
        mixed_precision=cfg.mixed_precision,
        activation_checkpointing=cfg.fsdp.fsdp_activation_checkpointing,
        steps_per_epoch=steps_per_epoch,
    )

    meta = {"method": cfg.method, "world_size": ranks.world_size, "model_name": cfg.model_name, "seed": t.seed}
    checkpointer = Checkpointer(
        cfg.checkpoint_root,
        method=cfg.method,
        rank=ranks.rank,
        writer_group=writer_group,
        writes=writes,
        control_group=control,
        meta=meta,
        keep=t.checkpoint_keep,
        background=t.checkpoint_async,
        grace_s=t.term_grace_seconds,
    )
    resume_from = resolve_resume(t.resume, cfg.checkpoint_root, control)
    state = checkpointer.load(resume_from, model, optimizer) if resume_from else TrainState()
    if t.resume == "auto" and resume_from is None:
        log.event("resume_none", note="no committed checkpoint: starting fresh")

    peak, peak_source = peak_flops(device)
    fpt = flops_per_token(
        params - (trainable if cfg.method == "lora" else 0),
        embedding,
        cfg.method == "full",
        base_config.num_hidden_layers,
        base_config.hidden_size,
        t.context_length,
    )
    title = run_title(os.environ.get("JOB_OCID", ""), os.environ.get("OCIFT_RUN_NAME", ""), cfg.model_name, cfg.method)
    metrics = Metrics(
        cfg.output_dir, device, ranks.rank, ranks.world_size, fpt, peak, peak_source, shown_steps, title=title
    )
    outcome = train(cfg, model, optimizer, train_ds, val_ds, state, checkpointer, metrics, stop, device, total_steps)

    if outcome.reason != "terminated" and t.save_model:
        if cfg.method == "lora":
            save_adapter(model, cfg, cfg.output_dir, control)
            if t.merge_lora:
                save_merged(cfg, cfg.output_dir, cfg.output_dir / "merged", tokenizer, control)
        else:
            save_hf_model(model, cfg, cfg.output_dir / "model", tokenizer, control)
            if t.dist_checkpoint_root_folder:
                save_dist_checkpoint(model, cfg, control)
    metrics.finish(
        {
            "outcome": outcome.reason,
            "step": outcome.state.step,
            "epoch": outcome.state.epoch,
            "method": cfg.method,
            "world_size": ranks.world_size,
            "nodes": ranks.nodes,
            "mesh": list(cfg.mesh_shape),
            "parameters": params,
            "trainable_parameters": trainable,
            "resumed_from": str(resume_from or ""),
            "options": {k: v for k, v in cfg.recipe.non_default().items()},
        }
    )
    log.event("train_done", outcome=outcome.reason, step=outcome.state.step)
    return EXIT_TERMINATED if outcome.reason == "terminated" else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: python -m launcher.train <training flags>\n\n{__doc__.strip()}\n\n{Recipe.help()}")
        return 0
    ranks = ProcessRanks.from_env()
    log.configure(node=ranks.node, rank=ranks.rank)
    try:
        cfg = derive(Recipe.from_args(argv), ranks)
    except RecipeError as exc:
        print(f"ocift train: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    device = init_distributed(ranks)
    try:
        return run(cfg, device)
    except (DataError, CheckpointError) as exc:
        log.error("train_failed", error=str(exc))
        print(f"ocift train: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
