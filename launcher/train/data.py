"""Datasets: read, check, tokenize once (cached beside the data), pack or pad, batch by rank.

Two kinds, as in llama-recipes: `samsum_dataset` (records with `dialogue` and `summary`) and
`custom_dataset` (records rendered through `--prompt_template`, trained on `--response_field`).
In both, the loss covers only the response (summary) and its EOS; the prompt is context.

Order is a pure function of (seed, epoch), and the position inside an epoch is a count of
samples consumed by the whole job. That is all a checkpoint needs to continue exactly where it
stopped, on the same or a different number of processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

SAMSUM_PROMPT = "Summarize this dialog:\n{dialogue}\n---\nSummary:\n"
IGNORE = -100
SUFFIXES = (".jsonl", ".json", ".parquet")
VALIDATION_NAMES = ("validation", "val", "valid", "dev")
CACHE_VERSION = 1


class DataError(ValueError):
    """Bad or unusable data: the message names the file (and line) at fault."""


@dataclass(frozen=True)
class Example:
    """One training row. `lengths` are the documents (or document pieces) packed into it, in
    order; empty means the row is one document. Document masking and per-document positions
    read them; they are not cached, packing recomputes them."""

    input_ids: list[int]
    labels: list[int]
    lengths: tuple[int, ...] = ()


# ---- reading -------------------------------------------------------------------------------


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
        raise DataError(f"{path}: no train.jsonl, train.json or train.parquet")
    return train, pick(VALIDATION_NAMES)


def read_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, record) pairs from JSONL, a JSON array, or Parquet."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        return [(i + 1, row) for i, row in enumerate(pq.read_table(path).to_pylist())]
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


class Formatter:
    """Turns one record into (prompt, response) text, or says which field is missing."""

    def __init__(self, dataset: str, prompt_template: str = "", response_field: str = "response"):
        self.dataset = dataset
        self.template = SAMSUM_PROMPT if dataset == "samsum_dataset" else prompt_template
        self.response_field = "summary" if dataset == "samsum_dataset" else response_field

    def __call__(self, record: Any, where: str) -> tuple[str, str]:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object with fields, got {type(record).__name__}")
        response = record.get(self.response_field)
        if not isinstance(response, str):
            raise DataError(f"{where}: missing text field {self.response_field!r}")
        try:
            prompt = self.template.format(**record)
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc.args[0]!r} used by the prompt") from None
        except (IndexError, ValueError) as exc:
            raise DataError(f"prompt_template {self.template!r} is not a valid format string: {exc}") from None
        return prompt, response


def load_split(path: Path, formatter: Formatter) -> list[tuple[str, str]]:
    """Read and check every record of one split; an empty split is an error."""
    pairs = [formatter(record, f"{path}:{number}") for number, record in read_records(path)]
    if not pairs:
        raise DataError(f"{path}: no records")
    return pairs


# ---- tokenizing, with a cache ----------------------------------------------------------------


def tokenize(pairs: list[tuple[str, str]], tokenizer) -> list[Example]:
    """Prompt with BOS (as the tokenizer adds it), response + EOS; labels only on the response."""
    eos = tokenizer.eos_token_id
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=True)["input_ids"]
    responses = tokenizer([r for _, r in pairs], add_special_tokens=False)["input_ids"]
    return [
        Example(input_ids=p + r + [eos], labels=[IGNORE] * len(p) + r + [eos])
        for p, r in zip(prompts, responses)
    ]


def tokenizer_fingerprint(tokenizer) -> str:
    backend = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer)
    ids = (tokenizer.bos_token_id, tokenizer.eos_token_id)
    return hashlib.sha256((backend + repr(ids)).encode()).hexdigest()


def cache_key(path: Path, formatter: Formatter, tokenizer) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    key = {
        "version": CACHE_VERSION,
        "data": digest.hexdigest(),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "template": formatter.template,
        "response": formatter.response_field,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(path: Path, key: str, fallback_dir: Path) -> Path:
    """Beside the data when that directory is writable, else under the output directory."""
    beside = path.parent / ".ocift-tokenized"
    directory = beside if os.access(path.parent, os.W_OK) else fallback_dir / "tokenized"
    return directory / f"{path.stem}-{key}.pt"


def write_cache(target: Path, examples: list[Example]) -> None:
    """Atomically: a reader sees the whole file or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"input_ids": [torch.tensor(e.input_ids, dtype=torch.int32) for e in examples],
               "labels": [torch.tensor(e.labels, dtype=torch.int32) for e in examples]}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_cache(target: Path) -> list[Example]:
    payload = torch.load(target, weights_only=True)
    return [Example(i.tolist(), l.tolist()) for i, l in zip(payload["input_ids"], payload["labels"])]


# ---- packing / padding ------------------------------------------------------------------------


def pack(examples: list[Example], context_length: int) -> list[Example]:
    """Concatenate everything and cut into `context_length` chunks (the last may be shorter), as
    llama-recipes does; each chunk remembers where its documents (or pieces of one cut at a
    chunk edge) begin and end, so attention can be kept within them."""
    ids = [t for e in examples for t in e.input_ids]
    labels = [t for e in examples for t in e.labels]
    ends, total = [], 0
    for e in examples:
        total += len(e.input_ids)
        ends.append(total)
    chunks, doc = [], 0
    for start in range(0, len(ids), context_length):
        stop = min(start + context_length, len(ids))
        lengths, at = [], start
        while at < stop:
            while ends[doc] <= at:
                doc += 1
            piece_end = min(ends[doc], stop)
            lengths.append(piece_end - at)
            at = piece_end
        chunks.append(Example(ids[start:stop], labels[start:stop], tuple(lengths)))
    return chunks


def truncate(examples: list[Example], context_length: int) -> list[Example]:
    return [Example(e.input_ids[:context_length], e.labels[:context_length]) for e in examples]


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad to the longest. `label_tokens` and `tokens` are host ints, so the loss and the
    throughput metrics need no device sync.

    `document_ids` numbers the documents of each row (the padding is one more document) and
    `position_ids` restart at 0 in each: what document masking feeds the model instead of
    `attention_mask`. A document's first token is not a target: the token before it belongs to
    another document (tokenized data has its BOS and prompt there, unlabelled anyway)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    documents = torch.zeros((len(examples), width), dtype=torch.long)
    positions = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
        pieces = [*(e.lengths or (n,)), *((width - n,) if width > n else ())]
        at = 0
        for number, length in enumerate(pieces):
            documents[row, at:at + length] = number
            positions[row, at:at + length] = torch.arange(length)
            labels[row, at] = IGNORE  # never predicted from another document (a no-op for BOS/prompt starts)
            at += length
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "document_ids": documents,
        "position_ids": positions,
        "labels": labels,
        "label_tokens": int((labels[:, 1:] != IGNORE).sum()),
        "tokens": int(mask.sum()),
    }


@dataclass
class Dataset:
    """Examples of one split, ready to batch."""

    examples: list[Example]
    pad_id: int
    source: Path

    def __len__(self) -> int:
        return len(self.examples)

    def order(self, seed: int, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        return torch.randperm(len(self.examples), generator=generator).tolist()

    def steps_per_epoch(self, global_batch: int) -> int:
        return len(self.examples) // global_batch

    def windows(self, *, seed: int, epoch: int, start: int, rank: int, world: int, batch_size: int,
                accumulation: int) -> Iterator[list[dict[str, Any]]]:
        """Accumulation windows (lists of micro-batches) for this rank, from sample `start`.

        Each optimizer step consumes `batch_size * accumulation * world` samples of the epoch's
        order; an incomplete last step is dropped so every rank runs the same number of steps.
        """
        order = self.order(seed, epoch)
        global_batch = batch_size * accumulation * world
        for base in range(start, len(order) - global_batch + 1, global_batch):
            step = order[base:base + global_batch]
            window = []
            for micro in range(accumulation):
                offset = (micro * world + rank) * batch_size
                window.append(collate([self.examples[i] for i in step[offset:offset + batch_size]], self.pad_id))
            yield window

    def eval_batches(self, *, rank: int, world: int, batch_size: int, limit: int = 0) -> list[dict[str, Any]]:
        """This rank's share of validation, in file order; every rank gets the same count."""
        per_round = batch_size * world
        rounds = len(self.examples) // per_round
        if limit:
            rounds = min(rounds, limit)
        return [collate(self.examples[r * per_round + rank * batch_size:r * per_round + (rank + 1) * batch_size],
                        self.pad_id) for r in range(rounds)]


def load_examples(path: Path, tokenizer, formatter: Formatter, *, cache_dir: Path, is_writer: bool,
                  barrier) -> list[Example]:
    """Check and tokenize a split once: `is_writer` (local rank 0) writes the cache, the rest wait.

    Every process checks the records itself (cheap), so a bad file fails everywhere with the
    same message instead of leaving peers waiting at the barrier.
    """
    pairs = load_split(path, formatter)
    target = cache_path(path, cache_key(path, formatter, tokenizer), cache_dir)
    if is_writer and not target.is_file():
        write_cache(target, tokenize(pairs, tokenizer))
    barrier()
    return read_cache(target)


def hold_out(examples: list[Example], ratio: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A validation split taken from train (a seeded choice) when the data has none."""
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(len(examples) * ratio))
    val = set(order[:n_val])
    return ([e for i, e in enumerate(examples) if i not in val], [e for i, e in enumerate(examples) if i in val])


def make_dataset(examples: list[Example], source: Path, *, strategy: str, context_length: int, pad_id: int) -> Dataset:
    chosen = pack(examples, context_length) if strategy == "packing" else truncate(examples, context_length)
    return Dataset(chosen, pad_id, source)
