"""Next-token cross-entropy over the LM head, chunk by chunk (`--loss_chunk_size`).

The plain path asks the model for the logits of every position and upcasts them to fp32:
(tokens x vocabulary) values, several times over (the bf16 logits, the fp32 copy, the
log-softmax, their gradients). For Llama-3's 128k vocabulary at 4096 x 8 tokens that is
16 GiB per fp32 copy. Here the LM head runs on `chunk` tokens at a time; each chunk's logits
give its loss and, while they exist, their gradient with respect to the hidden states and the
head's weight, and are then freed. Backward only scales those stored gradients. The arithmetic
per element is the plain path's: logits in the compute dtype, upcast to fp32 for the softmax,
gradient cast back to the compute dtype before the two matmuls.
"""

from __future__ import annotations

import torch

from launcher.train.data import IGNORE


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over targets != IGNORE of cross_entropy(hidden @ weight.T, target), chunked."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
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
                grad_hidden[start:start + chunk] = grad @ weight
            if want_weight:
                grad_weight += grad.T @ h
        ctx.grads = (grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_hidden, grad_weight = ctx.grads
        del ctx.grads
        return (None if grad_hidden is None else grad_hidden * grad_total,
                None if grad_weight is None else grad_weight * grad_total, None, None)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """The summed next-token loss of `hidden` (..., H) through a bias-free head `weight` (V, H)
    against `targets` (...) where IGNORE marks positions without a label; fp32 scalar."""
    return _LinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), weight, targets.reshape(-1), chunk)
