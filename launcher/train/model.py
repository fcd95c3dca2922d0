"""The model: load once on rank 0, LoRA or full, activation checkpointing, FSDP2 (or HSDP).

Host memory must not grow with the number of processes: rank 0 reads the weights, every other
rank builds the same module on the meta device (no storage). After `fully_shard` each rank
allocates only its shard, and rank 0's full state dict is broadcast into those shards. Buffers
that are not in the state dict (rotary frequencies) are broadcast too.

FSDP2 units: each decoder layer, then the root (embeddings, final norm, LM head). FSDP2 keeps
frozen and trainable, bf16 and fp32 parameters in one unit without complaint, which is what
LoRA needs.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard

from launcher.train.config import TrainingPlan


def build_mesh(cfg: TrainingPlan, device_type: str) -> DeviceMesh:
    """A 1-D mesh when nothing is replicated (plain FSDP), else 2-D (replicate, shard) = HSDP."""
    replicate, shard = cfg.mesh_shape
    if replicate == 1:
        return init_device_mesh(device_type, (shard,), mesh_dim_names=("shard",))
    return init_device_mesh(device_type, (replicate, shard), mesh_dim_names=("replicate", "shard"))


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
        raise RuntimeError(f"{type(base).__name__}: cannot find its decoder layers (expected .{base.base_model_prefix}.layers)")
    return layers


def _load(cfg: TrainingPlan, rank: int) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.bfloat16 if cfg.pure_bf16 else torch.float32
    attn = cfg.train.attn_implementation
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
        config = LoraConfig(r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
                            target_modules=list(lc.target_modules), bias=lc.bias, task_type=lc.task_type)
    return get_peft_model(model, config)


def build_model(cfg: TrainingPlan, mesh: DeviceMesh, device: torch.device) -> nn.Module:
    """The trainable, sharded model on `device`, identical on every rank to rank 0's load."""
    rank = cfg.ranks.rank
    model = _load(cfg, rank)
    if cfg.method == "lora":
        model = _add_lora(model, cfg, rank)
        if cfg.pure_bf16:
            model.to(torch.bfloat16)  # PEFT keeps adapters in fp32 by default; pure means all bf16
    if cfg.fsdp.fsdp_activation_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    full_state = model.state_dict() if rank == 0 else {}

    layers = decoder_layers(model)
    if cfg.train.compile:
        for layer in layers:
            layer.compile()
    kwargs: dict = {"mesh": mesh, "reshard_after_forward": cfg.reshard_after_forward}
    if cfg.mixed_precision:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    if cfg.fsdp.fsdp_cpu_offload and device.type == "cuda":
        kwargs["offload_policy"] = CPUOffloadPolicy()
    for layer in layers:
        fully_shard(layer, **kwargs)
    # The root (embeddings, final norm, LM head) keeps FSDP2's own choice: not resharded after
    # forward, as backward needs it at once. That saves an all-gather per step, and the chunked
    # loss (loss.py) uses the LM head's gathered weight after the forward.
    fully_shard(model, **{**kwargs, "reshard_after_forward": None})

    if rank != 0:
        model.to_empty(device=device)
    set_model_state_dict(model, full_state,
                         options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    del full_state
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
    model.train()
    return model


def count_parameters(model: nn.Module) -> tuple[int, int, int]:
    """(all, trainable, input-embedding) parameter counts, from global shapes."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    embedding = model.get_input_embeddings().weight.numel()
    return total, trainable, embedding
