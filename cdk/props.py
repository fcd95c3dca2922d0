"""Props validation shared by the L2 constructs: collect every problem, then fail once.

A construct validates all of its props before it creates anything, so a user sees every mistake
in one run, each naming the prop at fault (`node_groups[1].replicas: must be >= 1`).
Values that are unresolved cdktf tokens (another resource's id) cannot be checked at synth
time and are accepted as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from cdk.framework import Token
from contract.names import TAG_KEY, TAG_VALUE_MAX_LENGTH, NamePattern
from contract.ocids import ocid_type


class PropsError(ValueError):
    """Invalid props for one construct: every problem found, each naming its prop."""

    def __init__(self, owner: str, problems: list[str]):
        self.owner = owner
        self.problems = list(problems)
        super().__init__(f"{owner}: {len(problems)} invalid prop(s):\n  - " + "\n  - ".join(problems))


def validate(owner: str, problems: list[str]) -> None:
    """Raise every problem of one construct's props at once (no-op when there are none)."""
    if problems:
        raise PropsError(owner, problems)


def is_token(value: object) -> bool:
    """True for a cdktf token (a reference resolved only by Terraform)."""
    return isinstance(value, str) and Token.is_unresolved(value)


class Problems:
    """Collects `prop: message` lines; `validate` raises them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, prop: str, message: str) -> None:
        self.items.append(f"{prop}: {message}")

    def check(self, ok: bool, prop: str, message: str) -> bool:
        """Record `message` unless `ok`; returns `ok` so callers can skip dependent checks."""
        if not ok:
            self.add(prop, message)
        return ok

    def extend(self, prefix: str, problems: Iterable[str]) -> None:
        """Adopt problems of a nested props object under `prefix` (`node_groups[0]`)."""
        self.items.extend(f"{prefix}.{p}" for p in problems)

    # ---- common checks ------------------------------------------------------------

    def ocid(self, prop: str, value: str | None, kind: str | tuple[str, ...], *, required: bool = True) -> None:
        """An OCID of one of `kind` (`compartment`, `tenancy`, ...); tokens pass."""
        if value is None or value == "":
            self.check(not required, prop, "is required")
            return
        if is_token(value):
            return
        kinds = (kind,) if isinstance(kind, str) else kind
        self.check(
            ocid_type(value) in kinds,
            prop,
            f"{value!r} is not a {' or '.join(kinds)} OCID (ocid1.{kinds[0]}.oc1..<id>)",
        )

    def pattern(self, prop: str, value: str, regex: re.Pattern[str], what: str) -> None:
        """`value` must fully match `regex`; `what` says in words what is allowed."""
        if is_token(value):
            return
        self.check(bool(regex.fullmatch(value or "")), prop, f"{value!r} is not valid: {what}")

    def name(self, prop: str, value: str, pattern: NamePattern) -> None:
        """`value` must be a `pattern` name (`contract.names`); tokens pass."""
        if is_token(value):
            return
        self.check(pattern.matches(value or ""), prop, f"{value!r} is not valid: {pattern.what}")

    def tags(self, prop: str, tags: Mapping[str, str]) -> None:
        """OCI freeform tags (`contract.names`): keys 1-100 characters without spaces or dots, values up to 256."""
        for key, value in tags.items():
            self.check(TAG_KEY.matches(key), f"{prop}[{key!r}]", f"tag keys are {TAG_KEY.what}")
            self.check(
                isinstance(value, str) and len(value) <= TAG_VALUE_MAX_LENGTH,
                f"{prop}[{key!r}]",
                f"tag values are strings of at most {TAG_VALUE_MAX_LENGTH} characters",
            )
