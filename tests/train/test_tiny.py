"""The tiny model and data generator: complete Hugging Face directories, deterministic by seed."""

from __future__ import annotations

import json

from launcher.train.tiny import main, make_samsum_like


def test_cli_writes_a_loadable_model_and_data(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert main([str(tmp_path / "a"), "--train", "5", "--val", "2"]) == 0
    paths = json.loads(capsys.readouterr().out)
    model = AutoModelForCausalLM.from_pretrained(paths["model"])
    tokenizer = AutoTokenizer.from_pretrained(paths["model"])
    assert model.config.vocab_size == len(tokenizer) and model.config.num_hidden_layers == 2
    ids = tokenizer("Summarize this dialog:\nAnna: hi")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and tokenizer.decode(ids[1:]) == "Summarize this dialog:\nAnna: hi"
    lines = (tmp_path / "a" / "data" / "train.jsonl").read_text().splitlines()
    assert len(lines) == 5 and set(json.loads(lines[0])) == {"dialogue", "summary"}

    assert main([str(tmp_path / "b"), "--train", "5", "--val", "2"]) == 0
    for rel in ("model/model.safetensors", "model/tokenizer.json", "data/train.jsonl", "data/validation.jsonl"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_seed_changes_the_data(tmp_path):
    a = make_samsum_like(tmp_path / "a", 5, 1, seed=1) / "train.jsonl"
    b = make_samsum_like(tmp_path / "b", 5, 1, seed=2) / "train.jsonl"
    assert a.read_text() != b.read_text()
