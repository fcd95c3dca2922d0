"""A tiny Llama and a samsum-like dataset, made in code: no downloads, deterministic by seed.

Used by the tests, `make demo`, the image smoke test and the CPU benchmark. The tokenizer is
trained here on the same generated text (BPE via `tokenizers`) and saved with the model, so the
model directory is a complete Hugging Face model that `AutoModelForCausalLM` and
`AutoTokenizer` load like any hub checkpoint.

    python -m launcher.train.tiny OUTDIR     # writes OUTDIR/model and OUTDIR/data
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NAMES = ["Anna", "Ben", "Carla", "Dev", "Emma", "Farid", "Gita", "Hugo", "Ines", "Jon", "Kim", "Lena"]
PLACES = ["the park", "the office", "the station", "the cafe", "the gym", "the library", "home", "the lake"]
TIMES = ["at noon", "at six", "tomorrow", "on Friday", "tonight", "next week", "at nine", "on Monday"]
ACTIVITIES = ["meet", "run", "study", "eat", "work", "swim", "read", "cook"]
FILLERS = ["Sure.", "Sounds good.", "Ok, see you.", "Great!", "Fine by me.", "Cool.", "Why not?", "Deal."]
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _dialogue(rng: random.Random) -> dict[str, str]:
    """One dialogue whose summary is recoverable from it, so a model can learn the mapping."""
    a, b = rng.sample(NAMES, 2)
    place, time, act = rng.choice(PLACES), rng.choice(TIMES), rng.choice(ACTIVITIES)
    lines = [f"{a}: Do you want to {act} at {place} {time}?", f"{b}: {rng.choice(FILLERS)}"]
    if rng.random() < 0.5:
        lines.append(f"{a}: {rng.choice(FILLERS)}")
    return {"dialogue": "\n".join(lines), "summary": f"{a} and {b} will {act} at {place} {time}."}


def make_samsum_like(directory: str | Path, n_train: int = 64, n_val: int = 16, seed: int = 0) -> Path:
    """Write `train.jsonl` and `validation.jsonl` (fields `dialogue`, `summary`) into `directory`;
    `n_val=0` writes no validation file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for split, count in (("train", n_train), ("validation", n_val)):
        if not count:  # no file rather than an empty one, which training would refuse
            continue
        with open(directory / f"{split}.jsonl", "w") as handle:
            for _ in range(count):
                handle.write(json.dumps(_dialogue(rng)) + "\n")
    return directory


def _corpus(seed: int, n: int = 400) -> list[str]:
    rng = random.Random(seed + 1)
    prompt = "Summarize this dialog:\n{}\n---\nSummary:\n"
    return [prompt.format(d["dialogue"]) + d["summary"] for d in (_dialogue(rng) for _ in range(n))]


def make_tokenizer(vocab_size: int = 384, seed: int = 0):
    """A byte-level BPE tokenizer trained on generated dialogues; adds <s> in front like Llama's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    bos = tok.token_to_id(SPECIAL["bos_token"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)


def make_tiny_model(
    directory: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    vocab_size: int = 384,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    tie_word_embeddings: bool = False,
    initializer_range: float = 0.1,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised Llama (safetensors) and its tokenizer into `directory`.

    The initial weights are wider than Llama's 0.02 so that a frozen random LM head can still
    produce confident logits: otherwise LoRA alone could barely lower the loss of a random model.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = make_tokenizer(vocab_size, seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=tie_word_embeddings,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.train.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=384)
    parser.add_argument("--train", type=int, default=64, help="training dialogues")
    parser.add_argument("--val", type=int, default=16, help="validation dialogues")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = make_tiny_model(
        args.outdir / "model",
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=args.heads,
        vocab_size=args.vocab_size,
        seed=args.seed,
    )
    data = make_samsum_like(args.outdir / "data", args.train, args.val, args.seed)
    print(json.dumps({"model": str(model), "data": str(data)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
