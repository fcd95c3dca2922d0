"""Check synthesized stacks (``cdk.tf.json``) against the pinned oracle/oci schema, offline.

Terraform would catch most of these at ``plan``, but only with the provider downloaded and credentials
at hand; this runs on every synth. Checks, for every ``oci_*`` resource, data source and the provider
block: unknown attribute or block, read-only (computed) attribute set, missing required attribute or
block, wrong type (a ``${...}`` expression is accepted anywhere), too many or too few blocks (schema and
extras ``min_items``/``max_items``), values outside an enum the provider validates, siblings the
provider declares ``conflicts_with`` each other, and an ``oracle/oci`` pin to another version. Each error names
the stack, the resource address and the attribute path.

``ocift validate --synth-dir cdktf.out`` prints one error per line and exits 1 if there is any.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cdk.oci.generate import SCHEMA_VERSION, load_schema

META = frozenset({"//", "count", "depends_on", "for_each", "provider", "lifecycle", "provisioner", "connection"})


@dataclass(frozen=True)
class SchemaError:
    """One finding: where it is (stack, Terraform address, attribute path) and what is wrong."""

    stack: str
    address: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.address}.{self.path}" if self.path else self.address
        return f"{self.stack}: {where}: {self.message}"


@lru_cache(maxsize=1)
def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_schema()


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _type_name(tf_type: Any) -> str:
    if isinstance(tf_type, str):
        return tf_type
    return f"{tf_type[0]}({_type_name(tf_type[1])})" if tf_type[0] != "object" else "object"


def _describe(value: Any) -> str:
    names = {str: "string", bool: "bool", int: "number", float: "number", list: "list", dict: "object"}
    shown = json.dumps(value)
    return f"{names.get(type(value), type(value).__name__)} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _number_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _type_errors(value: Any, tf_type: Any, path: str) -> list[tuple[str, str]]:
    """(path, message) for each place ``value`` does not fit ``tf_type``, using Terraform's conversions."""
    if _is_token(value):
        return []
    ok: bool
    if tf_type == "string":
        ok = isinstance(value, (str, int, float, bool))
    elif tf_type == "number":
        ok = _number_like(value)
    elif tf_type == "bool":
        ok = isinstance(value, bool) or value in ("true", "false")
    elif tf_type[0] in ("list", "set"):
        if not isinstance(value, list):
            return [(path, f"expected {_type_name(tf_type)}, got {_describe(value)}")]
        return [e for i, item in enumerate(value) for e in _type_errors(item, tf_type[1], f"{path}[{i}]")]
    elif tf_type[0] == "map":
        if not isinstance(value, dict):
            return [(path, f"expected {_type_name(tf_type)}, got {_describe(value)}")]
        return [e for k, item in value.items() for e in _type_errors(item, tf_type[1], f"{path}[{json.dumps(k)}]")]
    else:
        ok = isinstance(value, dict)
    return [] if ok else [(path, f"expected {_type_name(tf_type)}, got {_describe(value)}")]


class _Body:
    """Checks one resource, data source or provider body, collecting errors."""

    def __init__(self, stack: str, address: str, enums: dict[str, Any]) -> None:
        self.stack, self.address, self.enums = stack, address, enums
        self.errors: list[SchemaError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(SchemaError(self.stack, self.address, path, message))

    def check(
        self, body: Any, block: dict[str, Any], extras: dict[str, Any], path: str, dotted: str, meta: frozenset[str]
    ) -> None:
        if not isinstance(body, dict):
            self.error(path, f"expected a block (object), got {_describe(body)}")
            return
        attrs, blocks = block.get("attributes", {}), block.get("block_types", {})
        dynamic = _sub(body, "dynamic")
        for name, spec in dynamic.items():
            where = _join(path, f"dynamic.{name}")
            if name not in blocks:
                self.error(where, "dynamic block of an unknown block type")
            elif isinstance(spec, dict) and isinstance(spec.get("content"), dict):
                self.check(
                    spec["content"],
                    blocks[name]["block"],
                    _sub(_sub(extras, name), "elem"),
                    f"{where}.content",
                    _join(dotted, name),
                    frozenset({"//"}),
                )
        for name, value in body.items():
            if name in meta or name == "dynamic":
                continue
            where, key = _join(path, name), _join(dotted, name)
            if name in attrs:
                self.attribute(value, attrs[name], where, key)
            elif name in blocks:
                self.blocks(value, blocks[name], _sub(extras, name), where, key)
            else:
                close = difflib.get_close_matches(name, [*attrs, *blocks], n=1)
                self.error(where, "unknown attribute or block" + (f" (did you mean {close[0]!r}?)" if close else ""))
        for name, spec in attrs.items():
            if spec.get("required") and body.get(name) is None:
                self.error(_join(path, name), "required attribute is missing")
        for name, spec in blocks.items():
            required = spec.get("min_items", 0) > 0 or _sub(extras, name).get("required", False)
            if required and body.get(name) is None and name not in dynamic:
                self.error(_join(path, name), "required block is missing")
        for first, second in _conflicts(body, extras, dotted):
            self.error(_join(path, first), f"conflicts with {second!r}: set only one of them")

    def attribute(self, value: Any, spec: dict[str, Any], where: str, key: str) -> None:
        if value is None:
            return
        if spec.get("computed") and not (spec.get("optional") or spec.get("required")):
            self.error(where, "read-only attribute (computed by the provider) cannot be set")
            return
        for path, message in _type_errors(value, spec["type"], where):
            self.error(path, message)
        enum = self.enums.get(key)
        if enum and isinstance(value, str) and not _is_token(value):
            allowed = enum["enum"]
            fold = (lambda s: s.lower()) if enum.get("ignore_case") else (lambda s: s)
            if fold(value) not in {fold(a) for a in allowed}:
                self.error(where, f"{value!r} is not one of {', '.join(allowed)}")

    def blocks(self, value: Any, spec: dict[str, Any], extras: dict[str, Any], where: str, key: str) -> None:
        if value is None or _is_token(value):
            return
        items = value if isinstance(value, list) else [value]
        low, high = _limits(spec, extras)
        if low and len(items) < low:
            self.error(where, f"at least {low} block(s) required, got {len(items)}")
        if high is not None and len(items) > high:
            self.error(where, f"at most {high} block(s) allowed, got {len(items)}")
        for i, item in enumerate(items):
            self.check(item, spec["block"], _sub(extras, "elem"), f"{where}[{i}]", key, frozenset({"//"}))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _conflicts(body: dict[str, Any], extras: dict[str, Any], dotted: str) -> list[tuple[str, str]]:
    """Pairs of set siblings that the provider declares ``conflicts_with`` (paths like ``a.0.b``), each once."""
    present = {name for name, value in body.items() if value is not None}
    pairs: set[tuple[str, str]] = set()
    for name in present:
        for target in _sub(extras, name).get("conflicts_with", []):
            parent, _, other = target.replace(".0.", ".").rpartition(".")
            if parent == dotted and other in present:
                pairs.add((min(name, other), max(name, other)))
    return sorted(pairs)


def _sub(node: dict[str, Any], key: str) -> dict[str, Any]:
    """``node[key]`` when it is an object, else empty (extras nodes and bodies are loosely shaped)."""
    value = node.get(key)
    return value if isinstance(value, dict) else {}


def _limits(spec: dict[str, Any], extras: dict[str, Any]) -> tuple[int, int | None]:
    """The tightest (min, max) item counts from the schema, the extras and the nesting mode."""
    low = max(spec.get("min_items") or 0, extras.get("min_items") or 0)
    highs = [h for h in (spec.get("max_items"), extras.get("max_items")) if h]
    if spec["nesting_mode"] == "single":
        highs.append(1)
    return low, min(highs) if highs else None


def _pin_errors(stack: dict[str, Any], stack_name: str) -> list[SchemaError]:
    """A declared ``oracle/oci`` pin must be the schema's version, or the stack is checked against the
    wrong schema. (A stack without a provider block, as in construct unit tests, is not flagged.)"""
    pin = ((stack.get("terraform") or {}).get("required_providers") or {}).get("oci")
    if pin is None:
        return []
    wanted = {"source": "oracle/oci", "version": SCHEMA_VERSION}
    if isinstance(pin, dict) and {k: pin.get(k) for k in wanted} == wanted:
        return []
    return [
        SchemaError(
            stack_name, "terraform", "required_providers.oci", f"expected {wanted} (the validated schema), got {pin}"
        )
    ]


def validate_stack(stack: dict[str, Any], stack_name: str) -> list[SchemaError]:
    """Every schema error in one synthesized ``cdk.tf.json`` document; non-OCI types are skipped."""
    schema, extras = _schemas()
    errors = _pin_errors(stack, stack_name)
    sections = (
        ("resource", "", schema["resource_schemas"], extras["sdk_schema"]["resources"]),
        ("data", "data.", schema["data_source_schemas"], extras["sdk_schema"]["data_sources"]),
    )
    for section, prefix, types, sdk in sections:
        for tf_type, instances in (stack.get(section) or {}).items():
            if not tf_type.startswith("oci_"):
                continue
            for name, body in (instances or {}).items():
                checker = _Body(stack_name, f"{prefix}{tf_type}.{name}", extras["validated_enums"].get(tf_type, {}))
                if tf_type not in types:
                    checker.error(
                        "", f"unknown {'data source' if prefix else 'resource'} type {tf_type!r} in oracle/oci"
                    )
                else:
                    checker.check(body, types[tf_type]["block"], sdk.get(tf_type, {}), "", "", META)
                errors += checker.errors
    for i, body in enumerate((stack.get("provider") or {}).get("oci") or []):
        alias = body.get("alias") if isinstance(body, dict) else None
        checker = _Body(stack_name, f"provider.oci.{alias}" if alias else "provider.oci" + (f"[{i}]" if i else ""), {})
        checker.check(body, schema["provider"]["block"], {}, "", "", frozenset({"//", "alias"}))
        errors += checker.errors
    return errors


def validate_synth_dir(outdir: Path) -> list[SchemaError]:
    """Validate every ``stacks/<name>/cdk.tf.json`` under a ``cdktf.out`` directory."""
    files = sorted(Path(outdir).glob("stacks/*/cdk.tf.json"))
    if not files:
        raise FileNotFoundError(
            f"{outdir}: no stacks/<name>/cdk.tf.json found "
            "(run `cdktf synth` first; `--hcl` output has no JSON to check)"
        )
    errors: list[SchemaError] = []
    for path in files:
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            errors.append(SchemaError(path.parent.name, str(path), "", f"invalid JSON: {exc}"))
            continue
        errors += validate_stack(document, path.parent.name)
    return errors
