"""On paper: how many bytes each layout sends between nodes per optimizer step, and what that costs.

Model (a lower bound, as NCCL's hierarchical algorithms approach it):
- an all-gather or reduce-scatter of S bytes over N nodes must move S*(N-1)/N bytes into (or out
  of) every node; an all-reduce moves twice that;
- FSDP across every GPU of every node: per micro-batch, the bf16 weights are all-gathered twice
  (forward, and again in backward after resharding) and the gradients reduce-scattered (fp32 with
  mixed precision, bf16 with pure bf16);
- HSDP (shard within a node, replicate across nodes): the weight gathers stay on NVLink; only the
  gradient all-reduce of each node's shards crosses nodes, once per optimizer step (gradient
  accumulation runs without sync);
- LoRA under HSDP: only the adapter gradients cross nodes.
Compute time uses 6N (full) or 4N (LoRA) FLOPs per token at the MFU given, and the step is
communication-bound when the cross-node time exceeds it (overlap hides at most the compute time).

Constants are arguments with the defaults we use for OCI's BM.GPU.H100.8 / H200 shapes on the
front-end network; change them to your measurements: `python bench/comm_model.py --help`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class Shape:
    name: str
    params: float
    layers: int
    hidden: int

    def lora_params(self, rank: int = 8, modules: int = 2) -> float:
        """LoRA on q and v: each adds rank x (in + out) per layer."""
        return self.layers * modules * rank * 2 * self.hidden


SHAPES = {
    "7B": Shape("Llama-2-7B", 6.74e9, 32, 4096),
    "70B": Shape("Llama-2-70B", 68.98e9, 80, 8192),
}


@dataclass(frozen=True)
class Setup:
    link_gbit: float  # per node, front-end network
    link_efficiency: float  # share of line rate NCCL sustains over TCP sockets
    gpus_per_node: int
    gpu_mem_gib: float
    peak_tflops: float  # measured bf16 dense matmul per GPU
    mfu: float
    tokens_per_gpu: int  # per micro-batch: seq x batch
    micro_batches: int  # gradient accumulation

    @property
    def link_bytes_s(self) -> float:
        return self.link_gbit / 8 * 1e9 * self.link_efficiency


def cross_node_bytes(layout: str, shape: Shape, nodes: int, setup: Setup, pure_bf16: bool) -> float:
    """Bytes into each node per optimizer step."""
    if nodes == 1:
        return 0.0
    share = (nodes - 1) / nodes
    grad_bytes = 2 if pure_bf16 else 4
    if layout == "FSDP":
        per_micro = (2 * 2 + grad_bytes) * shape.params  # two bf16 gathers + one reduce-scatter
        return per_micro * setup.micro_batches * share
    if layout == "HSDP":
        return 2 * grad_bytes * shape.params * share  # one all-reduce per optimizer step
    if layout == "LoRA-HSDP":
        return 2 * 4 * shape.lora_params() * share  # adapters are fp32
    raise ValueError(layout)


def compute_seconds(layout: str, shape: Shape, setup: Setup) -> float:
    flops_per_token = (4 if layout == "LoRA-HSDP" else 6) * shape.params
    tokens = setup.tokens_per_gpu * setup.micro_batches
    return tokens * flops_per_token / (setup.peak_tflops * 1e12 * setup.mfu)


def model_state_gib_per_gpu(layout: str, shape: Shape, nodes: int, setup: Setup) -> float:
    """Weights, gradients and AdamW state per GPU (mixed precision: 16 bytes a trainable param)."""
    gpus = setup.gpus_per_node * (nodes if layout == "FSDP" else 1)
    if layout == "LoRA-HSDP":
        return (2 * shape.params + 16 * shape.lora_params()) / gpus / GIB
    return 16 * shape.params / gpus / GIB


def table(setup: Setup, pure_bf16: bool) -> list[dict]:
    rows = []
    for shape in SHAPES.values():
        for nodes in (2, 4, 8):
            for layout in ("FSDP", "HSDP", "LoRA-HSDP"):
                moved = cross_node_bytes(layout, shape, nodes, setup, pure_bf16)
                comm = moved / setup.link_bytes_s
                compute = compute_seconds(layout, shape, setup)
                step = max(compute, comm)
                state = model_state_gib_per_gpu(layout, shape, nodes, setup)
                rows.append(
                    {
                        "model": shape.name,
                        "nodes": nodes,
                        "layout": layout,
                        "GB/node/step": moved / 1e9,
                        "comm s": comm,
                        "compute s": compute,
                        "step s": step,
                        "comm-bound": comm > compute,
                        "state GiB/GPU": state,
                        "fits": state < 0.8 * setup.gpu_mem_gib,
                        "tokens/s/GPU": setup.tokens_per_gpu * setup.micro_batches / step,
                    }
                )
    return rows


def default_layout(method: str, params: float, nodes: int, setup: Setup) -> str:
    """What the numbers say to use: the layout whose step is shortest among those that fit."""
    if nodes == 1:
        return "FSDP"
    if method == "lora":
        return "HSDP"
    fits_in_node = 16 * params / setup.gpus_per_node / GIB < 0.8 * setup.gpu_mem_gib
    return "HSDP" if fits_in_node else "HSDP with shard groups spanning nodes (FSDP when one group)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--link-gbit", type=float, default=100.0)
    parser.add_argument("--link-efficiency", type=float, default=0.8)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--gpu-mem-gib", type=float, default=80.0)
    parser.add_argument("--peak-tflops", type=float, default=787.0, help="measured bf16 matmul (H200, notes)")
    parser.add_argument("--mfu", type=float, default=0.5)
    parser.add_argument("--tokens-per-gpu", type=int, default=4096)
    parser.add_argument("--micro-batches", type=int, default=4)
    parser.add_argument("--pure-bf16", action="store_true", help="bf16 gradient reductions")
    args = parser.parse_args(argv)
    setup = Setup(
        args.link_gbit,
        args.link_efficiency,
        args.gpus_per_node,
        args.gpu_mem_gib,
        args.peak_tflops,
        args.mfu,
        args.tokens_per_gpu,
        args.micro_batches,
    )
    rows = table(setup, args.pure_bf16)
    columns = list(rows[0])
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    for row in rows:
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()))
    print()
    for shape in SHAPES.values():
        for method in ("full", "lora"):
            print(f"default for {shape.name} {method} on 4 nodes: {default_layout(method, shape.params, 4, setup)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
