"""What a job costs: hourly price of a shape x node count, and the worst case of one run.

One module holds the price lookup so every command prices the same way (`ocift cost`, the
review's cost section, `ocift run watch` later). Prices come from `ocift/prices.json` (each
figure with its source and date), overridden by a user's file (`--prices FILE` or the
`OCIFT_PRICES` variable). A shape without a price is `None` and shows as "price unknown", never $0.

`ocift cost [ENV...]` synthesizes the environments (all by default) and prints, per job, the
hourly price of all its nodes and the worst case of one run: every node group's shape price x
replicas x the maximum runtime, plus their block volumes. A job without a maximum runtime has
no worst case, only an hourly price.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")
PRICES_SETTING = "OCIFT_PRICES"
HOURS_PER_MONTH = 730  # block storage is priced per GB-month; Oracle prorates it by the second


class PriceTableError(ValueError):
    """A price file that cannot be used, naming the file and entry at fault."""


@dataclass(frozen=True)
class PriceTable:
    shapes: Mapping[str, float | None]  # shape -> price of one node for one hour (None: unknown)
    block_volume_gb_month: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # entry -> where its figure comes from

    def hourly(self, shape: str, count: int = 1) -> float | None:
        price = self.shapes.get(shape)
        return None if price is None else price * count


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PriceTableError(f"{where}: a price is a number >= 0 or null, got {value!r}")
    return float(value)


def _read(path: Path, table: dict[str, Any]) -> None:
    """Merge the price file at `path` into `table` (shapes and block volume, with their sources)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PriceTableError(f"{path}: not a readable price file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes", {}), dict):
        raise PriceTableError(f"{path}: expected an object with a 'shapes' object")
    for shape, entry in data.get("shapes", {}).items():
        if not isinstance(entry, dict) or "per_node_hour" not in entry:
            raise PriceTableError(f"{path}: shapes.{shape}: expected an object with 'per_node_hour'")
        table["shapes"][shape] = _number(entry["per_node_hour"], f"{path}: shapes.{shape}.per_node_hour")
        table["sources"][shape] = str(entry.get("source") or path)
    block = data.get("block_volume_gb_month")
    if block is not None:
        if not isinstance(block, dict) or "price" not in block:
            raise PriceTableError(f"{path}: block_volume_gb_month: expected an object with 'price'")
        table["block_volume_gb_month"] = _number(block["price"], f"{path}: block_volume_gb_month.price")
        table["sources"]["block_volume_gb_month"] = str(block.get("source") or path)


def load_prices(override: Path | None = None, environ: Mapping[str, str] = os.environ) -> PriceTable:
    """The shipped table, with the user's file (argument, else OCIFT_PRICES) merged over it."""
    table: dict[str, Any] = {"shapes": {}, "block_volume_gb_month": None, "sources": {}}
    _read(PRICES_FILE, table)
    user = override or (Path(environ[PRICES_SETTING]) if environ.get(PRICES_SETTING) else None)
    if user is not None:
        _read(user, table)
    return PriceTable(table["shapes"], table["block_volume_gb_month"], table["sources"])


@dataclass(frozen=True)
class Amount:
    """Dollars that could be priced, and what could not (never counted as $0)."""

    known: float = 0.0
    unknown: tuple[str, ...] = ()

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.known + other.known, self.unknown + other.unknown)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.known - other.known, self.unknown + other.unknown)

    def times(self, factor: float) -> Amount:
        return Amount(self.known * factor, self.unknown)

    @classmethod
    def of(cls, price: float | None, what: str) -> Amount:
        return cls(0.0, (what,)) if price is None else cls(price)

    def text(self, signed: bool = False) -> str:
        sign = "+" if signed and self.known > 0 else "-" if self.known < 0 else ""
        money = f"{sign}${abs(self.known):,.2f}"
        if not self.unknown:
            return money
        unknown = "price unknown: " + ", ".join(sorted(set(self.unknown)))
        return f"{money} + ({unknown})" if self.known else f"({unknown})"


@dataclass(frozen=True)
class NodeGroupCost:
    name: str
    shape: str
    replicas: int
    block_gbs: int | None
    hourly: Amount  # nodes and their block volumes, one hour


@dataclass(frozen=True)
class JobCost:
    stack: str
    address: str
    display_name: str
    groups: tuple[NodeGroupCost, ...]
    max_runtime_hours: float | None

    @property
    def hourly(self) -> Amount:
        total = Amount()
        for group in self.groups:
            total += group.hourly
        return total

    @property
    def per_run(self) -> Amount | None:
        """The worst case of one run (every node for the maximum runtime); None without a limit."""
        return None if self.max_runtime_hours is None else self.hourly.times(self.max_runtime_hours)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hourly"] = asdict(self.hourly)
        data["per_run"] = asdict(self.per_run) if self.per_run else None
        return data


def _one(block: Any) -> dict[str, Any]:
    """A nested block as synthesized (an object) or as planned (a one-element list)."""
    if isinstance(block, list):
        block = block[0] if block else {}
    return block if isinstance(block, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def group_hourly(shape: str, replicas: int, block_gbs: int | None, prices: PriceTable) -> Amount:
    """One hour of a node group: its nodes and their block volumes (a missing price is named)."""
    hourly = Amount.of(prices.hourly(shape, replicas), shape)
    if block_gbs:
        block = prices.block_volume_gb_month
        hourly += Amount.of(None if block is None else block * block_gbs * replicas / HOURS_PER_MONTH, "block volume")
    return hourly


def job_costs(stack: str, document: Mapping[str, Any], prices: PriceTable) -> list[JobCost]:
    """The cost of every Data Science job in a synthesized stack."""
    out = []
    jobs = (document.get("resource") or {}).get("oci_datascience_job") or {}
    for name, body in sorted(jobs.items()):
        nodes = _one(body.get("job_node_configuration_details"))
        groups = []
        for group in nodes.get("job_node_group_configuration_details_list") or []:
            infra = _one(group.get("job_infrastructure_configuration_details"))
            shape, replicas = str(infra.get("shape_name")), _int(group.get("replicas")) or 1
            gbs = _int(infra.get("block_storage_size_in_gbs"))
            groups.append(
                NodeGroupCost(str(group.get("name")), shape, replicas, gbs, group_hourly(shape, replicas, gbs, prices))
            )
        minutes = _int(nodes.get("maximum_runtime_in_minutes"))
        out.append(
            JobCost(
                stack,
                f"oci_datascience_job.{name}",
                str(body.get("display_name", name)),
                tuple(groups),
                minutes / 60 if minutes else None,
            )
        )
    return out


def declared_runs(document: Mapping[str, Any]) -> dict[str, str]:
    """Run address -> the address of the job it runs (from `job_id = ${oci_datascience_job.X.id}`)."""
    runs = (document.get("resource") or {}).get("oci_datascience_job_run") or {}
    out = {}
    for name, body in runs.items():
        job = str(body.get("job_id", ""))
        if job.startswith("${oci_datascience_job.") and job.endswith(".id}"):
            out[f"oci_datascience_job_run.{name}"] = job[2:-4]
    return out


def render(costs: list[JobCost], prices: PriceTable) -> str:
    lines = []
    for job in costs:
        lines.append(f"{job.stack}  {job.display_name} ({job.address})")
        for g in job.groups:
            volume = f", {g.block_gbs} GB block volume each" if g.block_gbs else ""
            lines.append(f"  {g.name}: {g.replicas} x {g.shape}{volume}: {g.hourly.text()} per hour")
        per_run = job.per_run
        lines.append(
            f"  per run, worst case ({job.max_runtime_hours:g} h maximum runtime): {per_run.text()}"
            if per_run
            else f"  per run: no maximum runtime, so no worst case; {job.hourly.text()} per hour while it runs"
        )
    if not costs:
        lines.append("no Data Science jobs in these stacks")
    used = {g.shape for job in costs for g in job.groups} | (
        {"block_volume_gb_month"} if any(g.block_gbs for job in costs for g in job.groups) else set()
    )
    lines += [f"price of {entry}: {prices.sources.get(entry, 'not in the price table')}" for entry in sorted(used)]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocift cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("environments", nargs="*", metavar="ENV", help="environments to price (default: all)")
    parser.add_argument("--tree", type=Path, help="a synthesized tree (cdktf.out) instead of synthesizing")
    parser.add_argument("--prices", type=Path, help=f"price file merged over the shipped one (or ${PRICES_SETTING})")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def main(argv: list[str] | None = None) -> int:
    from ocift.review.load import ReviewInputError, load_tree, synth_dir, temporary_workdir

    args = _parser().parse_args(argv)
    try:
        prices = load_prices(args.prices)
        if args.tree:
            tree = load_tree(args.tree)
        else:
            with temporary_workdir() as tmp:
                tree = load_tree(synth_dir(Path.cwd(), Path(tmp) / "out", args.environments))
    except (PriceTableError, ReviewInputError) as exc:
        print(f"ocift cost: {exc}", file=sys.stderr)
        return 1
    costs = [job for name, doc in sorted(tree.items()) for job in job_costs(name, doc, prices)]
    if args.format == "json":
        print(json.dumps({"jobs": [j.to_json() for j in costs], "sources": dict(prices.sources)}, indent=2))
    else:
        sys.stdout.write(render(costs, prices))
    return 0
