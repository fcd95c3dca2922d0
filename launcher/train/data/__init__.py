"""Datasets: read, check, tokenize once (cached beside the data), pack or pad, batch by rank.

Two kinds, as in llama-recipes: `samsum_dataset` (records with `dialogue` and `summary`) and
`custom_dataset` (records rendered through `--prompt_template`, trained on `--response_field`).
In both, the loss covers only the response (summary) and its EOS; the prompt is context.

Order is a pure function of (seed, epoch), and the position inside an epoch is a count of
samples consumed by the whole job. That is all a checkpoint needs to continue exactly where it
stopped, on the same or a different number of processes.

Modules, one per concern: `records` (find splits, read files), `formats` (record -> prompt and
response), `tokens` (tokenize, cache), `packing` (rows and batches), `sharding` (order and each
rank's share). The names below are the package's surface.
"""

from launcher.train.data.formats import SAMSUM_PROMPT, Formatter, load_split
from launcher.train.data.packing import collate, pack, truncate
from launcher.train.data.records import DataError, find_splits, read_records
from launcher.train.data.sharding import Dataset, hold_out, make_dataset
from launcher.train.data.tokens import IGNORE, Example, load_examples, tokenize

__all__ = ["DataError", "Dataset", "Example", "Formatter", "IGNORE", "SAMSUM_PROMPT", "collate", "find_splits",
           "hold_out", "load_examples", "load_split", "make_dataset", "pack", "read_records", "tokenize", "truncate"]
