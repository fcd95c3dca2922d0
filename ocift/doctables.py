"""Tables in `docs/*.md` that mirror code, written from the code: `python -m ocift.doctables`.

Each table sits between `<!-- table:NAME -->` and `<!-- /table -->` in its page; everything else on
the page is prose and stays as written. `--check` exits 1 naming the stale tables (the test
`tests/contracts/test_doctables.py` does the same), so a setting, rule or config field added in code
without its row fails the suite; a config field without a `Field(description=...)` fails both.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
import types
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"(<!-- table:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    """Every launcher setting: variable, default, meaning (`contract.settings.LauncherSettings`)."""
    from contract.settings import PREFIX, LauncherSettings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in LauncherSettings.model_fields.items():
        meaning = (field.description or "").rstrip(".")
        default = "–" if field.default_factory else _default(field)  # a variable has no `{}`: unset is the default
        rows.append(f"| `{PREFIX}{name.upper()}` | {default} | {_cell(meaning[:1].lower() + meaning[1:])} |")
    return "\n".join(rows) + "\n"


def rules_table() -> str:
    """Every rule of the pack: id, severity, what it checks, why (`cdk.rules.RULES`)."""
    from cdk.rules import RULES

    rows = ["| id | severity | checks | why |", "|---|---|---|---|"]
    rows += [
        f"| `{rule.id}` | {rule.severity.value} | {_cell(rule.title)} | {_cell(rule.explanation)} |" for rule in RULES
    ]
    return "\n".join(rows) + "\n"


def secrets_table() -> str:
    """What counts as a secret, for the props and the rules alike (`contract.names`)."""
    from contract import names

    words = sorted(names.SECRET_WORDS) + [" ".join(pair) for pair in sorted(names.SECRET_PAIRS)]
    rows = ["| a secret is | matched by |", "|---|---|"]
    rows.append(
        f"| a variable named with a whole word {', '.join(f'`{w}`' for w in words)} | `contract.names.is_secret_name` |"
    )
    rows += [f"| a value holding {label} | `{_cell(pattern.pattern)}` |" for label, pattern in names.SECRET_FORMATS]
    return "\n".join(rows) + "\n"


# The sections of `stacks.config.EnvironmentConfig` with a table of their own in docs/config.md.
CONFIG_SECTIONS = ("state", "network", "storage", "registry", "logs", "training", "iam", "rules")
# A description's last sentence `Unset: X.` says what a null or empty default stands for: `null (= X)`.
_UNSET = re.compile(r"\s*Unset: (?P<means>.+?)\.?$")
_UNION = (Union, types.UnionType)
Row = tuple[str, str, str, str]  # field (markdown), type, default, meaning


def _is_section(annotation: Any) -> bool:
    """A config section, or a choice of sections by a discriminator (`state`, `network`)."""
    from stacks.config import Section

    options = get_args(annotation) if get_origin(annotation) in _UNION else (annotation,)
    return all(isinstance(o, type) and issubclass(o, Section) for o in options)


def _bounds(metadata: list[Any]) -> str:
    """`>= 1`, `> 0`, `50-10240`: a number's or a length's bounds."""
    names = ("ge", "gt", "le", "lt", "min_length", "max_length")
    found = {n: getattr(m, n) for m in metadata for n in names if getattr(m, n, None) is not None}
    low, high = found.get("ge", found.get("min_length")), found.get("le", found.get("max_length"))
    if low is not None and high is not None:
        return f"{low}-{high}"
    ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": ">=", "max_length": "<="}
    return " ".join(f"{ops[n]} {value}" for n, value in found.items())


def _type(annotation: Any, metadata: list[Any]) -> str:
    """A field's type in words: `integer >= 1`, `map string -> string`, `ocid1.subnet.`, `a` | `b`."""
    from contract import names
    from stacks.ocid_fields import OcidOf

    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0], [*args[1:], *metadata])
    flat = [m for item in metadata for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
    bounds = _bounds(flat)
    if _is_section(annotation):
        return "see below"
    if origin in _UNION:
        return " or ".join("null" if a is type(None) else _type(a, flat) for a in args)
    if origin is Literal:
        return " | ".join(f"`{a}`" if a != "" else '`""`' for a in args)
    if origin is dict:
        return "map" if args[1] is Any else f"map {_type(args[0], [])} -> {_type(args[1], [])}"
    if origin is list:
        return f"list ({bounds})" if bounds else "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "map"
    ocid = next((m.func for m in flat if isinstance(m, AfterValidator) and isinstance(m.func, OcidOf)), None)
    if ocid is not None:
        return " or ".join(f"`ocid1.{t}.`" for t in ocid.types)
    if annotation is str:
        pattern = next((m.pattern for m in flat if getattr(m, "pattern", None)), None)
        formats = {p.anchored: p.what for p in vars(names).values() if isinstance(p, names.NamePattern)}
        if pattern in formats:
            return formats[pattern]
        if pattern:
            return f"string `{pattern}`"
        return "non-empty string" if bounds == ">= 1" else f"string, {bounds} characters" if bounds else "string"
    words = {int: "integer", float: "number", bool: "bool", ipaddress.IPv4Network: "IPv4 network"}
    return f"{words[annotation]} {bounds}".strip()


def _default(field: FieldInfo, means: str = "") -> str:
    """`required`, `defaults` (a section), the value, or `null (= what null stands for)`."""
    if field.default_factory is not None:
        made = field.default_factory()  # type: ignore[call-arg]
        return "defaults" if isinstance(made, BaseModel) else f"`{made}`"
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None or isinstance(field.default, bool):
        value = str(field.default).lower() if field.default is not None else "null"
    else:
        value = '""' if field.default == "" else str(field.default)
    return f"`{value}`" + (f" (= {means})" if means else "")


def _config_rows(model: type[BaseModel], prefix: str, inline: bool, problems: list[str]) -> Iterator[Row]:
    """One row per field of `model`; with `inline`, a nested section's fields follow as `field.x` (a list of
    sections: `field[].x`). A field without a description is added to `problems`."""
    for name, field in model.model_fields.items():
        if not field.description:
            problems.append(f"{model.__module__}.{model.__name__}.{name} has no Field(description=...)")
            continue
        unset = _UNSET.search(field.description)
        meaning = (field.description[: unset.start()] if unset else field.description).rstrip(".")
        kind = _type(field.annotation, field.metadata)
        if field.default is None:  # the default says null
            kind = kind.removesuffix(" or null")
        item = get_args(field.annotation)[0] if get_origin(field.annotation) is list else None
        nested: Any = item if _is_section(item) else None
        if nested is None and inline and _is_section(field.annotation):
            nested = field.annotation
        if nested is field.annotation:
            kind = "section"
        yield f"`{prefix}{name}`", kind, _default(field, unset["means"] if unset else ""), meaning
        if nested is not None:
            yield from _config_rows(nested, f"{prefix}{name}{'[]' if item else ''}.", inline, problems)


def _variant_rows(field: FieldInfo, problems: list[str]) -> list[Row]:
    """A section with variants: the discriminator (one meaning per value), then every variant's fields, each
    labelled with the variants it belongs to when not all."""
    key = str(field.discriminator)
    variants: dict[str, type[BaseModel]] = {
        get_args(v.model_fields[key].annotation)[0]: v for v in get_args(field.annotation)
    }
    rows: dict[str, Row] = {}
    owners: dict[str, list[str]] = {}
    meanings = []
    for value, variant in variants.items():
        for row in _config_rows(variant, "", True, problems):
            if row[0] == f"`{key}`":
                meanings.append(f"`{value}`: {row[3]}")
            else:
                rows.setdefault(row[0], row)
                owners.setdefault(row[0], []).append(value)
    out = [(f"`{key}`", " | ".join(f"`{v}`" for v in variants), "required", "; ".join(meanings))]
    for name, row in rows.items():
        label = f" ({', '.join(owners[name])})" if len(owners[name]) < len(variants) else ""
        out.append((name + label, *row[1:]))
    return out


def config_table(section: str = "") -> str:
    """The fields of one section of the environment config (`stacks.config.EnvironmentConfig`; "" = the top
    level), each meaning from its `Field(description=...)`. Raises ValueError naming each undescribed field."""
    from stacks.config import EnvironmentConfig

    problems: list[str] = []
    if not section:
        rows = list(_config_rows(EnvironmentConfig, "", False, problems))
        problems += [
            f"stacks.config.EnvironmentConfig.{name} is a section without a table: add it to doctables.CONFIG_SECTIONS"
            for name, field in EnvironmentConfig.model_fields.items()
            if _is_section(field.annotation) and name not in CONFIG_SECTIONS
        ]
    elif (field := EnvironmentConfig.model_fields[section]).discriminator:
        rows = _variant_rows(field, problems)
    else:
        rows = list(_config_rows(field.annotation, "", True, problems))  # type: ignore[arg-type]
    if problems:
        raise ValueError("; ".join(problems))
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("docs/launcher.md", settings_table),
    "rules": ("docs/rules.md", rules_table),
    "secrets": ("docs/rules.md", secrets_table),
    "config": ("docs/config.md", config_table),
    **{f"config-{name}": ("docs/config.md", partial(config_table, name)) for name in CONFIG_SECTIONS},
}


def render(page: str) -> str:
    """`page` with each of its tables rewritten from the code."""

    def table(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name][1]() + match.group(4)

    return MARKER.sub(table, page)


def stale(root: Path | None = None) -> list[str]:
    """The pages whose tables differ from what the code says; a table whose marker is missing counts."""
    root = root or REPO
    problems = []
    for path in sorted({page for page, _ in TABLES.values()}):
        text = (root / path).read_text()
        found = {m["name"] for m in MARKER.finditer(text)}
        problems += [
            f"{path}: no <!-- table:{name} --> marker"
            for name, (page, _) in TABLES.items()
            if page == path and name not in found
        ]
        try:
            if render(text) != text:
                problems.append(f"{path}: tables are stale")
        except ValueError as error:  # the code cannot say what a row should be (a field without a description)
            problems.append(f"{path}: {error}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocift.doctables", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale tables (exit 1), write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    try:
        pages = {path: render((REPO / path).read_text()) for path in sorted({page for page, _ in TABLES.values()})}
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    for path, text in pages.items():  # only once every page rendered: nothing half-written
        (REPO / path).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
