"""What a user sees of a run: progress lines and bar, help texts, the version, the plot's title."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.signals import Supervisor
from ocift import cli
from ocift.progress import Bar, Progress, from_log_line, from_metrics
from tests.support import REPO


def test_a_training_line_is_progress_and_other_lines_are_not() -> None:
    line = (
        "2026-12-01T20:00:00Z ocift info node=0 rank=0 event=train step=7/24 epoch=0 loss=2.3456 lr=0.003 "
        "tokens_per_s=1234 eta=1m05s eta_s=65 mfu=n/a"
    )
    assert from_log_line(line) == Progress(7, 24, 2.3456, 1234.0, 65.0)
    assert from_log_line(line.replace("event=train", "event=train_done")) is None
    assert from_log_line("[node 0] step 7 of something") is None
    assert Progress(7, 24, 2.3456, 1234.0, 65.0).line() == "step=7/24 loss=2.3456 tokens_per_s=1234 eta=1m05s"
    assert from_metrics({"step": 3, "eval_loss": 2.0}) is None


def test_the_bar_is_drawn_on_a_terminal_only() -> None:
    out = io.StringIO()
    bar = Bar(out, enabled=True)
    bar.update(Progress(6, 24, 2.5, 1000.0, 30.0))
    bar.write("[node 0] a log line")
    bar.close()
    text = out.getvalue()
    assert "6/24" in text and "loss=2.5000" in text and "eta=30s" in text and "[node 0] a log line" in text
    plain = io.StringIO()  # a pipe or a log file: lines only
    quiet = Bar(plain)
    quiet.update(Progress(6, 24))
    quiet.write("[node 0] a log line")
    assert plain.getvalue() == "[node 0] a log line\n"


def test_ocift_local_moves_the_bar_with_node_0s_training_lines() -> None:
    import threading

    from ocift.local import pump

    lines = (
        b"2026-12-01T20:00:00Z ocift info node=0 rank=0 event=model_ready method=lora\n"
        b"2026-12-01T20:00:09Z ocift info node=0 rank=0 event=train step=10/24 loss=2.1000 tokens_per_s=900 "
        b"eta=14s eta_s=14\n"
    )
    screen = io.StringIO()
    bar = Bar(screen, enabled=True)
    pump(io.BytesIO(lines), b"[node 0] ", io.BytesIO(), threading.Lock(), bar)
    bar.close()
    text = screen.getvalue()
    assert "[node 0] 2026-12-01T20:00:00Z ocift info node=0 rank=0 event=model_ready" in text  # lines kept
    assert "10/24" in text and "eta=14s" in text


def test_a_decided_failure_is_not_turned_into_a_signal_status() -> None:
    """Once the launcher reports its own failure (exit 2), a SIGTERM from `ocift local` stopping
    the other nodes is only recorded: the status stays 2, not 143."""
    supervisor = Supervisor(grace_s=1)
    supervisor.settle()
    supervisor._handle(signal.SIGTERM, None)  # raised Terminated before settle() existed
    assert supervisor.received == signal.SIGTERM


def test_version_and_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "ocift 0.1.0"
    with pytest.raises(SystemExit):
        cli.main(["local", "--help"])
    assert "usage: ocift local [options] -- <training flags>" in capsys.readouterr().out


def test_training_help_lists_every_flag_with_its_default() -> None:
    from contract.recipe import SECTIONS

    done = subprocess.run(
        [sys.executable, "-m", "launcher.train", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for section in SECTIONS.values():
        for name in section.model_fields:
            assert f"  --{name} " in done.stdout, name
    assert "--context_length int (default 4096)" in done.stdout
    assert (
        "--dataset samsum_dataset|alpaca_dataset|grammar_dataset|custom_dataset (default samsum_dataset)" in done.stdout
    )


def test_training_lines_carry_step_of_total_tokens_and_eta_and_the_plot_names_the_run(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from launcher.train.__main__ import main as train_main

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCIFT_RUN_NAME", "exp-7")
    monkeypatch.setenv("JOB_OCID", "ocid1.datasciencejob.oc1.iad.amaaaaaajobxyz")
    out = tmp_path / "out"
    assert (
        train_main(
            [
                "--use_peft",
                "--model_name",
                str(tiny["model"]),
                "--data_path",
                str(tiny["data"]),
                "--output_dir",
                str(out),
                "--context_length",
                "64",
                "--batch_size_training",
                "1",
                "--max_train_step",
                "12",
                "--run_validation",
                "false",
            ]
        )
        == 0
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if " event=train " in line]
    progress = [from_log_line(line) for line in lines]
    assert [p.step for p in progress] == [10, 12] and {p.total for p in progress} == {12}, lines
    assert all(p.tokens_per_s and p.eta_s is not None for p in progress) and "eta=0s" in lines[-1]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["total_steps"] == 12 and records[-1]["eta_s"] == 0
    title = Image.open(out / "loss.png").text["Title"]
    assert title == "job aaaaaajobxyz · run exp-7 · model · LoRA"


@pytest.mark.slow
def test_the_docs_by_hand_example_trains_the_steps_it_says(tmp_path: Path) -> None:
    """docs/launcher.md's `ocift local` example, on the data `make demo` makes: its processes
    (2 nodes x 1) under torchrun, with the example's training flags as written."""
    import shlex

    from launcher.train.tiny import make_samsum_like, make_tiny_model
    from tests.support import torchrun

    text = (REPO / "docs" / "launcher.md").read_text()
    block = text[text.index("ocift local --nnodes 2 --nproc-per-node 1 --timeout 900") :]
    command = shlex.split(block[: block.index("```")].replace("\\\n", " "))
    training = command[command.index("--") + 1 :]
    steps = int(training[training.index("--max_train_step") + 1])
    make_tiny_model(tmp_path / "demo-out" / "tiny" / "model")
    make_samsum_like(tmp_path / "demo-out" / "tiny" / "data")
    paths = {
        "./demo-out/tiny/model": str(tmp_path / "demo-out/tiny/model"),
        "./demo-out/tiny/data": str(tmp_path / "demo-out/tiny/data"),
    }
    args = [paths.get(a, a) for a in training] + ["--output_dir", str(tmp_path / "out")]
    torchrun(args, nproc=2, timeout=600)
    done = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert done["step"] == steps and done["outcome"] == "max_train_step", done
