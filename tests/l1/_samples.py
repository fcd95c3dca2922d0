"""Build binding arguments and the Terraform JSON they must produce, straight from the schema.

The expectations are derived from ``cdk/oci/schema/`` independently of the generated tables, so a
generator bug (a dropped attribute, a wrong block shape, a wrong class name) shows up as a mismatch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cdk.oci.generate import load_schema

SCHEMA, EXTRAS = load_schema()
RESOURCES: list[str] = sorted(SCHEMA["resource_schemas"])
DATA_SOURCES: list[str] = sorted(SCHEMA["data_source_schemas"])


def class_name(tf_type: str, data: bool = False) -> str:
    """The naming rule of the binding API: ``oci_core_vcn`` -> ``CoreVcn`` (``DataCoreVcn`` for data)."""
    return ("Data" if data else "") + "".join(p.capitalize() for p in tf_type.removeprefix("oci_").split("_"))


def module_for(tf_type: str) -> ModuleType:
    return importlib.import_module(f"cdk.oci.{tf_type.split('_')[1]}")


def schema_block(tf_type: str, data: bool = False) -> dict[str, Any]:
    return SCHEMA["data_source_schemas" if data else "resource_schemas"][tf_type]["block"]


@dataclass
class Sample:
    """Keyword arguments for a binding and the JSON body cdktf must synthesize for them."""

    kwargs: dict[str, Any]
    expected: dict[str, Any]


def _value(tf_type: Any, label: str, enum: list[str] | None) -> Any:
    if enum:
        return enum[0]
    if tf_type == "string":
        return f"v-{label}"
    if tf_type == "number":
        return 7
    if tf_type == "bool":
        return True
    if tf_type[0] in ("list", "set"):
        return [f"a-{label}", f"b-{label}"]
    return {"k": f"m-{label}"}


def _conflicting(name: str, sdk: dict[str, Any], chosen: dict[str, Any]) -> bool:
    """Whether the provider declares ``name`` in conflict with a sibling already chosen."""
    node = sdk.get(name)
    targets = node.get("conflicts_with", []) if isinstance(node, dict) else []
    return any(t.replace(".0.", ".").rpartition(".")[2] in chosen for t in targets)


def sample(
    tf_type: str,
    block: dict[str, Any],
    owner: str,
    module: ModuleType,
    full: bool,
    dotted: str = "",
    sdk: dict[str, Any] | None = None,
) -> Sample:
    """Every settable attribute and one of every block (``full``; conflicting siblings once), or only what
    is required."""
    enums = EXTRAS["validated_enums"].get(tf_type, {})
    if sdk is None:
        sdk = EXTRAS["sdk_schema"]["resources"].get(tf_type) or EXTRAS["sdk_schema"]["data_sources"].get(tf_type, {})
    kwargs: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name, spec in block.get("attributes", {}).items():
        settable = spec.get("required") or spec.get("optional")
        if settable and (full or spec.get("required")) and not _conflicting(name, sdk, kwargs):
            key = f"{dotted}.{name}" if dotted else name
            value = _value(spec["type"], key, enums.get(key, {}).get("enum"))
            kwargs[name] = value
            expected[name] = value
    for name, spec in block.get("block_types", {}).items():
        if not (full or spec.get("min_items", 0) > 0) or _conflicting(name, sdk, kwargs):
            continue
        struct = getattr(module, owner + "".join(p.capitalize() for p in name.split("_")))
        elem = (sdk.get(name) or {}).get("elem")
        inner = sample(
            tf_type,
            spec["block"],
            struct.__name__,
            module,
            full,
            f"{dotted}.{name}" if dotted else name,
            elem if isinstance(elem, dict) else {},
        )
        single = spec["nesting_mode"] == "single" or spec.get("max_items") == 1
        kwargs[name] = struct(**inner.kwargs) if single else [struct(**inner.kwargs)]
        expected[name] = inner.expected if single else [inner.expected]
    return Sample(kwargs, expected)


def element_sample(tf_type: str, data: bool, full: bool) -> tuple[Any, Sample]:
    """The binding class for a type and a sample for it."""
    module = module_for(tf_type)
    cls = getattr(module, class_name(tf_type, data))
    return cls, sample(tf_type, schema_block(tf_type, data), cls.__name__, module, full)


def as_blocks_lists(body: Any, block: dict[str, Any]) -> Any:
    """Normalize JSON so every block is a list of bodies (HCL parses repeated blocks that way)."""
    out = dict(body)
    for name, spec in block.get("block_types", {}).items():
        if name in out:
            items = out[name] if isinstance(out[name], list) else [out[name]]
            out[name] = [as_blocks_lists(item, spec["block"]) for item in items]
    return out
