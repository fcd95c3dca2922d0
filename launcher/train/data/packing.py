"""Packing or padding tokenized examples into rows, and collating rows into a batch."""

from __future__ import annotations

from typing import Any

import torch

from launcher.train.data.tokens import IGNORE, Example


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
            documents[row, at : at + length] = number
            positions[row, at : at + length] = torch.arange(length)
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
