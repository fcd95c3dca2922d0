"""From a recipe and torchrun's environment to the few decisions the rest of training reads.

Everything that can be wrong about the options is found here, before any process group or
model exists, and reported as one `RecipeError` naming each option at fault.

Decisions made here (and why):
- One code path: the model is always wrapped with FSDP2 (`fully_shard`), whatever
  `--enable_fsdp` says. On one process that is a one-rank mesh; on several it is what a DDP
  would do and more (sharded optimizer state). `--enable_fsdp` is accepted for llama-recipes
  command lines and changes nothing.
- Mesh: on one node, FULL_SHARD/SHARD_GRAD_OP shard over every process and NO_SHARD replicates.
  With more than one node (WORLD_SIZE / LOCAL_WORLD_SIZE > 1), or `--hsdp`, HYBRID_SHARD or an
  explicit group size, it is HSDP: shard within `sharding_group_size` processes (default: one
  node), replicate across `replica_group_size` groups (default: the rest). Full sharding across
  nodes is still possible: `--fsdp_config.sharding_group_size <world size>`.
- Precision: `--pure_bf16` loads and trains the whole model in bf16. Otherwise fp32 master
  weights; with `mixed_precision` (the default) FSDP2 computes in bf16 and reduces gradients in
  fp32. fp16 would need loss scaling, which this trainer does not do: `use_fp16` is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from contract.recipe import Recipe, RecipeError


@dataclass(frozen=True)
class ProcessRanks:
    """Where this process sits, from torchrun's environment (one process when run directly)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def nodes(self) -> int:
        return max(1, self.world_size // self.local_world_size)

    @property
    def node(self) -> int:
        return self.rank // self.local_world_size

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ProcessRanks:
        env = os.environ if environ is None else environ
        return cls(
            rank=int(env.get("RANK", 0)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", env.get("WORLD_SIZE", 1))),
        )


@dataclass(frozen=True)
class TrainingPlan:
    """The recipe plus what was derived from it; read-only for the rest of training."""

    recipe: Recipe
    ranks: ProcessRanks
    method: str  # "lora" or "full"
    mesh_shape: tuple[int, int]  # (replicate, shard)
    reshard_after_forward: bool
    pure_bf16: bool
    mixed_precision: bool
    output_dir: Path
    model_name: str
    tokenizer_name: str

    @property
    def train(self):
        return self.recipe.train_config

    @property
    def fsdp(self):
        return self.recipe.fsdp_config

    @property
    def lora(self):
        return self.recipe.lora_config

    @property
    def checkpoint_root(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def global_batch_samples(self) -> int:
        """Samples consumed by one optimizer step across all processes."""
        t = self.train
        return t.batch_size_training * t.gradient_accumulation_steps * self.ranks.world_size


def derive(recipe: Recipe, ranks: ProcessRanks) -> TrainingPlan:
    """Check what the recipe alone cannot (needed paths, the process layout) and derive the run."""
    t, f = recipe.train_config, recipe.fsdp_config
    problems: list[str] = []
    if not t.model_name:
        problems.append("model_name is required (a local directory or a Hugging Face id)")
    elif _looks_local(t.model_name) and not (Path(t.model_name) / "config.json").is_file():
        problems.append(f"model_name: {t.model_name!r} is not a model directory (no config.json there)")
    elif _looks_local(t.model_name):
        problems += _local_model_problems(
            Path(t.model_name), t, explicit="train_config.context_length" in recipe.non_default()
        )
    if not t.output_dir:
        problems.append("output_dir is required (adapters, checkpoints and metrics go there)")
    from launcher.train.data.sources import problems as data_problems  # loads torch: only once options parsed

    problems += data_problems(recipe)
    if t.use_fp16 or f.use_fp16:
        problems.append("use_fp16 is not supported (fp16 needs loss scaling): use pure_bf16 or mixed_precision")
    if t.resume and t.resume != "auto" and not Path(t.resume).is_dir():
        problems.append(f"resume: {t.resume!r} is neither 'auto' nor a checkpoint directory")
    if t.from_peft_checkpoint and not (Path(t.from_peft_checkpoint) / "adapter_config.json").is_file():
        problems.append(f"from_peft_checkpoint: {t.from_peft_checkpoint!r} has no adapter_config.json")

    if t.merge_lora and not t.save_model:
        problems.append("merge_lora needs save_model: the merged model is built from the saved adapter")
    if t.eval_every_steps and not t.run_validation:
        problems.append("eval_every_steps asks for evaluation that run_validation false turns off")
    if t.from_peft_checkpoint:
        lora_set = sorted(k for k in recipe.non_default() if k.startswith("lora_config."))
        if lora_set:
            problems.append(
                f"{', '.join(lora_set)} cannot apply with from_peft_checkpoint: the adapter's own "
                "adapter_config.json defines it"
            )
    mesh_shape = _mesh_shape(recipe, ranks, problems)
    if problems:
        raise RecipeError(problems, "command line")
    return TrainingPlan(
        recipe=recipe,
        ranks=ranks,
        method="lora" if t.use_peft else "full",
        mesh_shape=mesh_shape,
        reshard_after_forward=f.sharding_strategy != "SHARD_GRAD_OP",
        pure_bf16=f.pure_bf16,
        mixed_precision=not f.pure_bf16 and t.mixed_precision and f.mixed_precision,
        output_dir=Path(t.output_dir),
        model_name=t.model_name,
        tokenizer_name=t.tokenizer_name or t.model_name,
    )


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _local_model_problems(path: Path, t, explicit: bool) -> list[str]:
    """A local model directory needs weights, and positions for `context_length` tokens: a
    context_length given on the command line beyond them is refused, the default is capped."""
    problems = []
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        problems.append(f"model_name: {str(path)!r} has a config.json but no weights ({', '.join(WEIGHT_FILES)})")
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        return [*problems, f"model_name: {str(path / 'config.json')!r} is not readable JSON ({exc})"]
    limit = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if isinstance(limit, int) and limit > 0 and t.context_length > limit:
        if explicit:
            problems.append(
                f"context_length {t.context_length} is longer than the model supports "
                f"(max_position_embeddings {limit} in {path / 'config.json'})"
            )
        else:
            t.context_length = limit
    return problems


def _looks_local(name: str) -> bool:
    """A path rather than a hub id ("org/name"): absolute, explicitly relative, or existing."""
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def _mesh_shape(recipe: Recipe, ranks: ProcessRanks, problems: list[str]) -> tuple[int, int]:
    f = recipe.fsdp_config
    world = ranks.world_size
    if f.sharding_strategy == "NO_SHARD":
        if f.hsdp or f.sharding_group_size or f.replica_group_size:
            problems.append("sharding_strategy NO_SHARD contradicts hsdp/sharding_group_size/replica_group_size")
        return (world, 1)
    hybrid = (
        f.hsdp
        or f.sharding_strategy == "HYBRID_SHARD"
        or ranks.nodes > 1
        or f.sharding_group_size > 0
        or f.replica_group_size > 0
    )
    if not hybrid:
        return (1, world)
    shard = f.sharding_group_size or (world // f.replica_group_size if f.replica_group_size else ranks.local_world_size)
    replicate = f.replica_group_size or max(1, world // max(shard, 1))
    if shard * replicate != world:
        problems.append(
            f"fsdp_config.sharding_group_size ({shard}) x replica_group_size ({replicate}) must equal "
            f"the number of processes ({world} = {ranks.nodes} nodes x {ranks.local_world_size})"
        )
    return (replicate, shard)
