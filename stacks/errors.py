"""Config problems, reported all at once with the file, field path and (when known) line.

A reviewer fixing a config wants every mistake in one pass, each pointing at the exact field,
so loading collects `Problem`s instead of stopping at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One bad field: `file: path: message (line N)`."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        suffix = f" (line {self.line})" if self.line else ""
        return f"{where}{self.message}{suffix}"


class ConfigError(ValueError):
    """One or more environment configs are invalid; `.problems` holds every one found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
