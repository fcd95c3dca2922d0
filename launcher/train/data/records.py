"""Reading: find a dataset's splits and read its records (JSONL, JSON array, Parquet, CSV)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
VALIDATION_NAMES = ("validation", "val", "valid", "dev")


class DataError(ValueError):
    """Bad or unusable data: the message names the file (and line) at fault."""


def find_splits(data_path: str | Path) -> tuple[Path, Path | None]:
    """A file is the training split; a directory holds `train.*` and maybe `validation.*`."""
    path = Path(data_path)
    if path.is_file():
        return path, None
    if not path.is_dir():
        raise DataError(f"data_path {str(path)!r} does not exist")

    def pick(stems: tuple[str, ...]) -> Path | None:
        for stem in stems:
            for suffix in SUFFIXES:
                if (path / f"{stem}{suffix}").is_file():
                    return path / f"{stem}{suffix}"
        return None

    train = pick(("train",))
    if train is None:
        raise DataError(f"{path}: no train.jsonl, train.json, train.parquet or train.csv")
    return train, pick(VALIDATION_NAMES)


def read_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, record) pairs from JSONL, a JSON array, Parquet, or CSV with a header row."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        return [(i + 1, row) for i, row in enumerate(pq.read_table(path).to_pylist())]
    if path.suffix == ".csv":
        # utf-8-sig: llama-recipes' grammar notebook writes its CSVs with a BOM (grammar_dataset_process.ipynb)
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            return [(reader.line_num, row) for row in reader]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return [(i + 1, row) for i, row in enumerate(rows)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return records
