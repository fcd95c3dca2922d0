"""Formatting: one record to (prompt, response) text, per dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.train.data.records import DataError, read_records

SAMSUM_PROMPT = "Summarize this dialog:\n{dialogue}\n---\nSummary:\n"


class Formatter:
    """Turns one record into (prompt, response) text, or says which field is missing."""

    def __init__(self, dataset: str, prompt_template: str = "", response_field: str = "response"):
        self.dataset = dataset
        self.template = SAMSUM_PROMPT if dataset == "samsum_dataset" else prompt_template
        self.response_field = "summary" if dataset == "samsum_dataset" else response_field

    def __call__(self, record: Any, where: str) -> tuple[str, str]:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object with fields, got {type(record).__name__}")
        response = record.get(self.response_field)
        if not isinstance(response, str):
            raise DataError(f"{where}: missing text field {self.response_field!r}")
        try:
            prompt = self.template.format(**record)
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc.args[0]!r} used by the prompt") from None
        except (IndexError, ValueError) as exc:
            raise DataError(f"prompt_template {self.template!r} is not a valid format string: {exc}") from None
        return prompt, response


def load_split(path: Path, formatter: Formatter) -> list[tuple[str, str]]:
    """Read and check every record of one split; an empty split is an error."""
    pairs = [formatter(record, f"{path}:{number}") for number, record in read_records(path)]
    if not pairs:
        raise DataError(f"{path}: no records")
    return pairs
