"""A Mermaid picture of a stack: its resources and the references between them."""

from __future__ import annotations

import json
import re

from ocift.review.model import Resource

_REF = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)[.\[}]")


def references(resource: Resource) -> set[str]:
    """Addresses this resource refers to through `${...}` expressions."""
    text = json.dumps(resource.attrs)
    return {f"{data or ''}{tf_type}.{name}" for data, tf_type, name in _REF.findall(text)}


def mermaid(resources: dict[str, Resource]) -> str:
    ids = {address: f"n{i}" for i, address in enumerate(sorted(resources))}
    lines = ["graph LR"]
    for address, node in ids.items():
        resource = resources[address]
        shape = ("[(", ")]") if address.startswith("data.") else ("[", "]")
        lines.append(f'  {node}{shape[0]}"{resource.type.removeprefix("oci_")}<br/>{resource.name}"{shape[1]}')
    for address in sorted(resources):
        for target in sorted(references(resources[address])):
            if target in ids and target != address:
                lines.append(f"  {ids[address]} --> {ids[target]}")
    return "\n".join(lines)
