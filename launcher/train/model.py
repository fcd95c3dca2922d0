"""The model: loaded once on rank 0, LoRA or full; `parallelize` shards it.

Host memory must not grow with the number of processes: rank 0 reads the weights, every other
rank builds the same module on the meta device (no storage), and `parallelize` fills each
rank's shards from rank 0's state dict.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from launcher.train.attention import resolve_implementation
from launcher.train.config import TrainingPlan
from launcher.train.parallelize import parallelize


def decoder(model: nn.Module) -> nn.Module:
    """The decoder stack (embeddings, layers, final norm) of a Hugging Face causal LM, under
    PEFT's wrappers too: what returns the final hidden states."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, base.base_model_prefix, base)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The repeated blocks of a Hugging Face causal LM (under PEFT's wrappers too)."""
    layers = getattr(decoder(model), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        raise RuntimeError(
            f"{type(base).__name__}: cannot find its decoder layers (expected .{base.base_model_prefix}.layers)"
        )
    return layers


def _load(cfg: TrainingPlan, rank: int, device: torch.device) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.bfloat16 if cfg.pure_bf16 else torch.float32
    attn = resolve_implementation(cfg.train.attn_implementation, device.type, cfg.train.document_masking)
    if rank == 0:
        model = AutoModelForCausalLM.from_pretrained(cfg.model_name, dtype=dtype, attn_implementation=attn)
    else:
        config = AutoConfig.from_pretrained(cfg.model_name)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    model.config.use_cache = False
    return model


def _add_lora(model: nn.Module, cfg: TrainingPlan, rank: int) -> nn.Module:
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.train.from_peft_checkpoint:
        if rank == 0:
            return PeftModel.from_pretrained(model, cfg.train.from_peft_checkpoint, is_trainable=True)
        config = LoraConfig.from_pretrained(cfg.train.from_peft_checkpoint)
        config.inference_mode = False
    else:
        lc = cfg.lora
        config = LoraConfig(
            r=lc.r,
            lora_alpha=lc.lora_alpha,
            lora_dropout=lc.lora_dropout,
            target_modules=list(lc.target_modules),
            bias=lc.bias,
            task_type=lc.task_type,
        )
    return get_peft_model(model, config)


def cast_parameters(model: nn.Module, dtype: torch.dtype) -> None:
    """Floating-point parameters to `dtype`, buffers untouched: `model.to(dtype)` would also cast the
    rotary `inv_freq` buffers, and bf16 frequencies put the angle at position 4095 off by radians."""
    for p in model.parameters():
        if p.is_floating_point() and p.dtype != dtype:
            p.data = p.data.to(dtype)


def build_model(cfg: TrainingPlan, mesh: DeviceMesh, device: torch.device) -> nn.Module:
    """The trainable, sharded model on `device`, identical on every rank to rank 0's load."""
    rank = cfg.ranks.rank
    model = _load(cfg, rank, device)
    if cfg.method == "lora":
        model = _add_lora(model, cfg, rank)
        if cfg.pure_bf16:  # PEFT keeps adapters in fp32 by default; pure means all parameters bf16
            cast_parameters(model, torch.bfloat16)
    return parallelize(model, decoder_layers(model), cfg, mesh, device)


def count_parameters(model: nn.Module) -> tuple[int, int, int]:
    """(all, trainable, input-embedding) parameter counts, from global shapes."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    embedding = model.get_input_embeddings().weight.numel()
    return total, trainable, embedding
