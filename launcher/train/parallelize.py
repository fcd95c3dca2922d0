"""Parallelism, applied to a loaded model: activation checkpointing, compile, FSDP2 (or HSDP).

As torchtitan's `parallelize.py`: the model module loads, this one decides how it runs. FSDP2
units: each decoder layer, then the root (embeddings, final norm, LM head). FSDP2 keeps frozen
and trainable, bf16 and fp32 parameters in one unit without complaint, which is what LoRA
needs. After `fully_shard` each rank allocates only its shard, and rank 0's full state dict is
broadcast into those shards; buffers that are not in the state dict (rotary frequencies) are
broadcast too.
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


def parallelize(model: nn.Module, layers: nn.ModuleList, cfg: TrainingPlan, mesh: DeviceMesh,
                device: torch.device) -> nn.Module:
    """`model` sharded over `mesh` on `device`, its weights those rank 0 loaded."""
    rank = cfg.ranks.rank
    if cfg.fsdp.fsdp_activation_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    full_state = model.state_dict() if rank == 0 else {}

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
