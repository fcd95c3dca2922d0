"""llama-recipes' custom dataset: a Python file whose function builds each split, already tokenized.

As in llama-recipes (`get_custom_dataset` in src/llama_recipes/utils/dataset_utils.py and
docs/Dataset.md, meta-llama/llama-cookbook at 1aecd00924738239f8d86f342b36bacad180d2b3):
`--custom_dataset.file my_dataset.py[:function]` names a `.py` file, loaded as a module from its
path, and the function (default `get_custom_dataset`) is called as
`function(dataset_config, tokenizer, split)`, `split` being `custom_dataset.train_split` or
`test_split`. It returns rows with `input_ids`, `labels` and optionally `attention_mask`: a
`datasets.Dataset`, a list of dicts, or any iterable of mappings (tensors are accepted).
Positions where `attention_mask` is 0 are padding and are dropped: rows are then packed or
padded like every other dataset.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from launcher.storage.uri import is_remote
from launcher.train.data.records import DataError
from launcher.train.data.tokens import Example


def file_problems(location: str, function: str) -> list[str]:
    """What can be checked without running the file: it exists, is Python, and defines `function`
    at module level (read with `ast`, so nothing of it runs before training starts)."""
    path = Path(location)
    if path.suffix != ".py":
        return [f"custom_dataset.file: {location!r} is not a .py file"]
    if is_remote(location):
        return []  # checked again once staged (the launcher derives the plan before and after staging)
    if not path.is_file():
        return [
            f"custom_dataset.file: {location!r} does not exist (give --custom_dataset.file my_dataset.py"
            "[:function], or --prompt_template with --data_path)"
        ]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        return [f"custom_dataset.file: {location} is not valid Python: {exc}"]
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return []  # names it cannot see: the call will tell
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    if function not in names:
        defined = sorted(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        return [
            f"custom_dataset.file: {location} has no function {function!r} "
            f"(it defines: {', '.join(defined) or 'none'}; name another as {location}:<function>)"
        ]
    return []


def load_custom(dataset_config: Any, tokenizer: Any, split: str) -> list[Example]:
    """Run the file's function for `split` and check what it returns, row by row."""
    path = Path(dataset_config.location)
    where = f"{path}:{dataset_config.function}(split={split!r})"
    spec = importlib.util.spec_from_file_location(f"ocift_custom_dataset_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise DataError(f"custom_dataset.file: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: dataclasses and pickling look the module up there
    try:
        spec.loader.exec_module(module)
        function = getattr(module, dataset_config.function, None)
        if not callable(function):
            raise DataError(f"custom_dataset.file: {path} has no function {dataset_config.function!r}")
        rows = function(dataset_config, tokenizer, split)
        examples = [_example(row, f"{where} row {index}") for index, row in enumerate(rows or [])]
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: say where in it
        raise DataError(f"{where} raised {type(exc).__name__}: {exc}{_in_file(exc, path)}") from exc
    if not examples:
        raise DataError(f"{where} returned no rows")
    return examples


def _example(row: Any, where: str) -> Example:
    if not hasattr(row, "keys"):
        raise DataError(f"{where}: expected a mapping with input_ids and labels, got {type(row).__name__}")
    columns = {}
    for name in ("input_ids", "labels", "attention_mask"):
        if name not in row:
            if name == "attention_mask":
                continue
            raise DataError(f"{where}: no {name!r} (rows need input_ids, labels and optionally attention_mask)")
        value = row[name]
        value = value.tolist() if hasattr(value, "tolist") else list(value)
        if not all(isinstance(v, (int, float)) and float(v).is_integer() for v in value):
            raise DataError(f"{where}: {name} must be a list of integers")
        columns[name] = [int(v) for v in value]
    ids, labels = columns["input_ids"], columns["labels"]
    mask = columns.get("attention_mask", [1] * len(ids))
    if not len(ids) == len(labels) == len(mask):
        raise DataError(
            f"{where}: input_ids, labels and attention_mask differ in length ({len(ids)}, {len(labels)}, {len(mask)})"
        )
    keep = [i for i, m in enumerate(mask) if m]
    return Example([ids[i] for i in keep], [labels[i] for i in keep])


def _in_file(exc: BaseException, path: Path) -> str:
    """` (at my_dataset.py:12)`: the last line of the user's file on the way to the error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f" (at {path.name}:{frames[-1].lineno})" if frames else ""
