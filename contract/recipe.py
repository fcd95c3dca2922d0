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
from typing import Any, Literal, get_args, get_origin

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
    val_split_ratio: float = Field(
        0.0, ge=0, lt=1, description="Hold out this share of train when no validation split exists."
    )
    dataset: Literal["samsum_dataset", "alpaca_dataset", "grammar_dataset", "custom_dataset"] = "samsum_dataset"
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
    data_path: str = Field(
        "",
        description="samsum_dataset, or custom_dataset with prompt_template: dataset file or "
        "directory (JSON/JSONL/Parquet/CSV); local path or URI. samsum without it: the Hub.",
    )
    prompt_template: str = Field(
        "",
        description="custom_dataset from data_path: Python format string over the "
        "record's fields (instead of custom_dataset.file).",
    )
    response_field: str = Field("response", description="custom_dataset from data_path: the field trained on.")
    resume: str = Field("", description="'' (fresh), 'auto' (latest committed checkpoint) or a checkpoint path.")
    checkpoint_interval_steps: int = Field(0, ge=0, description="0 = only at epoch ends.")
    eval_every_steps: int = Field(0, ge=0, description="0 = only at epoch ends.")
    lr_scheduler: Literal["step", "cosine", "constant"] = "step"
    warmup_steps: int = Field(0, ge=0)
    merge_lora: bool = Field(False, description="Also save the base model with the adapter merged in.")
    compile: bool = Field(False, description="torch.compile each decoder layer.")
    term_grace_seconds: float = Field(120.0, gt=0, description="Time to checkpoint after SIGTERM.")
    attn_implementation: Literal["auto", "sdpa", "eager", "flex_attention"] = Field(
        "auto", description="auto: flex_attention for document-masked rows on a GPU, else sdpa (flash-causal)."
    )
    document_masking: bool = Field(
        True,
        description="Packed rows: attend only within each document, positions "
        "restarting per document (llama-recipes' packing lets documents see each other: "
        "false).",
    )
    loss_chunk_size: int = Field(
        -1,
        ge=-1,
        description="Compute the LM head and loss this many tokens at a time, "
        "never holding the whole batch's logits (e.g. 1024); 0 = all at once; -1 = "
        "automatic (chunked above a vocabulary size, see docs/performance.md).",
    )
    checkpoint_keep: int = Field(
        0, ge=0, description="Keep the newest N local checkpoints, remove older ones; 0 = keep all."
    )
    checkpoint_async: bool = Field(
        False,
        description="Write checkpoints in the background (DCP async_save): "
        "training goes on while the files are written.",
    )


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


# The dataset sections: llama-recipes `configs/datasets.py` (meta-llama/llama-cookbook at
# 1aecd00924738239f8d86f342b36bacad180d2b3), one per `--dataset`, names and defaults as there. Its
# `dataset` field (the section's own name) is left out; `--dataset` chooses.


class SamsumDataset(_Section):
    """llama-recipes `samsum_dataset`: the Hub's samsum when `--data_path` is not given."""

    train_split: str = "train"
    test_split: str = "validation"
    input_length: int = Field(2048, ge=1, description="Accepted; without effect: context_length sets row length.")
    # ocift addition: llama-recipes loads "samsum" (later "Samsung/samsum"), which the Hub has answered 404
    # since May 2025 (huggingface/datasets#7573); llama-cookbook itself now loads "knkarthick/samsum"
    # (src/llama_cookbook/datasets/samsum_dataset.py at 0e0033518623d03ac5c1654bf04b7e480f7d5e5a).
    hub_id: str = Field(
        "knkarthick/samsum",
        description="Hugging Face dataset (or local dataset directory) "
        "read with `datasets` when data_path is not given.",
    )


class GrammarDataset(_Section):
    """llama-recipes `grammar_dataset`: the splits are CSV files with `input` and `target` columns."""

    train_split: str = Field(
        "src/llama_recipes/datasets/grammar_dataset/gtrain_10k.csv", description="CSV file; local path or URI."
    )
    test_split: str = Field(
        "src/llama_recipes/datasets/grammar_dataset/grammar_validation.csv",
        description="CSV file; local path or URI; left at the default: no validation.",
    )
    input_length: int = Field(2048, ge=1, description="Accepted; without effect: context_length sets row length.")


class AlpacaDataset(_Section):
    """llama-recipes `alpaca_dataset`: one JSON array of `instruction`/`input`/`output` records."""

    train_split: str = Field("train", description="'train' is every record, any other name the first 200.")
    test_split: str = Field("val", description="'train' is every record, any other name the first 200.")
    data_path: str = Field("src/llama_recipes/datasets/alpaca_data.json", description="JSON file; local path or URI.")


class CustomDataset(_Section):
    """llama-recipes `custom_dataset`: a Python file whose function builds each split."""

    file: str = Field(
        "examples/custom_dataset.py",
        description="my_dataset.py[:function] (default function "
        "get_custom_dataset(dataset_config, tokenizer, split)); local path or URI.",
    )
    train_split: str = "train"
    test_split: str = "validation"

    @property
    def location(self) -> str:
        """The file, without `:function`."""
        return split_function(self.file)[0]

    @property
    def function(self) -> str:
        return split_function(self.file)[1]


def split_function(value: str) -> tuple[str, str]:
    """`my_dataset.py:get_foo` -> (`my_dataset.py`, `get_foo`), as llama-recipes reads `custom_dataset.file`;
    without `:function`, get_custom_dataset. A URI's `scheme:` is not a separator."""
    head, sep, tail = value.rpartition(":")
    if sep and tail.isidentifier():
        return head, tail
    return value, "get_custom_dataset"


SECTIONS: dict[str, type[_Section]] = {
    "train_config": TrainConfig,
    "fsdp_config": FsdpConfig,
    "lora_config": LoraConfig,
    "samsum_dataset": SamsumDataset,
    "grammar_dataset": GrammarDataset,
    "alpaca_dataset": AlpacaDataset,
    "custom_dataset": CustomDataset,
}
#: Addressed only with their section (`--custom_dataset.file`): their names (`train_split`, `data_path`)
#: recur across datasets and in train_config, and a bare `--data_path` stays train_config's.
DATASET_SECTIONS = ("samsum_dataset", "grammar_dataset", "alpaca_dataset", "custom_dataset")


class Recipe(_Section):
    """A complete, validated set of training options."""

    train_config: TrainConfig = Field(default_factory=TrainConfig)
    fsdp_config: FsdpConfig = Field(default_factory=FsdpConfig)
    lora_config: LoraConfig = Field(default_factory=LoraConfig)
    samsum_dataset: SamsumDataset = Field(default_factory=SamsumDataset)
    grammar_dataset: GrammarDataset = Field(default_factory=GrammarDataset)
    alpaca_dataset: AlpacaDataset = Field(default_factory=AlpacaDataset)
    custom_dataset: CustomDataset = Field(default_factory=CustomDataset)

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
        problems += self._dataset_contradictions()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _dataset_contradictions(self) -> list[str]:
        t = self.train_config
        if t.dataset == "custom_dataset" and t.prompt_template and "file" in self.custom_dataset.model_fields_set:
            return ["custom_dataset: give custom_dataset.file or prompt_template (with data_path), not both"]
        if t.data_path and t.dataset in ("alpaca_dataset", "grammar_dataset"):
            flag = "alpaca_dataset.data_path" if t.dataset == "alpaca_dataset" else "grammar_dataset.train_split"
            return [f"data_path is not read by {t.dataset}: give the file as {flag}"]
        if t.data_path and t.dataset == "custom_dataset" and not t.prompt_template:
            return ["data_path with custom_dataset needs prompt_template (or use custom_dataset.file, not data_path)"]
        return []

    def inputs(self) -> dict[str, str]:
        """The options naming a model or data to stage onto each node (`section.field` -> the value as
        given), for the chosen dataset; a custom dataset's `:function` is not part of its file."""
        t = self.train_config
        found = {f"train_config.{f}": getattr(t, f) for f in ("model_name", "tokenizer_name", "data_path")}
        dataset_files = {
            "alpaca_dataset": ["data_path"],
            "grammar_dataset": ["train_split", "test_split"],
            "custom_dataset": ["file"] if not t.prompt_template else [],
        }
        section = getattr(self, t.dataset)
        for field in dataset_files.get(t.dataset, []):
            if field in section.model_fields_set:  # a default names llama-recipes' own tree: nothing to stage
                found[f"{t.dataset}.{field}"] = getattr(section, field)
        if "custom_dataset.file" in found:
            found["custom_dataset.file"] = self.custom_dataset.location
        return {k: v for k, v in found.items() if v}

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
    def _build(
        cls, assignments: list[tuple[str, Any]], source: str, problems: list[str] | None = None, from_text: bool = False
    ) -> Recipe:
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
                sectioned = section_name in ("lora_config", *DATASET_SECTIONS) or len(_resolve(field)) > 1
                flag = f"{section_name}.{field}" if sectioned else field
                if value is True:
                    args.append(f"--{flag}")
                else:
                    args.extend([f"--{flag}", _render(value)])
        return args

    @classmethod
    def help(cls) -> str:
        """Every flag with its type, default and description, generated from the sections above."""
        lines = []
        for section_name, section_cls in SECTIONS.items():
            lines.append(f"{section_name} (--name or --{section_name}.name):")
            for field, info in section_cls.model_fields.items():
                default = info.get_default(call_default_factory=True)
                choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
                kind = "|".join(map(str, choices)) or getattr(info.annotation, "__name__", str(info.annotation))
                text = f"  --{field} {kind} (default {_render(default) if default != '' else chr(39) * 2})"
                lines.append(text + (f": {info.description}" if info.description else ""))
        return "\n".join(lines)

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
    return [(s, name) for s, cls in SECTIONS.items() if name in cls.model_fields and s not in DATASET_SECTIONS]


def _all_names() -> list[str]:
    names = set()
    for section, cls in SECTIONS.items():
        for field in cls.model_fields:
            if section not in DATASET_SECTIONS:
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
