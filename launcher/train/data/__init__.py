"""Datasets: read, check, tokenize once (cached beside the data), pack or pad, batch by rank.

The datasets are llama-recipes' (`samsum_dataset`, `alpaca_dataset`, `grammar_dataset`,
`custom_dataset` from a Python file) plus ocift's `custom_dataset` from `--data_path` with
`--prompt_template`; where each finds its splits is in `sources`, and from there they share one path.

Order is a pure function of (seed, epoch), and the position inside an epoch is a count of
samples consumed by the whole job. That is all a checkpoint needs to continue exactly where it
stopped, on the same or a different number of processes.

Modules, one per concern: `sources` (each dataset's splits), `records` (find splits, read files),
`formats` (record -> prompt and response), `custom` (a custom dataset file), `tokens` (tokenize,
cache), `packing` (rows and batches), `sharding` (order and each rank's share). The names below are
the package's surface.
"""

from launcher.train.data.formats import SAMSUM_PROMPT, Formatter, load_split
from launcher.train.data.packing import collate, pack, truncate
from launcher.train.data.records import DataError, find_splits, read_records
from launcher.train.data.sharding import Dataset, hold_out, make_dataset
from launcher.train.data.sources import Splits, load_splits
from launcher.train.data.tokens import IGNORE, Example, load_examples, tokenize

__all__ = [
    "DataError",
    "Dataset",
    "Example",
    "Formatter",
    "IGNORE",
    "SAMSUM_PROMPT",
    "Splits",
    "collate",
    "find_splits",
    "hold_out",
    "load_examples",
    "load_split",
    "load_splits",
    "make_dataset",
    "pack",
    "read_records",
    "tokenize",
    "truncate",
]
