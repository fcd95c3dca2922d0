"""Precision and placement: bf16 weights that still learn, fp32 rotary frequencies, offload placement."""

from __future__ import annotations

import torch

from contract.recipe import Recipe
from launcher.train.config import ProcessRanks, derive
from launcher.train.optim import AnyPrecisionAdamW


def _train_bf16(optimizer_class, steps: int = 50, lr: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights after `steps` updates in bf16 with `optimizer_class`, the same updates on fp32 weights
    with torch's AdamW), from typical 0.02-scale weights and fixed gradients."""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(4096, generator=generator) * 0.02
    direction = torch.randn(4096, generator=generator).sign()  # a consistent pull, as over a few steps of training
    grads = [direction * (1 + 0.5 * torch.randn(4096, generator=generator)) for _ in range(steps)]
    bf16 = torch.nn.Parameter(start.to(torch.bfloat16))
    fp32 = torch.nn.Parameter(start.to(torch.bfloat16).float())
    optimizers = [optimizer_class([bf16], lr=lr, weight_decay=0.1), torch.optim.AdamW([fp32], lr=lr, weight_decay=0.1)]
    for grad in grads:
        for param, optimizer in zip((bf16, fp32), optimizers):
            param.grad = grad.to(param.dtype)
            optimizer.step()
    return bf16.detach().float(), fp32.detach()


def test_anyprecision_applies_small_bf16_updates_that_adamw_drops():
    start = _train_bf16(torch.optim.AdamW, steps=0)[0]
    plain, reference = _train_bf16(torch.optim.AdamW)
    spacing = torch.finfo(torch.bfloat16).eps * reference.abs()  # bf16's rounding step at each weight
    assert ((reference - start).abs() > 2 * spacing).float().mean() > 0.8  # fp32 moved most weights
    assert (plain == start).float().mean() > 0.7  # the trap: bf16 AdamW left them where they were
    kahan, _ = _train_bf16(AnyPrecisionAdamW)
    assert (kahan == start).float().mean() < 0.05
    assert ((kahan - reference).abs() <= spacing).float().mean() > 0.99  # the fp32 path, to one rounding


def _plan(tmp_path, *extra: str):
    return derive(
        Recipe.from_args(["--model_name", "m", "--output_dir", str(tmp_path), "--data_path", "d", *extra]),
        ProcessRanks(),
    )


def test_build_optimizer_takes_anyprecision_for_pure_bf16(tmp_path):
    from launcher.train.loop import build_optimizer

    model = torch.nn.Linear(4, 4)
    chosen = build_optimizer(
        model, _plan(tmp_path, "--pure_bf16", "--fsdp_config.optimizer", "anyprecision"), torch.device("cpu")
    )
    assert isinstance(chosen, AnyPrecisionAdamW)
    fp32 = build_optimizer(model, _plan(tmp_path, "--fsdp_config.optimizer", "anyprecision"), torch.device("cpu"))
    assert type(fp32) is torch.optim.AdamW  # fp32 weights need no compensation (llama-recipes does the same)


def test_pure_bf16_lora_keeps_rotary_frequencies_fp32(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    from launcher.train.model import _add_lora, cast_parameters

    cfg = _plan(tmp_path, "--use_peft", "--pure_bf16")
    model = _add_lora(AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.bfloat16), cfg, rank=0)
    cast_parameters(model, torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    buffers = dict(model.named_buffers())
    assert buffers and all(b.dtype == torch.float32 for n, b in buffers.items() if "inv_freq" in n), buffers


def test_cpu_offload_allocates_shards_on_the_cpu_and_buffers_on_the_gpu(tmp_path):
    from launcher.train.parallelize import placement

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert placement(_plan(tmp_path, "--fsdp_cpu_offload"), cuda) == (cpu, cuda)
    assert placement(_plan(tmp_path), cuda) == (cuda, cuda)
    assert placement(_plan(tmp_path, "--fsdp_cpu_offload"), cpu) == (cpu, cpu)


def test_anyprecision_state_reloads_with_fp32_moments_and_continues_identically():
    def run(steps: int, start: int = 0, resume_from: dict | None = None):
        torch.manual_seed(0)
        param = torch.nn.Parameter((torch.randn(64) * 0.02).to(torch.bfloat16))
        optimizer = AnyPrecisionAdamW([param], lr=1e-3)
        if resume_from:
            param.data.copy_(resume_from["param"])
            optimizer.load_state_dict(resume_from["optim"])
        for step in range(start, start + steps):
            param.grad = torch.randn(64, generator=torch.Generator().manual_seed(step)).to(torch.bfloat16)
            optimizer.step()
        return param.detach(), optimizer

    param, optimizer = run(3)
    saved = {"param": param.clone(), "optim": optimizer.state_dict()}
    _, resumed = run(0, resume_from=saved)
    assert {resumed.state[p]["exp_avg"].dtype for p in resumed.param_groups[0]["params"]} == {torch.float32}
    continued, _ = run(2, start=3, resume_from=saved)
    straight, _ = run(5)
    assert torch.equal(continued, straight)  # torch's load_state_dict alone would round the moments to bf16
