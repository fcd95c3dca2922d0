"""Shared helpers: the shipped configs, and writing a mutated copy of one for the bad-config table."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
STACKS_DIR = REPO / "stacks"
SHIPPED = sorted(STACKS_DIR.glob("*.yaml"))


def shipped(env: str) -> dict[str, Any]:
    """A shipped environment config as data."""
    return yaml.safe_load((STACKS_DIR / f"{env}.yaml").read_text())


def write_config(directory: Path, env: str, mutate: Callable[[dict[str, Any]], Any] | None = None,
                 text: Callable[[str], str] | None = None) -> Path:
    """Copy `stacks/<env>.yaml` to `directory`, changed by `mutate` (on the data) or `text` (on the text)."""
    path = directory / f"{env}.yaml"
    if text is not None:
        path.write_text(text((STACKS_DIR / f"{env}.yaml").read_text()))
        return path
    data = copy.deepcopy(shipped(env))
    if mutate is not None:
        mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
