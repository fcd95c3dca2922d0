"""Pydantic errors in a config author's words: the field path as written in the YAML, a short
message, and a "did you mean" for unknown keys.

Pydantic's own locations include internals a YAML author never wrote (the tag of a
discriminated union, `[key]` for dict keys); `describe` walks the model's types alongside the
location to drop them and to find the fields a misspelt key was probably meant to be.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


def describe(model: type[BaseModel], error: ErrorDetails) -> tuple[Loc, str]:
    """The clean location and message of one pydantic error raised validating `model`."""
    loc: list[str | int] = []
    current: Any = model
    parent: Any = None
    for part in error["loc"]:
        current = _unwrap(current)
        if isinstance(current, list) and isinstance(part, str) and _member_for_tag(current, part):
            current = _member_for_tag(current, part)  # a discriminated union's tag: not in the YAML
            continue
        if part == "[key]":
            continue
        loc.append(part)
        parent, current = current, _child(current, part)
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return tuple(loc), "unknown key" + _suggest(str(loc[-1]), parent)
    if kind == "missing":
        return tuple(loc), "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "")).strip("'")
        loc.append(field)
        if kind == "union_tag_not_found":
            return tuple(loc), "required field is missing"
        return tuple(loc), f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    if not isinstance(value, (dict, list)):
        message += f" (got {value!r})"
    return tuple(loc), message


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional; a union of several models becomes a list of them."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else members
    return annotation


def _child(annotation: Any, part: str | int) -> Any:
    """The type found under `part` of `annotation` (None once the walk leaves known types)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict:
        return args[1]
    return None


def _member_for_tag(members: list[Any], tag: str) -> Any:
    """The union member whose Literal discriminator accepts `tag`."""
    for member in members:
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        for field in member.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(field.annotation):
                return member
    return None


def _suggest(key: str, parent: Any) -> str:
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        close = difflib.get_close_matches(key, list(parent.model_fields), n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    return ""
