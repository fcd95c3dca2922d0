"""Real 2-process torchrun (gloo, CPU) runs of the tiny Llama: training, exports, resume."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from contract.manifest import is_committed
from launcher.train.data import (
    Formatter,
    find_splits,
    load_split,
    make_dataset,
    tokenize,
)
from tests.support import REPO, base_args, free_port, metrics, torchrun, torchrun_cmd, train_env

pytestmark = pytest.mark.slow


def eval_loss_of(model, tiny, world: int, strategy: str = "packing") -> float:
    """The in-job evaluation recomputed outside: the same examples, token-weighted mean loss."""
    from transformers import AutoTokenizer

    from launcher.train.loop import batch_loss

    tokenizer = AutoTokenizer.from_pretrained(tiny["model"])
    _, val_file = find_splits(tiny["data"])
    examples = tokenize(load_split(val_file, Formatter("samsum_dataset")), tokenizer)
    ds = make_dataset(examples, val_file, strategy=strategy, context_length=64, pad_id=tokenizer.pad_token_id)
    total = count = 0.0
    with torch.no_grad():
        for rank in range(world):
            for batch in ds.eval_batches(rank=rank, world=world, batch_size=1):
                loss_sum, _ = batch_loss(model, batch, torch.device("cpu"))
                total += float(loss_sum)
                count += batch["label_tokens"]
    return total / count


def test_lora_loss_falls_and_adapter_loads_with_plain_peft(tiny, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    torchrun(
        base_args(
            tiny,
            out,
            "--use_peft",
            "--lora_config.target_modules",
            "q_proj,k_proj,v_proj,o_proj",
            "--lora_config.r",
            "16",
            "--lr",
            "1e-2",
            "--num_epochs",
            "2",
            "--mixed_precision",
            "false",
            "--merge_lora",
        )
    )
    train, evals = metrics(out)
    assert len(train) == 28 and len(evals) == 2
    first, last = sum(r["loss"] for r in train[:3]) / 3, sum(r["loss"] for r in train[-3:]) / 3
    assert last < first - 0.4, (first, last)
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert all(r["tokens_per_s"] > 0 and r["peak_memory_bytes"] > 0 and r["mfu"] > 0 for r in train)

    # Plain PEFT, nothing of ocift: the adapter holds every rank's slice and reproduces the trained model.
    assert (out / "adapter_config.json").is_file()
    saved = load_file(out / "adapter_model.safetensors")
    assert len(saved) == 2 * 4 * 2  # layers x modules x (A, B)
    base = AutoModelForCausalLM.from_pretrained(tiny["model"])
    base_loss = eval_loss_of(base, tiny, world=2)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny["model"]), out).eval()
    loss = eval_loss_of(peft_model, tiny, world=2)
    assert loss == pytest.approx(evals[-1]["eval_loss"], rel=1e-5)
    assert loss < base_loss - 0.5

    merged = AutoModelForCausalLM.from_pretrained(out / "merged").eval()
    ids = torch.tensor([[1, 5, 17, 42, 99, 7]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft_model(ids).logits, atol=1e-4, rtol=1e-4)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["step"] == 28
    assert (out / "loss.png").stat().st_size > 1000
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-00000014", "step-00000028"]

    # --from_peft_checkpoint starts from that adapter on every rank (one step at a negligible lr keeps it).
    again = tmp_path / "again"
    torchrun(
        base_args(
            tiny,
            again,
            "--use_peft",
            "--from_peft_checkpoint",
            str(out),
            "--lr",
            "1e-12",
            "--max_train_step",
            "1",
            "--mixed_precision",
            "false",
            "--run_validation",
            "false",
        )
    )
    for key, tensor in load_file(again / "adapter_model.safetensors").items():
        torch.testing.assert_close(tensor, saved[key], atol=1e-6, rtol=0)


def test_full_finetune_exports_hf_model_and_dcp(tiny, tmp_path):
    """With tied input/output embeddings, which meta-device init on the other ranks must keep tied."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from launcher.train.tiny import make_tiny_model

    tied = {
        **tiny,
        "model": make_tiny_model(
            tmp_path / "tied", hidden_size=48, num_layers=2, num_heads=2, vocab_size=320, tie_word_embeddings=True
        ),
    }
    out = tmp_path / "out"
    torchrun(
        base_args(
            tied,
            out,
            "--lr",
            "2e-3",
            "--num_epochs",
            "1",
            "--mixed_precision",
            "false",
            "--gradient_clipping",
            "--gradient_accumulation_steps",
            "2",
            "--batching_strategy",
            "padding",
            "--dist_checkpoint_root_folder",
            str(tmp_path / "dcp"),
        )
    )
    train, evals = metrics(out)
    assert len(train) == 6  # 48 dialogues, one per row // (2 x 2 x 2)
    assert train[-1]["loss"] < train[0]["loss"] - 0.5
    model = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert AutoTokenizer.from_pretrained(out / "model").pad_token == "<pad>"
    assert eval_loss_of(model, tiny, world=2, strategy="padding") == pytest.approx(evals[-1]["eval_loss"], rel=1e-5)
    assert is_committed(tmp_path / "dcp" / "fine-tuned-tied")  # <root>/<dist_checkpoint_folder>-<model dir name>


def test_llama_recipes_command_line_verbatim_with_pure_bf16(tiny, tmp_path):
    out = tmp_path / "out"
    torchrun(
        [
            "--enable_fsdp",
            "--use_peft",
            "--peft_method",
            "lora",
            "--pure_bf16",
            "--batch_size_training",
            "1",
            "--model_name",
            str(tiny["model"]),
            "--output_dir",
            str(out),
            "--data_path",
            str(tiny["data"]),
            "--context_length",
            "64",
            "--max_train_step",
            "4",
        ]
    )
    saved = load_file(out / "adapter_model.safetensors")
    assert saved and all(t.dtype == torch.bfloat16 for t in saved.values())
    train, _ = metrics(out)
    assert [r["step"] for r in train] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in train)


LORA_RUN = [
    "--use_peft",
    "--lora_config.target_modules",
    "q_proj,v_proj,o_proj",
    "--lr",
    "5e-3",
    "--num_epochs",
    "3",
    "--gradient_accumulation_steps",
    "2",
    "--lr_scheduler",
    "cosine",
    "--warmup_steps",
    "2",
    "--checkpoint_interval_steps",
    "4",
    "--eval_every_steps",
    "5",
]
TOTAL_STEPS = 21  # 3 epochs x 7 steps: 58 packed samples // (2 per batch x 2 accumulated x 2 processes)


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    torchrun(base_args(tiny, out, *LORA_RUN))
    assert json.loads((out / "summary.json").read_text())["step"] == TOTAL_STEPS
    return out


def assert_same_adapter(a: Path, b: Path) -> None:
    ta, tb = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert ta.keys() == tb.keys()
    for key in ta:
        torch.testing.assert_close(ta[key], tb[key], atol=1e-6, rtol=1e-5, msg=key)


def test_interrupted_by_max_train_step_then_resumed_equals_uninterrupted(tiny, tmp_path, uninterrupted):
    out = tmp_path / "out"
    torchrun(base_args(tiny, out, *LORA_RUN, "--max_train_step", "6"))  # mid-epoch, off the checkpoint interval
    assert is_committed(out / "checkpoints" / "step-00000006")
    at_six = tmp_path / "at-six"
    shutil.copytree(out, at_six)

    torchrun(base_args(tiny, out, *LORA_RUN, "--resume", "auto"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith("step-00000006") and summary["step"] == TOTAL_STEPS
    assert_same_adapter(out, uninterrupted)
    with pytest.raises(AssertionError):
        assert_same_adapter(at_six, uninterrupted)  # the comparison can fail

    # 2 -> 1 process: DCP reshards the checkpoint; with no step left to take, the exported
    # adapter is exactly the one the 2-process run had at step 6.
    one = tmp_path / "one"
    shutil.copytree(at_six / "checkpoints", one / "checkpoints")
    torchrun(base_args(tiny, one, *LORA_RUN, "--max_train_step", "6", "--resume", "auto"), nproc=1)
    assert_same_adapter(one, at_six)
    # ... and it trains on from there alone.
    torchrun(base_args(tiny, one, *LORA_RUN, "--max_train_step", "8", "--resume", "auto"), nproc=1)
    assert [r["step"] for r in metrics(one)[0]][-2:] == [7, 8]


def test_sigterm_checkpoints_and_resume_equals_uninterrupted(tiny, tmp_path, uninterrupted):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        torchrun_cmd(base_args(tiny, out, *LORA_RUN)),
        cwd=REPO,
        env=train_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not ((out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").read_text()):
        time.sleep(0.05)  # the first lines come at step 5 (an evaluation)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output[-3000:]
    assert "event=sigterm" in output
    saved = [p for p in (out / "checkpoints").iterdir() if is_committed(p)]
    stopped_at = max(int(p.name.split("-")[1]) for p in saved)
    assert 0 < stopped_at < TOTAL_STEPS, output[-3000:]
    assert not (out / "adapter_model.safetensors").exists()  # an interrupted run exports nothing

    torchrun(base_args(tiny, out, *LORA_RUN, "--resume", "auto"))
    assert_same_adapter(out, uninterrupted)


def test_hsdp_two_nodes_with_node_local_output_dirs(tiny, tmp_path):
    """2 "nodes" x 2 processes on this host: HSDP (2 replicas x 2 shards) by default; each node has
    its own output_dir, so replica 0 (node 0) writes complete checkpoints alone."""
    from ocift.local import free_port

    port = free_port()
    procs = []
    for node in range(2):
        cmd = torchrun_cmd(
            base_args(
                tiny,
                tmp_path / f"node{node}",
                "--use_peft",
                "--max_train_step",
                "3",
                "--checkpoint_interval_steps",
                "2",
            ),
            nproc=2,
        )
        i = cmd.index("--master_port")
        cmd[i + 1] = str(port)
        cmd[i + 2 : i + 2] = ["--nnodes", "2", "--node_rank", str(node)]
        procs.append(
            subprocess.Popen(
                cmd, cwd=REPO, env=train_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert 'mesh="(2, 2)"' in outputs[0]
    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    assert [p.name for p in sorted((node0 / "checkpoints").iterdir())] == ["step-00000002", "step-00000003"]
    assert all(is_committed(p) for p in (node0 / "checkpoints").iterdir())
    assert not (node1 / "checkpoints").exists() or not list((node1 / "checkpoints").iterdir())
    assert not (node1 / "adapter_model.safetensors").exists()  # outputs are rank 0's

    # Node 0's checkpoint alone is complete: one process resumes from it and exports the same adapter.
    one = tmp_path / "one"
    shutil.copytree(node0 / "checkpoints", one / "checkpoints")
    torchrun(base_args(tiny, one, "--use_peft", "--max_train_step", "3", "--resume", "auto"), nproc=1)
    assert_same_adapter(one, node0)


def test_custom_instruction_dataset_with_held_out_validation_in_one_process(tiny, tmp_path):
    """`python -m launcher.train` without torchrun is a one-process job; custom data, no validation file."""
    rows = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a in range(8) for b in range(6)]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    args = [
        "--model_name",
        str(tiny["model"]),
        "--data_path",
        str(data),
        "--output_dir",
        str(out),
        "--dataset",
        "custom_dataset",
        "--prompt_template",
        "Q: {question}\nA: ",
        "--response_field",
        "answer",
        "--val_split_ratio",
        "0.25",
        "--batching_strategy",
        "padding",
        "--context_length",
        "32",
        "--use_peft",
        "--num_epochs",
        "1",
        "--batch_size_training",
        "4",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "launcher.train", *args],
        cwd=REPO,
        env=train_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    train, evals = metrics(out)
    assert len(train) == 9 and len(evals) == 1  # 36 of 48 rows train, 4 per step; 12 held out
    assert (out / "adapter_model.safetensors").is_file()


def test_compiled_layers_match_eager(tiny, tmp_path, uninterrupted):
    out = tmp_path / "out"
    torchrun(base_args(tiny, out, *LORA_RUN, "--compile", "--max_train_step", "2"))
    compiled = [r["loss"] for r in metrics(out)[0]]
    eager = [r["loss"] for r in metrics(uninterrupted)[0][:2]]
    assert compiled == pytest.approx(eager, rel=1e-3)


def test_hsdp_all_reduces_across_replicas_once_per_optimizer_step(tiny, tmp_path):
    """4 processes, a 2 x 2 mesh, 3 micro-batches: one replicate-dimension all-reduce per FSDP unit
    per optimizer step (not per micro-batch), and the replicas still end with equal gradients."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "4",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(REPO / "tests" / "train" / "hsdp_worker.py"),
        str(tiny["model"]),
        str(tiny["data"]),
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=train_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["units"] == 3  # two decoder layers and the root
    assert result["replicate_all_reduces"] == result["units"], result
    assert result["replicas_agree"] and result["grad_norm"] > 0, result


@pytest.mark.parametrize("work, timeout, ok", [(3, 30, True), (8, 2, False)])
def test_ranks_wait_for_rank_0_on_the_cpu_group_with_an_explicit_timeout(work, timeout, ok):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(REPO / "tests" / "train" / "wait_worker.py"),
        str(work),
        str(timeout),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=train_env(), capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0 and proc.stdout.count("passed") == 2, proc.stderr[-3000:]
    else:
        assert proc.returncode != 0
        assert "waiting for all ranks after rank 0's export: not all arrived within 2 s" in proc.stderr
