"""What a review is made of: resources as synthesized, and the changes between two versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ocift.cost import Amount


@dataclass(frozen=True)
class Resource:
    """One resource (or data source) of one stack, as synthesized or as in a plan."""

    stack: str
    address: str  # "oci_objectstorage_bucket.outputs_bucket"; data sources start with "data."
    type: str
    attrs: dict[str, Any]
    path: str = ""  # construct path, when cdktf recorded it

    @property
    def name(self) -> str:
        return self.address.rsplit(".", 1)[-1]


class Action(str, Enum):
    REPLACE = "replace"  # destroy, then create
    DELETE = "delete"
    RENAME = "rename"  # same resource under a new logical id: Terraform destroys and creates it
    CREATE = "create"
    UPDATE = "update"

    @property
    def order(self) -> int:
        """Destroys and replacements first: they are what a reviewer must not miss."""
        return list(Action).index(self)


@dataclass(frozen=True)
class AttrChange:
    path: str  # "job_node_configuration_details[0].job_node_group_configuration_details_list[0].replicas"
    before: Any
    after: Any
    forces_replacement: bool = False
    sensitive: bool = False


@dataclass
class ResourceChange:
    stack: str
    address: str
    type: str
    action: Action
    changes: list[AttrChange] = field(default_factory=list)
    dangerous: bool = False
    reason: str = ""  # why it is dangerous or replaced, in words
    renamed_from: str = ""
    cascade_from: list[str] = field(default_factory=list)  # replaced because it refers to these

    @property
    def replacement_causes(self) -> list[str]:
        return [c.path for c in self.changes if c.forces_replacement]


@dataclass
class PolicyChange:
    stack: str
    address: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    widenings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewFinding:
    """A rule finding in head that base did not have."""

    rule: str
    severity: str  # "error" | "warning"
    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.address}: {self.message}"


@dataclass(frozen=True)
class SuppressionChange:
    """A rule switched off (or back on) for one resource: a reviewer must see who silenced what."""

    address: str
    rule: str
    reason: str
    applies_to: tuple[str, ...]  # empty: every finding of the rule on the resource
    added: bool  # False: removed, the rule applies again


@dataclass(frozen=True)
class JobCostChange:
    """One job's price before and after (None: the job is not on that side; per run None: no limit)."""

    address: str
    base_hourly: Amount | None
    head_hourly: Amount | None
    base_per_run: Amount | None
    head_per_run: Amount | None

    @property
    def delta_per_run(self) -> Amount | None:
        if self.head_per_run is None and self.head_hourly is not None:
            return None  # no maximum runtime: no worst case to compare
        return (self.head_per_run or Amount()) - (self.base_per_run or Amount())


@dataclass(frozen=True)
class RunStarted:
    """A declared run this change creates (new, or replaced): `terraform apply` starts it."""

    address: str
    job: str
    worst_case: Amount | None  # None: its job has no maximum runtime


@dataclass
class StackCost:
    jobs: list[JobCostChange] = field(default_factory=list)
    runs_started: list[RunStarted] = field(default_factory=list)

    @property
    def started(self) -> Amount:
        total = Amount()
        for run in self.runs_started:
            total += run.worst_case or Amount(0.0, ("a run without a maximum runtime",))
        return total

    def __bool__(self) -> bool:
        return bool(self.jobs or self.runs_started)


@dataclass
class StackReport:
    name: str
    changes: list[ResourceChange] = field(default_factory=list)
    policies: list[PolicyChange] = field(default_factory=list)
    new_findings: list[NewFinding] = field(default_factory=list)
    diagram: str = ""
    suppressions: list[SuppressionChange] = field(default_factory=list)
    cost: StackCost = field(default_factory=StackCost)

    @property
    def dangerous(self) -> bool:
        return any(c.dangerous for c in self.changes) or any(p.widenings for p in self.policies)


@dataclass
class Report:
    source: str  # "synthesized trees" or "terraform plan"
    stacks: list[StackReport] = field(default_factory=list)

    @property
    def dangerous(self) -> bool:
        return any(s.dangerous for s in self.stacks)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for stack in self.stacks:
            for change in stack.changes:
                out[change.action.value] += 1
        return out
