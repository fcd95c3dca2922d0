"""Read a YAML config, keeping the line of every key so problems can point at it.

PyYAML's `safe_load` keeps the last of two duplicate keys without a word; a duplicated key
in a config is a mistake as surely as a typo, so it is reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks.errors import Problem

KeyPath = tuple[str | int, ...]


@dataclass
class Source:
    """A parsed YAML document and the line (1-based) where each key path starts."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of the longest prefix of `path` the document has (a missing field: its parent)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def read(path: Path, display: str | None = None) -> tuple[Source | None, list[Problem]]:
    """Parse `path`; on failure return no source and the problems (syntax errors carry lines)."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(name, "", f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(name, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else None  # constructing can fail too ("=", unhashable keys)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark else None
        return None, [Problem(name, "", f"invalid YAML: {what}", line)]
    except yaml.YAMLError as exc:
        return None, [Problem(name, "", f"invalid YAML: {exc}")]
    if node is None:
        return None, [Problem(name, "", "the file is empty")]
    source = Source(name, None)
    problems: list[Problem] = []
    _index(node, (), source, problems)
    if problems:
        return None, problems
    source.data = data
    if not isinstance(source.data, dict):
        return None, [
            Problem(name, "", f"expected a mapping of fields at the top, got {type(source.data).__name__}", 1)
        ]
    return source, []


def _index(node: yaml.Node, path: KeyPath, source: Source, problems: list[Problem]) -> None:
    """Record each key's line and report duplicate keys, walking the composed node tree."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in seen:
                dotted = ".".join(map(str, child))
                problems.append(Problem(source.file, dotted, f"duplicate key (first set on line {seen[key]})", line))
                continue
            seen[key] = line
            source.lines[child] = line
            _index(value_node, child, source, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines[(*path, index)] = item.start_mark.line + 1
            _index(item, (*path, index), source, problems)
