"""Formatting: one record to (prompt, response) text, per dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.train.data.records import DataError, read_records

SAMSUM_PROMPT = "Summarize this dialog:\n{dialogue}\n---\nSummary:\n"
# llama-recipes at meta-llama/llama-cookbook 1aecd00924738239f8d86f342b36bacad180d2b3:
# src/llama_recipes/datasets/grammar_dataset/grammar_dataset.py: "input" and "target" columns, one text
# "Correct this to standard English: <input>\n---\nCorrected: <target>", labels on all of it, no EOS.
GRAMMAR_PROMPT = "Correct this to standard English: {input}\n---\nCorrected: "
# src/llama_recipes/datasets/alpaca_dataset.py: Stanford Alpaca's two prompts, the one without
# "### Input" when a record's input is empty; the output then EOS carry loss, the prompt does not.
ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)
#: dataset -> (prompt template, response field); custom_dataset brings its own.
BUILT_IN = {
    "samsum_dataset": (SAMSUM_PROMPT, "summary"),
    "grammar_dataset": (GRAMMAR_PROMPT, "target"),
    "alpaca_dataset": (ALPACA_PROMPT, "output"),
}


class Formatter:
    """Turns one record into (prompt, response) text, or says which field is missing. `label_prompt`
    and `eos` say what tokenizing does with them: loss on the prompt too, an EOS after the response."""

    def __init__(self, dataset: str, prompt_template: str = "", response_field: str = "response"):
        self.dataset = dataset
        self.template, self.response_field = BUILT_IN.get(dataset, (prompt_template, response_field))
        self.label_prompt = self.dataset == "grammar_dataset"
        self.eos = self.dataset != "grammar_dataset"

    def __call__(self, record: Any, where: str) -> tuple[str, str]:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object with fields, got {type(record).__name__}")
        response = record.get(self.response_field)
        if not isinstance(response, str):
            raise DataError(f"{where}: missing text field {self.response_field!r}")
        template = self.template
        if self.dataset == "alpaca_dataset" and record.get("input", "") == "":
            template = ALPACA_PROMPT_NO_INPUT
        try:
            prompt = template.format(**record)
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc.args[0]!r} used by the prompt") from None
        except (IndexError, ValueError) as exc:
            raise DataError(f"prompt_template {self.template!r} is not a valid format string: {exc}") from None
        return prompt, response


def load_split(path: Path, formatter: Formatter) -> list[tuple[str, str]]:
    """Read and check every record of one split; an empty split is an error."""
    return format_records(read_records(path), str(path), formatter)


def format_records(records: list[tuple[int, Any]], where: str, formatter: Formatter) -> list[tuple[str, str]]:
    pairs = [formatter(record, f"{where}:{number}") for number, record in records]
    if not pairs:
        raise DataError(f"{where}: no records")
    return pairs
