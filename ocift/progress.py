"""Training progress for the user commands: parsed from training's `event=train` lines
(`ocift local`) or its synced `metrics.jsonl` (`ocift run watch`), shown as a tqdm bar on a
terminal. Logs and pipes get the lines unchanged and no bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TextIO

from launcher.log import format_eta

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None

    def line(self) -> str:
        """`step=N/T loss=... tokens_per_s=... eta=...`, the same fields training logs."""
        parts = [f"step={self.step}/{self.total}"]
        if self.loss is not None:
            parts.append(f"loss={self.loss:.4f}")
        if self.tokens_per_s is not None:
            parts.append(f"tokens_per_s={self.tokens_per_s:.0f}")
        if self.eta_s is not None:
            parts.append(f"eta={format_eta(self.eta_s)}")
        return " ".join(parts)


def from_log_line(line: str) -> Progress | None:
    """The progress a training `event=train` log line reports, or None for any other line."""
    if " event=train " not in line + " ":
        return None
    fields = {k: v.strip('"') for k, v in _FIELD.findall(line)}
    step, _, total = fields.get("step", "").partition("/")
    if not (step.isdigit() and total.isdigit()):
        return None
    return Progress(
        int(step),
        int(total),
        _number(fields.get("loss")),
        _number(fields.get("tokens_per_s")),
        _number(fields.get("eta_s")),
    )


def from_metrics(record: dict[str, Any]) -> Progress | None:
    """The progress one `metrics.jsonl` training record reports (evaluation records have none)."""
    if "loss" not in record or not record.get("total_steps"):
        return None
    return Progress(
        int(record["step"]),
        int(record["total_steps"]),
        record.get("loss"),
        record.get("tokens_per_s"),
        record.get("eta_s"),
    )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class Bar:
    """A tqdm bar on `stream` when it is a terminal (or `enabled`); `write` prints a line above it."""

    def __init__(self, stream: TextIO, enabled: bool | None = None, desc: str = "training"):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.desc = desc
        self._bar: Any = None

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=progress.total, desc=self.desc, unit="step", file=self.stream, dynamic_ncols=True, leave=True
            )
        self._bar.total = progress.total
        self._bar.n = progress.step
        postfix = {}
        if progress.loss is not None:
            postfix["loss"] = f"{progress.loss:.4f}"
        if progress.tokens_per_s is not None:
            postfix["tok/s"] = f"{progress.tokens_per_s:,.0f}"
        if progress.eta_s is not None:
            postfix["eta"] = format_eta(progress.eta_s)
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def write(self, text: str) -> None:
        """A line, above the bar when there is one."""
        if self._bar is not None:
            self._bar.write(text.rstrip("\n"), file=self.stream)
        else:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
