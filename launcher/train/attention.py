"""Document masking: attention that stays inside each document of a packed row.

Packing (llama-recipes' default) concatenates dialogues and cuts the stream into rows; with a
plain causal mask every token then attends to the unrelated dialogues before it in its row.
With `--document_masking` (the default) a token attends only to earlier tokens of its own
document, and positions restart at 0 per document, so a packed document sees exactly what it
would see alone.

The mask is built here from the host-made `document_ids` and handed to the model as a ready
4D mask, which transformers passes through unchanged. That keeps it free of host syncs (its own
packed-sequence detection from `position_ids` reads a device value per forward) and lets the
form fit the attention kernel:
- `flex_attention`: a block-sparse `BlockMask`; blocks between different documents are skipped,
  so attention costs less than unmasked causal attention when documents are short.
- `sdpa`: a dense boolean (batch, 1, seq, seq) mask. Correct, but SDPA cannot use its flash
  kernel with an arbitrary mask: the cheap choice on a GPU is `flex_attention`.
- `eager`: the same mask as additive float biases, which eager attention adds to its scores.

`--attn_implementation auto` (the default) picks by device (`resolve_implementation`): on CUDA,
document-masked rows go to flex_attention, because with a dense mask transformers' SDPA path
drops `is_causal` (and repeats K/V per head for GQA) and CUDA runs a full (seq x seq) kernel with
no block skipping; unmasked rows stay on SDPA, whose flash kernel runs causal without a mask. On
CPU it is SDPA either way: flex_attention there is an unfused reference implementation.
"""

from __future__ import annotations

import functools

import torch


def resolve_implementation(requested: str, device_type: str, document_masking: bool) -> str:
    """The transformers `attn_implementation` for `--attn_implementation requested` on `device_type`."""
    if requested != "auto":
        return requested
    return "flex_attention" if device_type == "cuda" and document_masking else "sdpa"


def allowed(document_ids: torch.Tensor) -> torch.Tensor:
    """(batch, 1, seq, seq) booleans: query i may attend key j (causal, same document)."""
    seq = document_ids.shape[1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=document_ids.device).tril()
    same = document_ids[:, None, :, None] == document_ids[:, None, None, :]
    return same & causal


def document_mask(document_ids: torch.Tensor, implementation: str):
    """The 4D mask for `implementation` (a transformers `attn_implementation`)."""
    if implementation == "flex_attention":
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b, h, q, kv):
            return (kv <= q) & (document_ids[b, q] == document_ids[b, kv])

        batch, seq = document_ids.shape
        build = _compiled_block_mask() if document_ids.is_cuda else create_block_mask
        return build(mask_mod, batch, None, seq, seq, device=document_ids.device)
    mask = allowed(document_ids)
    if implementation == "eager":
        return torch.zeros(mask.shape, device=mask.device).masked_fill_(~mask, torch.finfo(torch.float32).min)
    return mask


@functools.cache
def _compiled_block_mask():
    """`create_block_mask` compiled once: on a GPU it then never holds the (seq x seq) mask."""
    from torch.nn.attention.flex_attention import create_block_mask

    return torch.compile(create_block_mask)
