"""Bad inputs fail early with a clear message, a non-zero exit and nothing written.

Covered elsewhere, not repeated here: environment configs (malformed or truncated YAML, wrong
types, unknown keys, OCIDs of the wrong type, zero or negative replicas; nothing written):
tests/stacks/test_bad_configs.py; training options and data files read by training (invalid JSON
line, missing field, empty dataset, no config.json): tests/train/test_options.py and test_data.py;
launcher settings, flags and cluster variables: tests/launcher/test_entrypoint.py::test_bad_input_is_named.
Here: what those leave out (model weights, context length, a tokenizer without a pad token) and
the whole entrypoint on bad data: nothing reaches the output URI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.train.__main__ import main as train_main
from launcher.train.tiny import make_tiny_model
from tests.faults.cluster import FAST, events, tail
from tests.support import REPO, clean_env


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training run in this process as a one-process job (no torchrun variables)."""
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def flags(model: Path, data: Path, out: Path | str, *extra: str) -> list[str]:
    return [
        "--use_peft",
        "--model_name",
        str(model),
        "--data_path",
        str(data),
        "--output_dir",
        str(out),
        "--context_length",
        "64",
        "--batch_size_training",
        "1",
        "--max_train_step",
        "2",
        *extra,
    ]


def without_weights(tiny: dict[str, Path], tmp_path: Path) -> Path:
    model = shutil.copytree(tiny["model"], tmp_path / "model")
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    return model


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("no-weights", 2, "has a config.json but no weights"),
        ("context-too-long", 2, "context_length 100000 is longer than the model supports (max_position_embeddings 512"),
        ("empty-model-dir", 2, "is not a model directory (no config.json there)"),
    ],
)
def test_bad_model_is_refused_before_anything_starts(
    case: str, status: int, message: str, tiny, tmp_path: Path, single_process, capsys: pytest.CaptureFixture[str]
) -> None:
    model, extra = tiny["model"], []
    if case == "no-weights":
        model = without_weights(tiny, tmp_path)
    elif case == "context-too-long":
        extra = ["--context_length", "100000"]
    elif case == "empty-model-dir":
        model = tmp_path / "empty"
        model.mkdir()
    out = tmp_path / "out"
    assert train_main(flags(model, tiny["data"], out, *extra)) == status
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_tokenizer_without_pad_token_is_handled(tmp_path: Path, tiny, single_process) -> None:
    from transformers import AutoTokenizer

    model = make_tiny_model(tmp_path / "model", hidden_size=32, num_layers=1, num_heads=2, vocab_size=320)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(model)
    assert AutoTokenizer.from_pretrained(model).pad_token_id is None
    out = tmp_path / "out"
    assert train_main(flags(model, tiny["data"], out, "--batching_strategy", "padding")) == 0
    done = json.loads((out / "summary.json").read_text())
    assert done["outcome"] == "max_train_step" and done["step"] == 2
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("invalid-json-line", 1, "train.jsonl:2: invalid JSON"),
        ("no-weights", 2, "has a config.json but no weights"),
    ],
)
def test_entrypoint_on_bad_input_writes_nothing_to_the_output(
    case: str, status: int, message: str, tiny, tmp_path: Path
) -> None:
    """The whole job on one node (launcher, torchrun, training): the error is in the log and the
    summary, the exit is non-zero, and the output URI stays empty."""
    data, model = tmp_path / "data", tiny["model"]
    data.mkdir()
    good = (tiny["data"] / "train.jsonl").read_text().splitlines()
    lines = {"invalid-json-line": [good[0], "{oops"], "no-weights": good}[case]
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    if case == "no-weights":
        model = without_weights(tiny, tmp_path)
    remote = tmp_path / "remote"
    env = clean_env(
        tmp_path, **{**FAST, "OCIFT_TRAIN_MODULE": "launcher.train", "OCIFT_WORK_DIR": str(tmp_path / "work")}
    )
    done = subprocess.run(
        [sys.executable, "-m", "launcher", *flags(model, data, remote.as_uri())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout + done.stderr
    assert done.returncode == status, tail(out)
    assert message in out
    assert events(out, "summary")[-1]["exit_code"] == str(status)
    assert not remote.exists() or not [p for p in remote.rglob("*") if p.is_file()], sorted(remote.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-data-path", "data_path is required"),
        ("no-config-json", "model_name: '{model}' is not a model directory (no config.json there)"),
        ("context-too-long", "context_length 100000 is longer than the model supports (max_position_embeddings 512"),
    ],
)
def test_training_options_are_refused_before_torchrun(case: str, message: str, tiny, tmp_path: Path) -> None:
    """What training itself would refuse is refused by the launcher before torchrun starts: one
    error line naming the option, exit 2, no torchrun failure block, nothing at the output URI."""
    model = tiny["model"]
    if case == "no-config-json":
        model = tmp_path / "not-a-model"
        model.mkdir()
    args = flags(model, tiny["data"], (tmp_path / "remote").as_uri())
    if case == "no-data-path":
        cut = args.index("--data_path")
        del args[cut : cut + 2]
    elif case == "context-too-long":
        args += ["--context_length", "100000"]
    env = clean_env(tmp_path, **{**FAST, "OCIFT_TRAIN_MODULE": "launcher.train", "OCIFT_WORK_DIR": str(tmp_path / "w")})
    done = subprocess.run(
        [sys.executable, "-m", "launcher", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, tail(out)
    errors = [line for line in out.splitlines() if " ocift error " in line and "event=summary" not in line]
    assert len(errors) == 1 and "event=bad_recipe" in errors[0], tail(out)
    assert message.format(model=model) in errors[0]
    assert "torchrun_start" not in out and "Traceback" not in out and "ChildFailedError" not in out
    assert not (tmp_path / "remote").exists()
