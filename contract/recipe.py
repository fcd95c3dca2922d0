"""The recipe: the one definition of the training options, shared by both halves.

`stacks/` validates a recipe inside an environment config and renders it into the job's
command-line arguments (`Recipe.to_args`); `launcher.train` parses those same arguments
(`Recipe.from_args`). The option names and defaults are llama-recipes' (`train_config`,
`fsdp_config`, `lora_config`), so a user's pasted command line works as written, plus
ocift's own additions in the same style.

This module imports neither torch nor cdktf: it must load in the infra tooling and in the
launcher before any heavy import.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails


class RecipeError(ValueError):
    """A bad recipe: every problem found, each naming the option at fault."""

    def __init__(self, problems: list[str], source: str = "recipe"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainConfig(_Section):
    """llama-recipes `train_config`, with ocift's additions at the end."""

    model_name: str = Field("", description="Local directory, URI (oci://, s3://, file://) or Hugging Face id.")
    tokenizer_name: str = Field("", description="Defaults to model_name.")
    enable_fsdp: bool = False
    low_cpu_fsdp: bool = False
    run_validation: bool = True
    batch_size_training: int = Field(4, ge=1)
    val_batch_size: int = Field(1, ge=1)
    batching_strategy: Literal["packing", "padding"] = "packing"
    context_length: int = Field(4096, ge=8)
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_clipping: bool = False
    gradient_clipping_threshold: float = Field(1.0, gt=0)
    num_epochs: int = Field(3, ge=1)
    max_train_step: int = Field(0, ge=0, description="0 = unlimited.")
    max_eval_step: int = Field(0, ge=0, description="0 = unlimited.")
    num_workers_dataloader: int = Field(1, ge=0)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    gamma: float = Field(0.85, gt=0, le=1, description="StepLR decay per epoch.")
    seed: int = 42
    use_fp16: bool = False
    mixed_precision: bool = True
    val_split_ratio: float = Field(0.0, ge=0, lt=1, description="Hold out this share of train when no validation split exists.")
    dataset: Literal["samsum_dataset", "custom_dataset"] = "samsum_dataset"
    peft_method: Literal["lora"] = "lora"
    use_peft: bool = False
    from_peft_checkpoint: str = ""
    output_dir: str = Field("", description="PEFT adapters and metrics; a local path or URI.")
    save_model: bool = True
    dist_checkpoint_root_folder: str = ""
    dist_checkpoint_folder: str = "fine-tuned"
    save_optimizer: bool = False
    use_fast_kernels: bool = False
    save_metrics: bool = False
    # ocift additions
    data_path: str = Field("", description="Dataset file or directory (JSON/JSONL/Parquet); local path or URI.")
    prompt_template: str = Field("", description="custom_dataset: Python format string over the record's fields.")
    response_field: str = Field("response", description="custom_dataset: the field trained on.")
    resume: str = Field("", description="'' (fresh), 'auto' (latest committed checkpoint) or a checkpoint path.")
    checkpoint_interval_steps: int = Field(0, ge=0, description="0 = only at epoch ends.")
    eval_every_steps: int = Field(0, ge=0, description="0 = only at epoch ends.")
    lr_scheduler: Literal["step", "cosine", "constant"] = "step"
    warmup_steps: int = Field(0, ge=0)
    merge_lora: bool = Field(False, description="Also save the base model with the adapter merged in.")
    compile: bool = Field(False, description="torch.compile each decoder layer.")
    term_grace_seconds: float = Field(120.0, gt=0, description="Time to checkpoint after SIGTERM.")
    attn_implementation: Literal["sdpa", "eager", "flex_attention"] = "sdpa"
    document_masking: bool = Field(True, description="Packed rows: attend only within each document, positions "
                                   "restarting per document (llama-recipes' packing lets documents see each other: "
                                   "false). Cheapest with attn_implementation flex_attention.")
    loss_chunk_size: int = Field(0, ge=0, description="Compute the LM head and loss this many tokens at a time, "
                                 "never holding the whole batch's logits (e.g. 1024); 0 = all at once.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.dataset == "custom_dataset" and not self.prompt_template:
            raise ValueError("dataset=custom_dataset needs prompt_template")
        return self


class FsdpConfig(_Section):
    """llama-recipes `fsdp_config`, plus the HSDP layout."""

    mixed_precision: bool = True
    use_fp16: bool = False
    sharding_strategy: Literal["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD"] = "FULL_SHARD"
    hsdp: bool = False
    sharding_group_size: int = Field(0, ge=0, description="HSDP: processes per shard group; 0 = one node.")
    replica_group_size: int = Field(0, ge=0, description="HSDP: number of replicas; 0 = number of nodes.")
    checkpoint_type: Literal["SHARDED_STATE_DICT", "FULL_STATE_DICT"] = "SHARDED_STATE_DICT"
    fsdp_activation_checkpointing: bool = True
    fsdp_cpu_offload: bool = False
    pure_bf16: bool = False
    optimizer: Literal["AdamW", "anyprecision"] = "AdamW"


class LoraConfig(_Section):
    """llama-recipes `lora_config` (PEFT LoraConfig fields)."""

    r: int = Field(8, ge=1)
    lora_alpha: int = Field(32, ge=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    bias: Literal["none", "all", "lora_only"] = "none"
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    inference_mode: bool = False


SECTIONS: dict[str, type[_Section]] = {
    "train_config": TrainConfig,
    "fsdp_config": FsdpConfig,
    "lora_config": LoraConfig,
}


class Recipe(_Section):
    """A complete, validated set of training options."""

    train_config: TrainConfig = Field(default_factory=TrainConfig)
    fsdp_config: FsdpConfig = Field(default_factory=FsdpConfig)
    lora_config: LoraConfig = Field(default_factory=LoraConfig)

    @model_validator(mode="after")
    def _contradictions(self) -> Recipe:
        t, f = self.train_config, self.fsdp_config
        problems = []
        if f.pure_bf16 and (t.use_fp16 or f.use_fp16):
            problems.append("pure_bf16 and use_fp16 contradict each other: choose one precision")
        if f.hsdp and f.sharding_strategy not in ("HYBRID_SHARD", "FULL_SHARD"):
            problems.append(f"hsdp needs sharding_strategy HYBRID_SHARD or FULL_SHARD, not {f.sharding_strategy}")
        if t.merge_lora and not t.use_peft:
            problems.append("merge_lora needs use_peft")
        if t.from_peft_checkpoint and not t.use_peft:
            problems.append("from_peft_checkpoint needs use_peft")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---- construction -------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, source: str = "recipe") -> Recipe:
        """Build from a config mapping: flat llama-recipes names and/or `lora_config: {...}` sections."""
        assignments: list[tuple[str, Any]] = []
        for key, value in (data or {}).items():
            if key in SECTIONS and isinstance(value, dict):
                assignments.extend((f"{key}.{k}", v) for k, v in value.items())
            else:
                assignments.append((str(key), value))
        return cls._build(assignments, source)

    @classmethod
    def from_args(cls, argv: list[str], source: str = "command line") -> Recipe:
        """Parse llama-recipes flags: `--flag value`, bare `--flag` (= true), `--section.field value`."""
        assignments: list[tuple[str, Any]] = []
        problems: list[str] = []
        i = 0
        while i < len(argv):
            token = argv[i]
            if not token.startswith("--") or token == "--":
                problems.append(f"unexpected argument {token!r} (options look like --name value)")
                i += 1
                continue
            name, eq, inline = token[2:].partition("=")
            name = name.replace("-", "_")
            if eq:
                value: Any = inline
                i += 1
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 2
            else:
                value = True
                i += 1
            assignments.append((name, value))
        return cls._build(assignments, source, problems, from_text=True)

    @classmethod
    def _build(cls, assignments: list[tuple[str, Any]], source: str,
               problems: list[str] | None = None, from_text: bool = False) -> Recipe:
        problems = list(problems or [])
        values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for name, value in assignments:
            targets = _resolve(name)
            if not targets:
                problems.append(f"unknown option {name!r}{_suggest(name)}")
                continue
            for section, field in targets:
                values[section][field] = _coerce(SECTIONS[section], field, value) if from_text else value
        try:
            recipe = cls.model_validate(values)
        except ValidationError as exc:
            problems += [_describe(err) for err in exc.errors()]
        if problems:
            raise RecipeError(problems, source)
        return recipe

    # ---- rendering ----------------------------------------------------------------

    def to_args(self) -> list[str]:
        """Render as llama-recipes flags: only what differs from the defaults, in a stable order.

        Top-level names are used where unambiguous (what a user would type); LoRA options and
        names that live in several sections carry their section (`--lora_config.r 16`).
        """
        args: list[str] = []
        for section_name, section_cls in SECTIONS.items():
            section = getattr(self, section_name)
            default = section_cls()
            for field in section_cls.model_fields:
                value = getattr(section, field)
                if value == getattr(default, field):
                    continue
                sectioned = section_name == "lora_config" or len(_resolve(field)) > 1
                flag = f"{section_name}.{field}" if sectioned else field
                if value is True:
                    args.append(f"--{flag}")
                else:
                    args.extend([f"--{flag}", _render(value)])
        return args

    def non_default(self) -> dict[str, Any]:
        """The options that differ from the defaults, as `section.field -> value`."""
        out = {}
        for section_name, section_cls in SECTIONS.items():
            section, default = getattr(self, section_name), section_cls()
            for field in section_cls.model_fields:
                if getattr(section, field) != getattr(default, field):
                    out[f"{section_name}.{field}"] = getattr(section, field)
        return out


def _resolve(name: str) -> list[tuple[str, str]]:
    """Which (section, field) pairs a name sets. A bare name sets every section that has it,
    as llama-recipes' update_config does (`mixed_precision` lives in two)."""
    if "." in name:
        section, _, field = name.partition(".")
        if section in SECTIONS and field in SECTIONS[section].model_fields:
            return [(section, field)]
        return []
    return [(s, name) for s, cls in SECTIONS.items() if name in cls.model_fields]


def _all_names() -> list[str]:
    names = set()
    for section, cls in SECTIONS.items():
        for field in cls.model_fields:
            names.add(field)
            names.add(f"{section}.{field}")
    return sorted(names)


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, _all_names(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(section: type[_Section], field: str, value: Any) -> Any:
    """Command-line text to the field's type; pydantic then validates it."""
    if not isinstance(value, str):
        return value
    annotation = section.model_fields[field].annotation
    if annotation is bool:
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return value
    if annotation == list[str]:
        return [v for v in value.replace(",", " ").split() if v]
    return value


def _render(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(err: ErrorDetails) -> str:
    path = ".".join(str(p) for p in err["loc"])
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        return f"unknown option {path!r}"
    if path:
        return f"{path}: {message} (got {err.get('input')!r})"
    return message.removeprefix("Value error, ")
