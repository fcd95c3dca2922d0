"""Final outputs in formats other tools load without ocift.

- LoRA: the adapter in PEFT format (`adapter_config.json` + `adapter_model.safetensors`) at the
  root of output_dir, as llama-recipes writes it. The full adapter is gathered from every
  rank's shards first (llama-recipes under FSDP saved one rank's slice).
- LoRA + `--merge_lora`: rank 0 reloads the base, applies the saved adapter with plain PEFT and
  saves the merged Hugging Face model in `merged/`: what gets saved is what PEFT loads.
- Full fine-tuning: a Hugging Face model (safetensors, sharded above 5 GB) in `model/`, gathered
  tensor by tensor into rank 0's host memory only. The sharded DCP form is the final checkpoint;
  with `--dist_checkpoint_root_folder` the model's DCP is also written to
  `<root>/<dist_checkpoint_folder>-<model name>` like llama-recipes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from contract.manifest import write_manifest
from launcher import log
from launcher.train.config import TrainingPlan
from launcher.train.control import wait

SHARD_BYTES = 5 * 1024**3


def gather_full(model: nn.Module, trainable_only: bool) -> dict[str, torch.Tensor]:
    """The full state dict on rank 0's host (empty elsewhere); every rank must call it."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=trainable_only)
    return get_model_state_dict(model, options=options)


def save_adapter(model: nn.Module, cfg: TrainingPlan, target: Path, control) -> None:
    state = gather_full(model, trainable_only=True)
    if cfg.ranks.rank == 0:
        target.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(target, state_dict=state, safe_serialization=True)
        log.event("adapter_saved", path=str(target), tensors=len(state))
    wait(control, "saving the adapter")


def save_merged(cfg: TrainingPlan, adapter_dir: Path, target: Path, tokenizer, control) -> None:
    """Rank 0: base + saved adapter through plain PEFT, merged, saved as a Hugging Face model."""
    if cfg.ranks.rank == 0:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(cfg.model_name, dtype="auto")
        merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
        merged.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        log.event("merged_saved", path=str(target))
    wait(control, "merging LoRA into the base model")


def base_dtype(model_name: str) -> torch.dtype:
    """The dtype the base model's config declares (what its weights were published in: bf16 for Llama),
    so a fine-tune trained with fp32 master weights is exported at the base's size, not twice it."""
    from transformers import AutoConfig

    declared = AutoConfig.from_pretrained(model_name).dtype
    return declared if isinstance(declared, torch.dtype) else torch.float32


def save_hf_model(model: nn.Module, cfg: TrainingPlan, target: Path, tokenizer, control) -> None:
    """Full fine-tune as a Hugging Face model in the base model's dtype."""
    from safetensors.torch import save_file

    state = gather_full(model, trainable_only=False)
    if cfg.ranks.rank == 0:
        config = model.config
        dtype = base_dtype(cfg.model_name)
        config.dtype = dtype  # what the files hold; training may have run in fp32
        if getattr(config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)  # tied: stored once, as the embedding
        state = {k: v.to(dtype).contiguous() for k, v in state.items()}
        target.mkdir(parents=True, exist_ok=True)
        shards: list[dict[str, torch.Tensor]] = [{}]
        size = 0
        for name, tensor in state.items():
            nbytes = tensor.numel() * tensor.element_size()
            if shards[-1] and size + nbytes > SHARD_BYTES:
                shards.append({})
                size = 0
            shards[-1][name] = tensor
            size += nbytes
        if len(shards) == 1:
            save_file(shards[0], target / "model.safetensors", metadata={"format": "pt"})
        else:
            weight_map = {}
            for i, shard in enumerate(shards, start=1):
                name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
                save_file(shard, target / name, metadata={"format": "pt"})
                weight_map.update({k: name for k in shard})
            total = sum(t.numel() * t.element_size() for t in state.values())
            (target / "model.safetensors.index.json").write_text(
                json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1)
            )
        config.use_cache = True
        config.save_pretrained(target)
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(target)
        tokenizer.save_pretrained(target)
        log.event("model_saved", path=str(target), tensors=len(state))
    wait(control, "writing the Hugging Face model")


def save_dist_checkpoint(model: nn.Module, cfg: TrainingPlan, control) -> Path:
    """llama-recipes' full fine-tune location: `<root>/<folder>-<model name>`, sharded, committed."""
    name = Path(cfg.model_name.rstrip("/")).name
    target = Path(cfg.train.dist_checkpoint_root_folder) / f"{cfg.train.dist_checkpoint_folder}-{name}"
    dcp.save({"model": get_model_state_dict(model)}, checkpoint_id=target)
    wait(control, "writing the model's DCP checkpoint")
    if cfg.ranks.rank == 0:
        write_manifest(target)
        log.event("dist_checkpoint_saved", path=str(target))
    wait(control, "committing the model's DCP checkpoint")
    return target
