"""The recipe is the one contract between the infra and training halves: pin its behaviour."""

import pytest

from contract.recipe import Recipe, RecipeError

ORACLE_COMMAND = (
    "--enable_fsdp --use_peft --peft_method lora --pure_bf16 --batch_size_training 1 "
    "--model_name meta-llama/Llama-2-7b-hf --output_dir /tmp/out"
).split()


def test_llama_recipes_command_is_accepted_verbatim():
    recipe = Recipe.from_args(ORACLE_COMMAND)
    assert recipe.train_config.enable_fsdp and recipe.train_config.use_peft
    assert recipe.fsdp_config.pure_bf16
    assert recipe.train_config.batch_size_training == 1
    assert recipe.train_config.model_name == "meta-llama/Llama-2-7b-hf"
    # untouched options keep llama-recipes' defaults
    assert recipe.train_config.lr == 1e-4 and recipe.train_config.num_epochs == 3
    assert recipe.lora_config.target_modules == ["q_proj", "v_proj"]


def test_dotted_and_inline_forms():
    recipe = Recipe.from_args(["--lora_config.r", "16", "--lr=3e-4", "--target_modules", "q_proj,k_proj"])
    assert recipe.lora_config.r == 16
    assert recipe.train_config.lr == 3e-4
    assert recipe.lora_config.target_modules == ["q_proj", "k_proj"]


def test_shared_name_sets_every_section_like_llama_recipes():
    recipe = Recipe.from_args(["--mixed_precision", "false"])
    assert recipe.train_config.mixed_precision is False
    assert recipe.fsdp_config.mixed_precision is False


def test_render_then_parse_round_trips():
    recipe = Recipe.from_mapping(
        {
            "use_peft": True,
            "context_length": 512,
            "lora_config": {"r": 4, "target_modules": ["q_proj"]},
            "fsdp_config": {"hsdp": True},
            "num_epochs": 1,
        }
    )
    args = recipe.to_args()
    assert "--lora_config.r" in args and "--use_peft" in args
    assert Recipe.from_args(args) == recipe


def test_defaults_render_to_nothing():
    assert Recipe().to_args() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch_size_trainin", "2"], "unknown option 'batch_size_trainin' (did you mean 'batch_size_training'?)"),
        (["--pure_bf16", "--use_fp16"], "pure_bf16 and use_fp16 contradict"),
        (["--lr", "-1"], "train_config.lr: Input should be greater than 0"),
        (["--lora_config.r", "x"], "lora_config.r: Input should be a valid integer"),
        (["stray"], "unexpected argument 'stray'"),
        (["--batching_strategy", "zip"], "train_config.batching_strategy"),
        (["--merge_lora"], "merge_lora needs use_peft"),
        (
            ["--dataset", "custom_dataset", "--prompt_template", "{x}", "--custom_dataset.file", "d.py"],
            "give custom_dataset.file or prompt_template",
        ),
        (["--dataset", "alpaca_dataset", "--data_path", "a.json"], "give the file as alpaca_dataset.data_path"),
        (["--train_split", "t"], "unknown option 'train_split'"),
        (["--lora_config.nope", "1"], "unknown option 'lora_config.nope'"),
    ],
)
def test_bad_options_name_the_option(argv, message):
    with pytest.raises(RecipeError) as info:
        Recipe.from_args(argv)
    assert message in str(info.value)


def test_all_problems_reported_at_once():
    with pytest.raises(RecipeError) as info:
        Recipe.from_mapping({"lr": 0, "num_epochs": 0, "bogus": 1}, source="stacks/dev.yaml: training.recipe")
    assert {p.split(":")[0] for p in info.value.problems} == {
        "unknown option 'bogus'",
        "train_config.lr",
        "train_config.num_epochs",
    }
    assert str(info.value).startswith("stacks/dev.yaml: training.recipe: ")


def test_dataset_sections_are_llama_recipes_and_render_with_their_section():
    recipe = Recipe.from_args(
        [
            "--dataset",
            "custom_dataset",
            "--custom_dataset.file",
            "oci://b@ns/ds.py:get_foo",
            "--custom_dataset.test_split",
            "dev",
        ]
    )
    assert recipe.custom_dataset.location == "oci://b@ns/ds.py" and recipe.custom_dataset.function == "get_foo"
    assert recipe.custom_dataset.train_split == "train"
    assert Recipe.from_args(["--custom_dataset.file", "ds.py"]).custom_dataset.function == "get_custom_dataset"
    args = recipe.to_args()
    assert "--custom_dataset.file" in args and Recipe.from_args(args) == recipe
    assert recipe.inputs() == {"custom_dataset.file": "oci://b@ns/ds.py"}
    # llama-recipes' defaults name files of its own tree: left at them, nothing is staged
    assert Recipe.from_args(["--dataset", "grammar_dataset", "--grammar_dataset.train_split", "g.csv"]).inputs() == {
        "grammar_dataset.train_split": "g.csv"
    }
    assert Recipe().alpaca_dataset.data_path == "src/llama_recipes/datasets/alpaca_data.json"
