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


def placement(cfg: TrainingPlan, device: torch.device) -> tuple[torch.device, torch.device]:
    """(where parameter shards live before training, where buffers live) for `device`.

    With `--fsdp_cpu_offload` (on CUDA) FSDP2's offload policy keeps rank 0's shards on the CPU
    (torch/distributed/fsdp/_fully_shard/_fsdp_param.py, v2.13: `offload_to_cpu` moves the padded
    shard to CPU), so the other ranks must allocate theirs there too: a rank with CUDA shards would
    take part in rank 0's state-dict broadcast on another backend and hang. Buffers (rotary
    frequencies) stay on the GPU, where forward reads them. torchtitan's train.py does the same
    (init_device "cpu", buffer_device the accelerator, under enable_cpu_offload).
    """
    if cfg.fsdp.fsdp_cpu_offload and device.type == "cuda":
        return torch.device("cpu"), device
    return device, device


def parallelize(
    model: nn.Module, layers: nn.ModuleList, cfg: TrainingPlan, mesh: DeviceMesh, device: torch.device
) -> nn.Module:
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
    init_device, buffer_device = placement(cfg, device)
    if init_device != device:
        kwargs["offload_policy"] = CPUOffloadPolicy()
    for layer in layers:
        fully_shard(layer, **kwargs)
    # The root (embeddings, final norm, LM head) keeps FSDP2's own choice: not resharded after
    # forward, as backward needs it at once. That saves an all-gather per step, and the chunked
    # loss (loss.py) uses the LM head's gathered weight after the forward.
    fully_shard(model, **{**kwargs, "reshard_after_forward": None})

    if rank != 0:
        model.to_empty(device=init_device)
    set_model_state_dict(model, full_state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    del full_state
    for module in model.modules():
        for name, buffer in module.named_buffers(recurse=False):
            if buffer.device != buffer_device:
                setattr(module, name, buffer.to(buffer_device))  # stays a buffer, persistent or not
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
    model.train()
    return model
