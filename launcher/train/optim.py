"""AdamW for bf16 weights: `--fsdp_config.optimizer anyprecision` (with `--pure_bf16`).

Plain AdamW on bf16 weights drops most updates: bf16 keeps 8 significant bits, so a step
smaller than half the spacing at the weight's magnitude rounds back to the old value (a 0.02
weight has a spacing of 1.2e-4; an lr 1e-5 step vanishes). Kahan summation keeps what rounding
lost in a compensation buffer and adds it to the next update, so the bf16 weight follows the
fp32 trajectory to within one rounding.

Semantics as llama-recipes' AnyPrecisionAdamW (src/llama_recipes/policies/anyprecision_optimizer.py,
meta-llama/llama-cookbook 1aecd00): Adam moments with bias correction, decoupled weight decay,
a Kahan compensation buffer in the weights' dtype. Differences, on purpose: compensation is always
on (llama-recipes' finetuning.py passes use_kahan_summation=False, which leaves the trap in place);
the moments are fp32 (bf16 second moments with beta2 0.999 cannot register an increment of 0.1%);
weight decay goes through the compensated update instead of a separate bf16 multiply that rounds
away as well.
"""

from __future__ import annotations

from itertools import chain

import torch


class AnyPrecisionAdamW(torch.optim.Optimizer):
    """AdamW whose weight updates are Kahan-compensated in the weights' own dtype."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        moment_dtype: torch.dtype = torch.float32,
    ):
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "moment_dtype": moment_dtype}
        )

    def load_state_dict(self, state_dict: dict) -> None:
        """As torch's, but the moments keep their own dtype: `Optimizer.load_state_dict` casts every
        floating-point state tensor except `step` to its parameter's dtype (torch/optim/optimizer.py,
        `_process_value_according_to_param_policy`, v2.13), which would turn fp32 moments into bf16."""
        saved_ids = chain.from_iterable(g["params"] for g in state_dict["param_groups"])
        params = dict(zip(saved_ids, chain.from_iterable(g["params"] for g in self.param_groups)))
        moments = {
            i: {k: v for k, v in s.items() if k in ("exp_avg", "exp_avg_sq")} for i, s in state_dict["state"].items()
        }
        super().load_state_dict(state_dict)
        for i, kept in moments.items():
            for key, value in kept.items():
                self.state[params[i]][key] = value.to(device=params[i].device)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, dtype=group["moment_dtype"])
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=group["moment_dtype"])
                    state["compensation"] = torch.zeros_like(p)
                state["step"] += 1
                step = float(state["step"])
                grad = p.grad.to(state["exp_avg"].dtype)
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
                old = p.to(torch.float32)
                update = (state["exp_avg"] / denom).mul_(-lr / (1 - beta1**step))
                if decay:
                    update.add_(old, alpha=-lr * decay)
                update.add_(state["compensation"].to(torch.float32))
                p.copy_(old + update)  # rounded to p's dtype
                state["compensation"].copy_(update.sub_(p.to(torch.float32) - old))  # what the rounding lost
        return loss
