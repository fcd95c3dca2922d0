"""A split ready to batch: seeded order, each rank's share of every step, held-out validation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from launcher.train.data.packing import collate, pack, truncate
from launcher.train.data.tokens import Example


@dataclass
class Dataset:
    """Examples of one split, ready to batch."""

    examples: list[Example]
    pad_id: int
    source: str | Path

    def __len__(self) -> int:
        return len(self.examples)

    def order(self, seed: int, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        return torch.randperm(len(self.examples), generator=generator).tolist()

    def steps_per_epoch(self, global_batch: int) -> int:
        return len(self.examples) // global_batch

    def windows(
        self, *, seed: int, epoch: int, start: int, rank: int, world: int, batch_size: int, accumulation: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Accumulation windows (lists of micro-batches) for this rank, from sample `start`.

        Each optimizer step consumes `batch_size * accumulation * world` samples of the epoch's
        order; an incomplete last step is dropped so every rank runs the same number of steps.
        """
        order = self.order(seed, epoch)
        global_batch = batch_size * accumulation * world
        for base in range(start, len(order) - global_batch + 1, global_batch):
            step = order[base : base + global_batch]
            window = []
            for micro in range(accumulation):
                offset = (micro * world + rank) * batch_size
                window.append(collate([self.examples[i] for i in step[offset : offset + batch_size]], self.pad_id))
            yield window

    def eval_batches(self, *, rank: int, world: int, batch_size: int, limit: int = 0) -> list[dict[str, Any]]:
        """This rank's share of validation, in file order; every rank gets the same count."""
        per_round = batch_size * world
        rounds = len(self.examples) // per_round
        if limit:
            rounds = min(rounds, limit)
        return [
            collate(
                self.examples[r * per_round + rank * batch_size : r * per_round + (rank + 1) * batch_size], self.pad_id
            )
            for r in range(rounds)
        ]


def hold_out(examples: list[Example], ratio: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A validation split taken from train (a seeded choice) when the data has none."""
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(len(examples) * ratio))
    val = set(order[:n_val])
    return ([e for i, e in enumerate(examples) if i not in val], [e for i, e in enumerate(examples) if i in val])


def make_dataset(
    examples: list[Example], source: str | Path, *, strategy: str, context_length: int, pad_id: int
) -> Dataset:
    chosen = pack(examples, context_length) if strategy == "packing" else truncate(examples, context_length)
    return Dataset(chosen, pad_id, source)
