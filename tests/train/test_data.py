"""Data: samsum and custom formats, errors that name file and line, cache, packing, order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.train import data as D
from launcher.train.data import IGNORE, DataError, Example, Formatter


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny["model"])


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_samsum_prompt_and_loss_only_on_summary(tokenizer):
    pair = Formatter("samsum_dataset")({"dialogue": "A: hi\nB: yo", "summary": "They greet."}, "x:1")
    assert pair == ("Summarize this dialog:\nA: hi\nB: yo\n---\nSummary:\n", "They greet.")
    (example,) = D.tokenize([pair], tokenizer)
    prompt_ids = tokenizer(pair[0])["input_ids"]
    assert example.input_ids[0] == tokenizer.bos_token_id and example.input_ids[-1] == tokenizer.eos_token_id
    assert example.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert example.labels[len(prompt_ids) :] == example.input_ids[len(prompt_ids) :]
    assert tokenizer.decode(example.input_ids[len(prompt_ids) : -1]) == "They greet."


def test_custom_dataset_template_and_response(tokenizer):
    fmt = Formatter("custom_dataset", "Q: {question}\nA: ", "answer")
    assert fmt({"question": "2+2?", "answer": "4"}, "f:1") == ("Q: 2+2?\nA: ", "4")
    with pytest.raises(DataError, match=r"f:7: missing field 'question' used by the prompt"):
        fmt({"answer": "4"}, "f:7")
    with pytest.raises(DataError, match=r"f:8: missing text field 'answer'"):
        fmt({"question": "x"}, "f:8")


def test_invalid_json_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", ['{"dialogue": "a", "summary": "b"}', "", "{not json"])
    with pytest.raises(DataError, match=r"train\.jsonl:3: invalid JSON"):
        D.load_split(path, Formatter("samsum_dataset"))


def test_missing_field_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", ['{"dialogue": "a", "summary": "b"}', '{"dialogue": "a"}'])
    with pytest.raises(DataError, match=r"train\.jsonl:2: missing text field 'summary'"):
        D.load_split(path, Formatter("samsum_dataset"))


def test_empty_dataset(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", [""])
    with pytest.raises(DataError, match=r"train\.jsonl: no records"):
        D.load_split(path, Formatter("samsum_dataset"))


def test_json_array_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"dialogue": f"d{i}", "summary": f"s{i}"} for i in range(3)]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet")
    fmt = Formatter("samsum_dataset")
    assert D.load_split(tmp_path / "a.json", fmt) == D.load_split(tmp_path / "b.parquet", fmt)
    assert D.load_split(tmp_path / "a.json", fmt)[2][1] == "s2"


def test_find_splits(tmp_path):
    write_lines(tmp_path / "d" / "train.jsonl", ["{}"])
    assert D.find_splits(tmp_path / "d") == (tmp_path / "d" / "train.jsonl", None)
    write_lines(tmp_path / "d" / "validation.parquet", ["x"])
    assert D.find_splits(tmp_path / "d")[1] == tmp_path / "d" / "validation.parquet"
    with pytest.raises(DataError, match="no train.jsonl"):
        D.find_splits(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        D.find_splits(tmp_path / "nope")


def test_tokenized_once_and_cached_beside_the_data(tiny, tokenizer, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_lines(data / "train.jsonl", [json.dumps({"dialogue": "A: hi", "summary": f"s{i}"}) for i in range(4)])
    fmt = Formatter("samsum_dataset")
    kwargs = {"cache_dir": tmp_path / "out", "is_writer": True, "barrier": lambda: None}
    first = D.load_examples(data / "train.jsonl", tokenizer, fmt, **kwargs)
    cached = list((data / ".ocift-tokenized").iterdir())
    assert len(cached) == 1 and not list(data.glob("**/*.tmp"))

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(D.tokens, "tokenize", no_tokenizing)
    assert D.load_examples(data / "train.jsonl", tokenizer, fmt, **kwargs) == first
    write_lines(data / "train.jsonl", [json.dumps({"dialogue": "A: hi", "summary": "changed"})])
    with pytest.raises(AssertionError, match="tokenized again"):  # new data -> new key
        D.load_examples(data / "train.jsonl", tokenizer, fmt, **kwargs)


def test_packing_keeps_every_token():
    examples = [Example(list(range(n)), list(range(n))) for n in (5, 7, 9)]
    chunks = D.pack(examples, 8)
    assert [len(c.input_ids) for c in chunks] == [8, 8, 5]
    assert sum((c.input_ids for c in chunks), []) == sum((e.input_ids for e in examples), [])
    batch = D.collate(chunks, pad_id=99)
    assert batch["input_ids"][2].tolist() == chunks[2].input_ids + [99] * 3
    assert batch["attention_mask"][2].tolist() == [1] * 5 + [0] * 3
    assert batch["tokens"] == 21


def _consumed(ds: D.Dataset, *, world: int, start: int, steps: int, batch: int = 2, accumulation: int = 1):
    """Per step, the set of samples all ranks together consumed."""
    per_rank = [
        list(
            ds.windows(seed=3, epoch=1, start=start, rank=r, world=world, batch_size=batch, accumulation=accumulation)
        )[:steps]
        for r in range(world)
    ]
    out = []
    for step in range(steps):
        rows = set()
        for r in range(world):
            for micro in per_rank[r][step]:
                rows |= {tuple(x) for x in micro["input_ids"].tolist()}
        out.append(rows)
    return out


def test_order_is_seeded_and_position_survives_a_change_of_world_size():
    ds = D.Dataset([Example([i, i], [i, i]) for i in range(40)], pad_id=0, source=Path("x"))
    assert ds.order(3, 1) == ds.order(3, 1) != ds.order(3, 2)
    assert ds.steps_per_epoch(8) == 5
    two = _consumed(ds, world=2, start=0, steps=4, batch=2, accumulation=2)  # 8 samples per step
    # After 2 steps (16 samples) on 2 processes, 1 process with twice the accumulation continues identically.
    one = _consumed(ds, world=1, start=16, steps=2, batch=2, accumulation=4)
    assert one == two[2:]
    assert len(set().union(*two)) == 32


def test_eval_batches_are_equal_per_rank():
    ds = D.Dataset([Example([i], [i]) for i in range(7)], pad_id=0, source=Path("x"))
    counts = [len(ds.eval_batches(rank=r, world=3, batch_size=1)) for r in range(3)]
    assert counts == [2, 2, 2]
    assert len(ds.eval_batches(rank=0, world=3, batch_size=1, limit=1)) == 1
