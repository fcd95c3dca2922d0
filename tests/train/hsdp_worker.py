"""Run under torchrun on 4 CPU processes (gloo): one HSDP optimizer step of 3 micro-batches on a
2 x 2 (replicate, shard) mesh through the real build_model and accumulate. Rank 0 prints, as JSON,
how many all-reduces ran over the replicate dimension, how many FSDP units there are, and whether
every replica ends with the same gradient shards."""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule

from contract.recipe import Recipe
from launcher.train.config import ProcessRanks, derive
from launcher.train.data import Example, collate, pack
from launcher.train.loop import accumulate
from launcher.train.model import build_model
from launcher.train.parallelize import build_mesh

MICRO_BATCHES = 3


def main(model_dir: str, data_dir: str, out: str) -> None:
    ranks = ProcessRanks.from_env()
    dist.init_process_group("gloo")
    cfg = derive(
        Recipe.from_args(
            [
                "--model_name",
                model_dir,
                "--data_path",
                data_dir,
                "--output_dir",
                out,
                "--fsdp_config.hsdp",
                "--fsdp_config.sharding_group_size",
                "2",
                "--gradient_accumulation_steps",
                str(MICRO_BATCHES),
                "--fsdp_activation_checkpointing",
                "false",
            ]
        ),
        ranks,
    )
    cpu = torch.device("cpu")
    mesh = build_mesh(cfg, "cpu")
    model = build_model(cfg, mesh, cpu)
    replicate = mesh["replicate"].get_group()
    counted: list[int] = []
    real_all_reduce = dist.all_reduce

    def counting(*args, **kwargs):
        if kwargs.get("group") == replicate:
            counted.append(1)
        return real_all_reduce(*args, **kwargs)

    dist.all_reduce = counting  # FSDP2 calls torch.distributed.all_reduce by attribute at run time
    generator = torch.Generator().manual_seed(ranks.rank)  # every rank its own data: replicas must agree after
    window = []
    for _ in range(MICRO_BATCHES):
        ids = torch.randint(5, 300, (24,), generator=generator).tolist()
        window.append(collate(pack([Example(ids[:12], ids[:12]), Example(ids[12:], ids[12:])], 24), pad_id=0))
    accumulate(model, window, cpu, cfg.train)
    dist.all_reduce = real_all_reduce

    grads = torch.cat([p.grad.to_local().flatten() for p in model.parameters()])
    everyone = [torch.empty_like(grads) for _ in range(ranks.world_size)]
    dist.all_gather(everyone, grads)
    shard = mesh.get_local_rank("shard")
    replicas_agree = all(torch.equal(everyone[r], everyone[r + 2]) for r in range(2))  # rank r, r+2: same shard
    units = sum(isinstance(m, FSDPModule) for m in model.modules())
    if ranks.rank == 0:
        print(
            json.dumps(
                {
                    "replicate_all_reduces": len(counted),
                    "units": units,
                    "replicas_agree": replicas_agree,
                    "shard": shard,
                    "grad_norm": float(grads.norm()),
                }
            )
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
