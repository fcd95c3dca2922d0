"""Where each `--dataset` finds its splits; from there every dataset takes one path.

- `samsum_dataset`: `--data_path` (a file, or a directory of `train.*` and `validation.*`), else the
  Hugging Face Hub's `samsum_dataset.hub_id` read with `datasets` (`train_split`/`test_split`).
- `alpaca_dataset`: the JSON array at `alpaca_dataset.data_path`; as llama-recipes'
  `InstructionDataset` (alpaca_dataset.py at llama-cookbook 1aecd00), a split named `train` is every
  record and any other the first 200, so its default validation is part of the training data.
- `grammar_dataset`: the CSV files `grammar_dataset.train_split` and `test_split`, as
  grammar_dataset.py there (a test_split left at llama-recipes' default: no validation).
- `custom_dataset`: `--custom_dataset.file` (see custom.py), or ocift's `--data_path` with
  `--prompt_template`.
Records from files or the Hub are formatted, tokenized (files: once, cached) and, like a custom
file's rows, packed or padded the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.recipe import Recipe
from launcher.storage.uri import is_remote
from launcher.train.data.custom import file_problems, load_custom
from launcher.train.data.formats import Formatter, format_records
from launcher.train.data.records import DataError, find_splits
from launcher.train.data.sharding import hold_out
from launcher.train.data.tokens import Example, load_examples, tokenize

ALPACA_VALIDATION_RECORDS = 200  # alpaca_dataset.py at 1aecd00: `self.ann[:200]` for any split but "train"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass
class Splits:
    """A run's tokenized data; `validation` is None when there is none (or run_validation is off)."""

    train: list[Example]
    train_source: str
    validation: list[Example] | None
    validation_source: str


def problems(recipe: Recipe, environ: dict[str, str] | None = None) -> list[str]:
    """What is wrong with the data options, found before any process group or model exists."""
    t = recipe.train_config
    env = os.environ if environ is None else environ
    if t.dataset == "custom_dataset":
        if t.prompt_template:
            return [] if t.data_path else ["data_path is required: custom_dataset with prompt_template reads it"]
        return file_problems(recipe.custom_dataset.location, recipe.custom_dataset.function)
    if t.dataset == "alpaca_dataset":
        return _file_problem("alpaca_dataset.data_path", recipe.alpaca_dataset.data_path)
    if t.dataset == "grammar_dataset":
        g = recipe.grammar_dataset
        test_given = "test_split" in g.model_fields_set
        return [
            *_file_problem("grammar_dataset.train_split", g.train_split),
            *(_file_problem("grammar_dataset.test_split", g.test_split) if test_given else []),
        ]
    if not t.data_path and _hub_unreachable(recipe.samsum_dataset.hub_id, env):
        offline = ", ".join(f"{v}={env[v]}" for v in OFFLINE_VARS if _truthy(env.get(v, "")))
        return [
            f"data_path is required here: samsum_dataset without --data_path is fetched from the Hugging Face "
            f"Hub ({recipe.samsum_dataset.hub_id}), and this node is offline ({offline}); give --data_path "
            "<samsum file or directory> (a local path or oci:// URI)"
        ]
    return []


def load_splits(
    recipe: Recipe, tokenizer: Any, *, cache_dir: Path, is_writer: bool, barrier: Callable[[], None]
) -> Splits:
    """Each split of the chosen dataset as examples. Files are tokenized once per node (see
    tokens.load_examples); the Hub and custom files are read by `is_writer` first, so a download
    happens once per node and the others find it in the `datasets` cache."""
    t = recipe.train_config
    validate = t.run_validation

    def files(train: Path, validation: Path | None, formatter: Formatter) -> tuple[list[Example], Any]:
        def load(path: Path) -> list[Example]:
            return load_examples(path, tokenizer, formatter, cache_dir=cache_dir, is_writer=is_writer, barrier=barrier)

        return load(train), (load(validation) if validation and validate else None)

    def writer_first(build: Callable[[str], list[Example]], train: str, test: str) -> tuple[list[Example], Any]:
        def one(split: str) -> list[Example]:
            built, failed = None, None
            if is_writer:
                try:
                    built = build(split)
                except DataError as exc:  # still meet the others at the barrier: they fail the same way
                    failed = exc
            barrier()
            if failed is not None:
                raise failed
            return build(split) if built is None else built

        return one(train), (one(test) if validate else None)

    if t.dataset == "custom_dataset" and not t.prompt_template:
        c = recipe.custom_dataset
        train, validation = writer_first(lambda split: load_custom(c, tokenizer, split), c.train_split, c.test_split)
        splits = Splits(train, f"{c.file} ({c.train_split})", validation, f"{c.file} ({c.test_split})")
    elif t.dataset == "samsum_dataset" and not t.data_path:
        s = recipe.samsum_dataset
        train, validation = writer_first(
            lambda split: _hub_examples(s.hub_id, split, tokenizer), s.train_split, s.test_split
        )
        splits = Splits(train, f"{s.hub_id}:{s.train_split}", validation, f"{s.hub_id}:{s.test_split}")
    elif t.dataset == "alpaca_dataset":
        a = recipe.alpaca_dataset
        every, _ = files(Path(a.data_path), None, Formatter(t.dataset))

        def pick(split: str) -> list[Example]:
            return every if split == "train" else every[:ALPACA_VALIDATION_RECORDS]

        splits = Splits(
            pick(a.train_split),
            f"{a.data_path} ({a.train_split})",
            pick(a.test_split) if validate else None,
            f"{a.data_path} ({a.test_split})",
        )
    elif t.dataset == "grammar_dataset":
        g = recipe.grammar_dataset
        test = Path(g.test_split) if "test_split" in g.model_fields_set else None
        train, validation = files(Path(g.train_split), test, Formatter(t.dataset))
        splits = Splits(train, g.train_split, validation, g.test_split)
    else:
        train_file, val_file = find_splits(t.data_path)
        train, validation = files(train_file, val_file, Formatter(t.dataset, t.prompt_template, t.response_field))
        splits = Splits(train, str(train_file), validation, str(val_file or train_file))
    if splits.validation is None and validate and t.val_split_ratio > 0:
        splits.train, splits.validation = hold_out(splits.train, t.val_split_ratio, t.seed)
        splits.validation_source = f"{splits.train_source} (held out)"
    return splits


def _hub_examples(hub_id: str, split: str, tokenizer: Any) -> list[Example]:
    """One split from the Hub (or a local dataset directory) through `datasets.load_dataset`."""
    if _hub_unreachable(hub_id, os.environ):
        raise DataError(f"samsum_dataset.hub_id {hub_id!r}: the Hugging Face Hub is offline here; give --data_path")
    import datasets

    try:
        rows = datasets.load_dataset(hub_id, split=split)
    except Exception as exc:  # noqa: BLE001 - no network, no such dataset or split: say which and what to do
        raise DataError(
            f"samsum_dataset: {hub_id!r} split {split!r} could not be loaded from the Hugging Face Hub "
            f"({type(exc).__name__}: {exc}); without network give --data_path"
        ) from exc
    formatter = Formatter("samsum_dataset")
    pairs = format_records([(i + 1, dict(row)) for i, row in enumerate(rows)], f"{hub_id}:{split}", formatter)
    return tokenize(pairs, tokenizer, label_prompt=formatter.label_prompt, eos=formatter.eos)


def _hub_unreachable(hub_id: str, env: Any) -> bool:
    """Offline by the Hub's own settings, and not a local dataset directory `datasets` reads as is."""
    return any(_truthy(env.get(v, "")) for v in OFFLINE_VARS) and not Path(hub_id).is_dir()


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _file_problem(flag: str, value: str) -> list[str]:
    return (
        []
        if is_remote(value) or Path(value).is_file()
        else [f"{flag}: {value!r} does not exist (give --{flag} <file>)"]
    )
