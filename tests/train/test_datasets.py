"""llama-recipes' datasets as written: alpaca, grammar, samsum from the Hub, a custom dataset file.

Formats, label masking and splits are llama-recipes' at meta-llama/llama-cookbook
1aecd00924738239f8d86f342b36bacad180d2b3 (the commit Oracle's page links); every file is made
here, and "the Hub" is a local dataset directory, read by the same `datasets.load_dataset` call.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from contract.recipe import Recipe
from launcher.train.__main__ import main
from launcher.train.data import IGNORE, DataError, Formatter, load_splits, sources, tokenize
from launcher.train.data.formats import ALPACA_PROMPT_NO_INPUT
from tests.faults.cluster import events, tail
from tests.support import REPO, clean_env

CUSTOM_FILE = '''
from __future__ import annotations

import dataclasses

import datasets


@dataclasses.dataclass
class Sizes:  # a dataclass in a file loaded by path needs its module registered, as an import does
    train: int = 24
    validation: int = 4


def get_rows(dataset_config, tokenizer, split):
    """Question/answer rows, right-padded with attention_mask 0 as llama-recipes' alpaca pads them."""
    count = Sizes().train if split == dataset_config.train_split else Sizes().validation
    rows = []
    for i in range(count):
        prompt = tokenizer(f"Question {i}: what is {i} plus {i}?")["input_ids"]
        answer = tokenizer(f" {2 * i}", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        mask = [1] * (len(prompt) + len(answer)) + [0, 0]
        rows.append({"input_ids": prompt + answer + [0, 0], "attention_mask": mask,
                     "labels": [-100] * len(prompt) + answer + [-100, -100]})
    return rows


def get_custom_dataset(dataset_config, tokenizer, split):
    return datasets.Dataset.from_list(get_rows(dataset_config, tokenizer, split))


def broken(dataset_config, tokenizer, split):
    return {}["no such key"]
'''


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny["model"])


def alpaca_records(n: int) -> list[dict[str, str]]:
    return [
        {"instruction": f"Add {i} and {i}.", "input": "" if i % 2 else f"{i} {i}", "output": str(2 * i)}
        for i in range(n)
    ]


def write_grammar(path: Path, n: int) -> Path:
    # as llama-recipes' grammar_dataset_process.ipynb writes it: a BOM (utf-8-sig), a header, then rows
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["input", "target"])
        writer.writerows([[f'she go to school {i}, "quoted"', f"She goes to school {i}."] for i in range(n)])
    return path


def recipe(*argv: str) -> Recipe:
    return Recipe.from_args(["--model_name", "m", "--output_dir", "o", *argv])


def splits(r: Recipe, tokenizer, tmp_path: Path):
    return load_splits(r, tokenizer, cache_dir=tmp_path / "out", is_writer=True, barrier=lambda: None)


# ---- formats, masking, splits ---------------------------------------------------------------


def test_alpaca_prompts_mask_the_prompt_and_end_with_eos(tokenizer):
    fmt = Formatter("alpaca_dataset")
    with_input = fmt({"instruction": "Add.", "input": "1 2", "output": "3"}, "a.json:1")
    assert with_input == (
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
        "Add.\n\n### Input:\n1 2\n\n### Response:",
        "3",
    )
    no_input = ALPACA_PROMPT_NO_INPUT.format(instruction="Say hi.")
    assert fmt({"instruction": "Say hi.", "input": "", "output": "hi"}, "a.json:2") == (no_input, "hi")
    assert no_input.startswith("Below is an instruction that describes a task. Write a response")
    assert "### Input" not in fmt({"instruction": "Say hi.", "output": "hi"}, "a.json:3")[0]
    (example,) = tokenize([with_input], tokenizer, label_prompt=fmt.label_prompt, eos=fmt.eos)
    n_prompt = len(tokenizer(with_input[0])["input_ids"])
    assert example.labels[:n_prompt] == [IGNORE] * n_prompt
    assert example.labels[n_prompt:] == example.input_ids[n_prompt:] and example.input_ids[-1] == tokenizer.eos_token_id


def test_alpaca_train_is_every_record_and_val_the_first_200(tokenizer, tmp_path):
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(alpaca_records(203)))
    got = splits(recipe("--dataset", "alpaca_dataset", "--alpaca_dataset.data_path", str(path)), tokenizer, tmp_path)
    assert len(got.train) == 203 and got.validation == got.train[:200]


def test_grammar_csv_labels_the_whole_text_without_eos(tokenizer, tmp_path):
    train = write_grammar(tmp_path / "gtrain.csv", 6)
    val = write_grammar(tmp_path / "gval.csv", 2)
    got = splits(
        recipe(
            "--dataset",
            "grammar_dataset",
            "--grammar_dataset.train_split",
            str(train),
            "--grammar_dataset.test_split",
            str(val),
        ),
        tokenizer,
        tmp_path,
    )
    assert len(got.train) == 6 and len(got.validation) == 2
    first = got.train[0]
    text = 'Correct this to standard English: she go to school 0, "quoted"\n---\nCorrected: '
    assert first.input_ids[: len(tokenizer(text)["input_ids"])] == tokenizer(text)["input_ids"]
    assert first.labels == first.input_ids and first.input_ids[-1] != tokenizer.eos_token_id
    # test_split left at llama-recipes' default (a path of its own tree): no validation, not an error
    only_train = recipe("--dataset", "grammar_dataset", "--grammar_dataset.train_split", str(train))
    assert sources.problems(only_train) == [] and splits(only_train, tokenizer, tmp_path).validation is None


def test_grammar_missing_column_names_file_and_line(tokenizer, tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("input,other\na,b\n")
    with pytest.raises(DataError, match=r"g\.csv:2: missing text field 'target'"):
        splits(recipe("--dataset", "grammar_dataset", "--grammar_dataset.train_split", str(path)), tokenizer, tmp_path)


def test_samsum_from_the_hub_reads_as_the_same_files_do(tiny, tokenizer, tmp_path, monkeypatch):
    """`datasets.load_dataset(hub_id, split=...)`: a local dataset directory is read by the same call."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never the internet; a local directory needs none
    hub = splits(recipe("--samsum_dataset.hub_id", str(tiny["data"])), tokenizer, tmp_path)
    files = splits(recipe("--data_path", str(tiny["data"])), tokenizer, tmp_path)
    assert hub.train == files.train and hub.validation == files.validation
    assert hub.train_source == f"{tiny['data']}:train"


def test_samsum_hub_failure_says_what_to_do(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError,
        match=r"samsum_dataset: '.*empty' split 'train' could not be loaded from the "
        r"Hugging Face Hub \(.*\); without network give --data_path",
    ):
        splits(recipe("--samsum_dataset.hub_id", str(tmp_path / "empty")), tokenizer, tmp_path)


def test_samsum_without_data_path_offline_is_an_early_error(tmp_path, capsys, monkeypatch, tiny):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--model_name", str(tiny["model"]), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "samsum_dataset without --data_path is fetched from the Hugging Face Hub (knkarthick/samsum)" in err
    assert "HF_HUB_OFFLINE=1" in err and "give --data_path" in err
    assert not (tmp_path / "o").exists()  # found before anything started


def test_custom_file_rows_list_or_dataset_padding_dropped(tokenizer, tmp_path):
    (tmp_path / "my_dataset.py").write_text(CUSTOM_FILE)
    as_list = splits(
        recipe("--dataset", "custom_dataset", "--custom_dataset.file", f"{tmp_path}/my_dataset.py:get_rows"),
        tokenizer,
        tmp_path,
    )
    as_dataset = splits(
        recipe("--dataset", "custom_dataset", "--custom_dataset.file", f"{tmp_path}/my_dataset.py"), tokenizer, tmp_path
    )
    assert as_list.train == as_dataset.train and len(as_list.train) == 24 and len(as_list.validation) == 4
    first = as_list.train[0]
    assert first.input_ids[-1] == tokenizer.eos_token_id and first.labels[-1] == tokenizer.eos_token_id  # no padding
    assert IGNORE in first.labels


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("{d}/my_dataset.py:nope", "has no function 'nope' (it defines: broken, get_custom_dataset, get_rows;"),
        ("{d}/absent.py", "'{d}/absent.py' does not exist"),
        ("{d}/my_dataset.txt", "is not a .py file"),
    ],
)
def test_custom_file_problems_found_before_running_it(tmp_path, file, message):
    (tmp_path / "my_dataset.py").write_text(CUSTOM_FILE)
    r = recipe("--dataset", "custom_dataset", "--custom_dataset.file", file.format(d=tmp_path))
    (problem,) = sources.problems(r)
    assert problem.startswith("custom_dataset.file: ") and message.format(d=tmp_path) in problem


def test_custom_file_error_names_the_function_and_line(tokenizer, tmp_path):
    (tmp_path / "my_dataset.py").write_text(CUSTOM_FILE)
    line = CUSTOM_FILE.splitlines().index('    return {}["no such key"]') + 1
    with pytest.raises(
        DataError,
        match=rf"my_dataset\.py:broken\(split='train'\) raised KeyError: 'no such key' "
        rf"\(at my_dataset\.py:{line}\)",
    ):
        splits(
            recipe("--dataset", "custom_dataset", "--custom_dataset.file", f"{tmp_path}/my_dataset.py:broken"),
            tokenizer,
            tmp_path,
        )


def test_a_failing_custom_file_still_meets_the_other_processes_at_the_barrier(tokenizer, tmp_path):
    """Local rank 0 runs the file first; when it fails it still reaches the barrier, so the others run it
    and fail with the same message instead of waiting for a rank that is gone."""
    (tmp_path / "my_dataset.py").write_text(CUSTOM_FILE)
    r = recipe("--dataset", "custom_dataset", "--custom_dataset.file", f"{tmp_path}/my_dataset.py:broken")
    met = []
    for is_writer in (True, False):
        with pytest.raises(DataError, match="raised KeyError"):
            load_splits(
                r, tokenizer, cache_dir=tmp_path, is_writer=is_writer, barrier=lambda w=is_writer: met.append(w)
            )
    assert met == [True, False]


def test_custom_file_staged_from_a_uri_keeps_its_function(bucket, tmp_path):
    import boto3

    from contract.settings import LauncherSettings
    from launcher.__main__ import stage_inputs

    boto3.client("s3").put_object(Bucket=bucket, Key="code/my_dataset.py", Body=CUSTOM_FILE.encode())
    r = Recipe.from_args(
        [
            "--model_name",
            str(tmp_path),
            "--dataset",
            "custom_dataset",
            "--custom_dataset.file",
            f"s3://{bucket}/code/my_dataset.py:get_rows",
        ]
    )
    stage_inputs(r, LauncherSettings.from_env({"OCIFT_CACHE_DIR": str(tmp_path / "cache")}))
    assert r.custom_dataset.function == "get_rows"
    assert Path(r.custom_dataset.location).read_text() == CUSTOM_FILE
    assert Path(r.custom_dataset.location).is_relative_to(tmp_path / "cache")


# ---- each trains through `ocift local` --------------------------------------------------------


def _dataset_flags(name: str, tiny: dict[str, Path], data: Path, bucket: str) -> list[str]:
    """The flags of one dataset, its files made in `data` (the custom file read from a bucket)."""
    data.mkdir()
    if name == "samsum_dataset":  # no --data_path: `datasets` reads hub_id, here a local dataset directory
        return ["--samsum_dataset.hub_id", str(tiny["data"])]
    if name == "alpaca_dataset":
        (data / "alpaca_data.json").write_text(json.dumps(alpaca_records(40)))
        return ["--dataset", "alpaca_dataset", "--alpaca_dataset.data_path", str(data / "alpaca_data.json")]
    if name == "grammar_dataset":
        return [
            "--dataset",
            "grammar_dataset",
            "--grammar_dataset.train_split",
            str(write_grammar(data / "t.csv", 40)),
            "--grammar_dataset.test_split",
            str(write_grammar(data / "v.csv", 4)),
        ]
    import boto3

    boto3.client("s3").put_object(Bucket=bucket, Key="code/my_dataset.py", Body=CUSTOM_FILE.encode())
    return ["--dataset", "custom_dataset", "--custom_dataset.file", f"s3://{bucket}/code/my_dataset.py:get_rows"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["samsum_dataset", "alpaca_dataset", "grammar_dataset", "custom_dataset"])
def test_each_dataset_trains_through_ocift_local(dataset, tiny, bucket, tmp_path):
    flags = [
        "--model_name",
        str(tiny["model"]),
        "--use_peft",
        "--context_length",
        "64",
        "--batch_size_training",
        "2",
        "--max_train_step",
        "2",
        *_dataset_flags(dataset, tiny, tmp_path / "data", bucket),
    ]
    remote = tmp_path / "remote"
    env = clean_env(tmp_path, OCIFT_TRAIN_MODULE="launcher.train", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocift.cli",
            "local",
            "--nnodes",
            "2",
            "--timeout",
            "600",
            "--output-uri",
            remote.as_uri(),
            "--work-dir",
            str(tmp_path / "nodes"),
            "--",
            *flags,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, tail(out)
    ready = events(out, "data_ready", rank="0")
    assert ready and ready[0]["dataset"] == dataset and int(ready[0]["train_rows"]) > 0, tail(out)
    assert [e["step"] for e in events(out, "train_done", rank="0")] == ["2"], tail(out)
    assert list(remote.rglob("adapter_model.safetensors")), tail(out)
