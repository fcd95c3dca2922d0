"""Next-token cross-entropy over the LM head, chunk by chunk (`--loss_chunk_size`).

The plain path asks the model for the logits of every position and upcasts them to fp32:
(tokens x vocabulary) values, several times over (the bf16 logits, the fp32 copy, the
log-softmax, their gradients). For Llama-3's 128k vocabulary at 4096 x 8 tokens that is
16 GiB per fp32 copy. Here the LM head runs on `chunk` tokens at a time; each chunk's logits
give its loss and, while they exist, their gradient with respect to the hidden states and the
head's weight, and are then freed. Backward only scales those stored gradients. The arithmetic
per element is the plain path's: logits in the compute dtype, upcast to fp32 for the softmax,
gradient cast back to the compute dtype before the two matmuls.

`--loss_chunk_size -1` (the default) chunks by `AUTO_CHUNK_SIZE` when the vocabulary exceeds
`AUTO_CHUNK_VOCABULARY` and the head is a plain linear layer: at Llama-3's 128,256 entries one fp32
copy of 4096 tokens' logits is 2.1 GB; at Llama-2's 32,000 it is 0.5 GB, not worth a change of path.
"""

from __future__ import annotations

import torch
from torch import nn

from launcher.train.data import IGNORE

AUTO_CHUNK_VOCABULARY = 65_536  # above this, `--loss_chunk_size -1` chunks
AUTO_CHUNK_SIZE = 1024
AUTO = -1


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over targets != IGNORE of cross_entropy(hidden @ weight.T, target), chunked."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start : start + chunk], targets[start : start + chunk]
            logits = (h @ weight.T).float()
            valid = t != IGNORE
            safe = torch.where(valid, t, 0)
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, safe[:, None]).squeeze(1)
            total += ((lse - picked) * valid).sum()
            if not (want_hidden or want_weight):
                continue
            grad = logits.sub_(lse[:, None]).exp_()  # softmax, in the logits' memory
            grad.scatter_add_(1, safe[:, None], -valid[:, None].to(grad.dtype))
            grad = (grad * valid[:, None]).to(hidden.dtype)
            if want_hidden:
                grad_hidden[start : start + chunk] = grad @ weight
            if want_weight:
                grad_weight += grad.T @ h
        ctx.grads = (grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_hidden, grad_weight = ctx.grads
        del ctx.grads
        return (
            None if grad_hidden is None else grad_hidden * grad_total,
            None if grad_weight is None else grad_weight * grad_total,
            None,
            None,
        )


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """The summed next-token loss of `hidden` (..., H) through a bias-free head `weight` (V, H)
    against `targets` (...) where IGNORE marks positions without a label; fp32 scalar."""
    return _LinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), weight, targets.reshape(-1), chunk)


def head_extras(model: nn.Module) -> list[str]:
    """What makes the LM head more than hidden @ weight.T (a bias, logit scaling, soft-capping); empty
    for Llama, Mistral, Qwen. The chunked loss computes the plain product only."""
    extras = [name for name in ("final_logit_softcapping", "logit_scale") if getattr(model.config, name, None)]
    return extras + (["a bias"] if getattr(model.get_output_embeddings(), "bias", None) is not None else [])


def chunk_size(model: nn.Module, requested: int) -> int:
    """The chunk for `--loss_chunk_size requested`: AUTO decides by vocabulary size and head; 0 = off.
    An explicit size on a head the chunked loss cannot compute is refused."""
    if requested == AUTO:
        large = model.get_output_embeddings().weight.shape[0] > AUTO_CHUNK_VOCABULARY
        return AUTO_CHUNK_SIZE if large and not head_extras(model) else 0
    if requested and head_extras(model):
        raise ValueError(
            f"loss_chunk_size: this model's LM head is not a plain linear layer "
            f"({', '.join(head_extras(model))}); use loss_chunk_size 0"
        )
    return requested
