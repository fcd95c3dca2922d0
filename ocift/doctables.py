"""Tables in `docs/*.md` that mirror code, written from the code: `python -m ocift.doctables`.

Each table sits between `<!-- table:NAME -->` and `<!-- /table -->` in its page; everything else on
the page is prose and stays as written. `--check` exits 1 naming the stale tables (the test
`tests/contracts/test_doctables.py` does the same), so a setting or rule added in code without its
row fails the suite.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"(<!-- table:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "–"
    return f"`{field.default!r}`" if isinstance(field.default, str) else f"`{field.default}`"


def settings_table() -> str:
    """Every launcher setting: variable, default, meaning (`contract.settings.LauncherSettings`)."""
    from contract.settings import PREFIX, LauncherSettings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in LauncherSettings.model_fields.items():
        meaning = (field.description or "").rstrip(".")
        rows.append(f"| `{PREFIX}{name.upper()}` | {_default(field)} | {_cell(meaning[:1].lower() + meaning[1:])} |")
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


TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("docs/launcher.md", settings_table),
    "rules": ("docs/rules.md", rules_table),
    "secrets": ("docs/rules.md", secrets_table),
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
        if render(text) != text:
            problems.append(f"{path}: tables are stale")
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
    for path in sorted({page for page, _ in TABLES.values()}):
        file = REPO / path
        file.write_text(render(file.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
