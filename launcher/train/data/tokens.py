"""Tokenizing, once: labels only on the response, cached beside the data for every process."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from launcher.train.data.formats import Formatter, load_split

IGNORE = -100
CACHE_VERSION = 2


@dataclass(frozen=True)
class Example:
    """One training row. `lengths` are the documents (or document pieces) packed into it, in
    order; empty means the row is one document. Document masking and per-document positions
    read them; they are not cached, packing recomputes them."""

    input_ids: list[int]
    labels: list[int]
    lengths: tuple[int, ...] = ()


def tokenize(pairs: list[tuple[str, str]], tokenizer, *, label_prompt: bool = False, eos: bool = True) -> list[Example]:
    """Prompt with BOS (as the tokenizer adds it), then the response and EOS; labels on the response
    and EOS, and on the prompt too with `label_prompt` (grammar_dataset, as llama-recipes has it)."""
    tail = [tokenizer.eos_token_id] if eos else []
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=True)["input_ids"]
    responses = tokenizer([r for _, r in pairs], add_special_tokens=False)["input_ids"]
    return [
        Example(input_ids=p + r + tail, labels=(p if label_prompt else [IGNORE] * len(p)) + r + tail)
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
        "format": [formatter.dataset, formatter.label_prompt, formatter.eos],
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
    payload = {
        "input_ids": [torch.tensor(e.input_ids, dtype=torch.int32) for e in examples],
        "labels": [torch.tensor(e.labels, dtype=torch.int32) for e in examples],
    }
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
    return [Example(ids.tolist(), labels.tolist()) for ids, labels in zip(payload["input_ids"], payload["labels"])]


def load_examples(
    path: Path, tokenizer, formatter: Formatter, *, cache_dir: Path, is_writer: bool, barrier
) -> list[Example]:
    """Check and tokenize a split once: `is_writer` (local rank 0) writes the cache, the rest wait.

    Every process checks the records itself (cheap), so a bad file fails everywhere with the
    same message instead of leaving peers waiting at the barrier.
    """
    pairs = load_split(path, formatter)
    target = cache_path(path, cache_key(path, formatter, tokenizer), cache_dir)
    if is_writer and not target.is_file():
        write_cache(target, tokenize(pairs, tokenizer, label_prompt=formatter.label_prompt, eos=formatter.eos))
    barrier()
    return read_cache(target)
