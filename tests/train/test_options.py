"""Options: the llama-recipes command line is accepted; every bad option fails, naming it."""

from __future__ import annotations

import pytest

from contract.recipe import Recipe
from launcher.train.__main__ import main
from launcher.train.config import ProcessRanks, derive

LLAMA_RECIPES = [
    "--enable_fsdp",
    "--use_peft",
    "--peft_method",
    "lora",
    "--pure_bf16",
    "--batch_size_training",
    "1",
    "--model_name",
    "meta-llama/Llama-2-7b-hf",
    "--output_dir",
    "/tmp/out",
]


def run_config(argv: list[str], world: int = 2, local: int = 2):
    return derive(Recipe.from_args(argv), ProcessRanks(rank=0, local_rank=0, world_size=world, local_world_size=local))


def test_llama_recipes_line_derives_lora_pure_bf16():
    cfg = run_config(LLAMA_RECIPES + ["--data_path", "/data"])
    assert cfg.method == "lora" and cfg.pure_bf16 and not cfg.mixed_precision
    assert cfg.mesh_shape == (1, 2) and cfg.reshard_after_forward
    assert cfg.fsdp.fsdp_activation_checkpointing  # on by default, as in llama-recipes
    assert cfg.global_batch_samples == 2


@pytest.mark.parametrize(
    ("extra", "world", "local", "mesh"),
    [
        ([], 8, 8, (1, 8)),  # one node: shard over all
        ([], 8, 4, (2, 4)),  # two nodes: HSDP by default, shard within a node
        (["--hsdp"], 4, 4, (1, 4)),
        (["--fsdp_config.sharding_group_size", "2"], 4, 4, (2, 2)),
        (["--fsdp_config.replica_group_size", "4"], 8, 4, (4, 2)),
        (["--fsdp_config.sharding_group_size", "8"], 8, 4, (1, 8)),  # full shard across nodes, on request
        (["--sharding_strategy", "NO_SHARD"], 4, 2, (4, 1)),
    ],
)
def test_mesh_layouts(extra, world, local, mesh):
    assert (
        run_config(["--model_name", "m", "--output_dir", "o", "--data_path", "d", *extra], world, local).mesh_shape
        == mesh
    )


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--no_such_option", "1"], ["no_such_option"]),
        (["--lora_config.r", "0"], ["lora_config.r"]),
        (["--batch_size_training", "many"], ["batch_size_training"]),
        (["--use_fp16"], ["use_fp16"]),
        (["--pure_bf16", "--use_fp16"], ["pure_bf16", "use_fp16"]),
        (["--merge_lora"], ["merge_lora", "use_peft"]),
        (["--dataset", "custom_dataset"], ["prompt_template"]),
        (["--fsdp_config.sharding_group_size", "3"], ["sharding_group_size"]),
        (["--sharding_strategy", "NO_SHARD", "--hsdp"], ["NO_SHARD", "hsdp"]),
        (["--resume", "/no/such/checkpoint"], ["resume"]),
        (["--use_peft", "--from_peft_checkpoint", "/no/adapter"], ["from_peft_checkpoint"]),
        (["stray"], ["stray"]),
        (["--use_peft", "--merge_lora", "--save_model", "false"], ["merge_lora", "save_model"]),
        (["--eval_every_steps", "5", "--run_validation", "false"], ["eval_every_steps", "run_validation"]),
        (
            ["--use_peft", "--from_peft_checkpoint", "{adapter}", "--lora_config.r", "4"],
            ["lora_config.r", "from_peft_checkpoint"],
        ),
    ],
)
def test_bad_options_exit_2_naming_the_option(argv, names, capsys, tmp_path, monkeypatch, tiny):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(var, raising=False)
    base = ["--model_name", str(tiny["model"]), "--output_dir", str(tmp_path / "o"), "--data_path", str(tiny["data"])]
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    argv = [a.replace("{adapter}", str(adapter)) for a in argv]
    if argv == ["--fsdp_config.sharding_group_size", "3"]:
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    for name in names:
        assert name in err


@pytest.mark.parametrize("missing", ["model_name", "output_dir", "data_path"])
def test_required_paths(missing, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # samsum without data_path would come from the Hub
    argv = {"model_name": "m", "output_dir": "o", "data_path": "d"}
    argv.pop(missing)
    assert main([x for k, v in argv.items() for x in (f"--{k}", v)]) == 2
    assert f"{missing} is required" in capsys.readouterr().err


def test_missing_model_directory_is_named(tmp_path, capsys):
    assert main(["--model_name", str(tmp_path / "nope"), "--output_dir", "o", "--data_path", "d"]) == 2
    assert "model_name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"dialogue": "a", "summary": "b"}', "{oops"], "train.jsonl:2: invalid JSON"),
        (['{"dialogue": "a"}'], "train.jsonl:1: missing text field 'summary'"),
        ([], "train.jsonl: no records"),
    ],
)
def test_bad_data_exits_1_naming_file_and_line(lines, message, tiny, tmp_path, capsys, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("\n".join(lines))
    argv = [
        "--model_name",
        str(tiny["model"]),
        "--output_dir",
        str(tmp_path / "o"),
        "--data_path",
        str(tmp_path / "data"),
    ]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
