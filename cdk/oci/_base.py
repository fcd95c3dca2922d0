"""Runtime shared by the generated OCI bindings (hand-written; the generated modules only hold tables).

Each generated class declares two tables, ``_ATTRS`` (argument name -> schema kind) and ``_BLOCKS``
(block name -> (struct class, single)); the code here turns the stored values into the JSON that
``cdktf synth`` writes and into the typed form its HCL renderer needs. cdktf calls
``_synthesize_attributes`` / ``_synthesize_hcl_attributes`` back through jsii: a subclass that does not
override both loses every attribute in one of the two outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from cdk.framework import (
    TerraformDataSource,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    Token,
)

# Schema kind -> (HCL renderer "type", HCL renderer "storageClassType").
_HCL_KINDS: dict[str, tuple[str, str]] = {
    "string": ("simple", "string"),
    "number": ("simple", "number"),
    "bool": ("simple", "boolean"),
    "list": ("list", "stringList"),
    "set": ("set", "stringList"),
    "map": ("map", "stringMap"),
}

BlockSpec = tuple[type["Block"], bool]


class Block:
    """Base of the generated nested-block structs (kw-only frozen dataclasses)."""

    _ATTRS: ClassVar[dict[str, str]] = {}
    _BLOCKS: ClassVar[dict[str, BlockSpec]] = {}

    def __post_init__(self) -> None:
        _check_blocks(type(self).__name__, self._BLOCKS, self._values())

    def _values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _check_blocks(owner: str, blocks: Mapping[str, BlockSpec], values: Mapping[str, Any]) -> None:
    """Reject a dict or a wrongly shaped block early, naming the owner and the block."""
    for name, (cls, single) in blocks.items():
        value = values.get(name)
        if value is None:
            continue
        items = [value] if single else value
        if not single and not isinstance(value, (list, tuple)):
            raise TypeError(f"{owner}.{name}: expected a list of {cls.__name__}, got {type(value).__name__}")
        for item in items:
            if not isinstance(item, cls):
                raise TypeError(f"{owner}.{name}: expected {cls.__name__}, got {type(item).__name__}")


def _shaped(kind: str, value: Any) -> Any:
    """Lists and sets as JSON arrays (a tuple or a Python set is fine); a token string stays a string."""
    return list(value) if kind in ("list", "set") and not isinstance(value, str) else value


def _render(
    attrs: Mapping[str, str], blocks: Mapping[str, BlockSpec], values: Mapping[str, Any], hcl: bool
) -> dict[str, Any]:
    """One body as Terraform JSON (a single block is an object, others a list; ``None`` is left out).

    With ``hcl``, each entry is wrapped the way cdktf's HCL renderer expects it
    (``value``, ``isBlock``, ``type``, ``storageClassType``).
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name in blocks:
            cls, single = blocks[name]
            body = _render_block(value, hcl) if single else [_render_block(v, hcl) for v in value]
            shape = ("struct", cls.__name__) if single else ("list", cls.__name__ + "List")
            out[name] = (
                {"value": body, "isBlock": True, "type": shape[0], "storageClassType": shape[1]} if hcl else body
            )
        else:
            shaped = _shaped(attrs[name], value)
            hcl_type, storage = _HCL_KINDS[attrs[name]]
            out[name] = (
                {"value": shaped, "isBlock": False, "type": hcl_type, "storageClassType": storage} if hcl else shaped
            )
    return out


def _render_block(block: Block, hcl: bool) -> dict[str, Any]:
    return _render(block._ATTRS, block._BLOCKS, block._values(), hcl)


class _Synthesized:
    """Mixin: stores constructor values and synthesizes them as JSON and as HCL."""

    TF_TYPE: ClassVar[str]
    _ATTRS: ClassVar[dict[str, str]]
    _BLOCKS: ClassVar[dict[str, BlockSpec]]
    _stored: dict[str, Any]

    def _store(self, values: Mapping[str, Any]) -> None:
        _check_blocks(type(self).__name__, self._BLOCKS, values)
        self._stored = {k: v for k, v in values.items() if v is not None}

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return _render(self._ATTRS, self._BLOCKS, self._stored, hcl=False)

    def _synthesize_hcl_attributes(self) -> Mapping[str, Any]:
        return _render(self._ATTRS, self._BLOCKS, self._stored, hcl=True)


class _Referenced(_Synthesized):
    """Mixin for resources and data sources: references to their attributes as token strings."""

    def ref(self, path: str) -> str:
        """A token for any attribute expression, e.g. ``services.ref("services[0].id")``.

        It renders as ``${data.oci_core_services.x.services[0].id}``; use it for lists of objects,
        blocks, and anything the typed properties do not cover.
        """
        return Token.as_string(self.interpolation_for_attribute(path))  # type: ignore[attr-defined]


class OciResource(_Referenced, TerraformResource):
    """Base of every generated ``oci_*`` resource."""

    def __init__(self, scope: Any, id_: str, values: Mapping[str, Any], **meta: Any) -> None:
        super().__init__(scope, id_, terraform_resource_type=self.TF_TYPE, **meta)
        self._store(values)


class OciDataSource(_Referenced, TerraformDataSource):
    """Base of every generated ``oci_*`` data source."""

    def __init__(self, scope: Any, id_: str, values: Mapping[str, Any], **meta: Any) -> None:
        super().__init__(scope, id_, terraform_resource_type=self.TF_TYPE, **meta)
        self._store(values)


class OciProviderBase(_Synthesized, TerraformProvider):
    """Base of the generated provider: pins ``source`` and ``version`` in ``required_providers``."""

    def __init__(self, scope: Any, id_: str, values: Mapping[str, Any], *, version: str, alias: str | None) -> None:
        self._alias = alias  # set first: the jsii constructor may already read it
        super().__init__(
            scope,
            id_,
            terraform_resource_type="oci",
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                provider_name="oci", provider_version=version
            ),
            terraform_provider_source="oracle/oci",
        )
        self._store(values)

    @property
    def alias(self) -> str | None:
        """The provider alias (``provider "oci" { alias = ... }``); cdktf reads it back through jsii."""
        return self._alias

    @alias.setter
    def alias(self, value: str | None) -> None:
        self._alias = value
