"""`ocift review`: what a change to the stacks will do, for a pull request, without credentials.

Compares two synthesized trees (or a git ref against the working tree) stack by stack:
resources created, updated, replaced (the attributes that force it, from the provider's
schema, followed through references), renamed and deleted, stateful deletes flagged as
dangerous, IAM statements added and removed with widenings called out (compared as
permissions), rule suppressions added and removed, rule findings new in head, what the change
costs (jobs' worst case per run, runs it starts), and a diagram of each changed stack. A real
plan (`terraform show -json`) renders in the same format. Exit status 2 when anything dangerous
is present, so CI can require an approval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cdk.rules import RuleContext, evaluate
from cdk.rules.core import resources_of as synthesized_resources
from ocift.cost import PriceTable, PriceTableError, declared_runs, job_costs, load_prices
from ocift.review.diagram import mermaid
from ocift.review.diff import compare_stack, plan_changes
from ocift.review.iam import policy_changes
from ocift.review.load import (
    ReviewInputError,
    load_plan,
    load_tree,
    resources_of,
    synth_dir,
    synth_ref,
    temporary_workdir,
)
from ocift.review.model import (
    Action,
    JobCostChange,
    NewFinding,
    Report,
    Resource,
    ResourceChange,
    RunStarted,
    StackCost,
    StackReport,
    SuppressionChange,
)
from ocift.review.render import to_json, to_markdown, to_sarif, to_text

EXIT_DANGEROUS = 2
RENDERERS = {"markdown": to_markdown, "json": to_json, "text": to_text, "sarif": to_sarif}


def review_trees(
    base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]], prices: PriceTable | None = None
) -> Report:
    """Compare stack documents by stack name; a stack present on one side only is all creates/deletes."""
    report = Report("synthesized stacks")
    prices = prices or load_prices()
    for stack in sorted(set(base) | set(head)):
        before = resources_of(stack, base.get(stack, {}))
        after = resources_of(stack, head.get(stack, {}))
        changes = compare_stack(stack, before, after)
        report.stacks.append(
            StackReport(
                name=stack,
                changes=changes,
                policies=policy_changes(stack, before, after),
                new_findings=new_findings(stack, base.get(stack), head.get(stack)),
                diagram=mermaid(after) if after else "",
                suppressions=suppression_changes(base.get(stack), head.get(stack)),
                cost=cost_change(stack, base.get(stack) or {}, head.get(stack) or {}, changes, prices),
            )
        )
    return report


def review_plan(plan: dict[str, Any], stack: str) -> Report:
    """Render Terraform's own plan of one stack in the review format."""
    before: dict[str, Resource] = {}
    after: dict[str, Resource] = {}
    for rc in plan.get("resource_changes", []):
        change = rc.get("change", {})
        for side, values in ((before, change.get("before")), (after, change.get("after"))):
            if isinstance(values, dict):
                side[rc["address"]] = Resource(stack, rc["address"], rc["type"], values)
    report = Report("terraform plan")
    report.stacks.append(StackReport(stack, plan_changes(stack, plan), policy_changes(stack, before, after)))
    return report


def new_findings(stack: str, base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[NewFinding]:
    """Rule findings (not suppressed) in head that base did not have."""
    if head is None:
        return []
    try:
        context = RuleContext.recorded_in(head)  # what the rule pack used at synth
    except ValueError:  # a tree synthesized without the pack: judge by the stack's name
        context = RuleContext(environment=stack, is_prod="prod" in stack.split("-"))
    seen = {(f.rule.id, f.resource.address) for f in evaluate(base, context)} if base else set()
    return [
        NewFinding(f.rule.id, f.rule.severity.value, f.resource.address, f.message)
        for f in evaluate(head, context)
        if not f.suppressed and (f.rule.id, f.resource.address) not in seen
    ]


def cost_change(
    stack: str, base: dict[str, Any], head: dict[str, Any], changes: list[ResourceChange], prices: PriceTable
) -> StackCost:
    """Jobs whose price changes, and the declared runs this change starts with their worst case."""
    before = {j.address: j for j in job_costs(stack, base, prices)}
    after = {j.address: j for j in job_costs(stack, head, prices)}
    jobs = []
    for address in sorted(set(before) | set(after)):
        b, a = before.get(address), after.get(address)
        pair = (b.hourly if b else None, a.hourly if a else None, b.per_run if b else None, a.per_run if a else None)
        if (pair[0], pair[2]) != (pair[1], pair[3]):
            jobs.append(JobCostChange(address, *pair))
    runs = declared_runs(head)
    started = [
        RunStarted(c.address, runs[c.address], after[runs[c.address]].per_run if runs[c.address] in after else None)
        for c in changes
        if c.address in runs and c.action in (Action.CREATE, Action.REPLACE, Action.RENAME)
    ]
    return StackCost(jobs, started)


def suppression_changes(base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[SuppressionChange]:
    """Suppressions added in head or gone from it, per resource and rule (a changed reason is both)."""

    def entries(document: dict[str, Any] | None) -> set[tuple[str, str, str, tuple[str, ...]]]:
        return {
            (r.address, rule, s.reason, s.applies_to)
            for r in synthesized_resources(document or {})
            for rule, s in r.suppressions.items()
        }

    before, after = entries(base), entries(head)
    return sorted(
        [SuppressionChange(*entry, added=True) for entry in after - before]
        + [SuppressionChange(*entry, added=False) for entry in before - after],
        key=lambda s: (s.address, s.rule, s.added),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocift review", description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", type=Path, help="synthesized tree (cdktf.out) before the change")
    src.add_argument("--base-ref", help="git ref to synthesize as the base (e.g. origin/main)")
    src.add_argument("--plan", type=Path, help="`terraform show -json <plan>` output to render")
    parser.add_argument(
        "--head", type=Path, help="synthesized tree after the change (default: synthesize the working tree)"
    )
    parser.add_argument("--stack", default="stack", help="stack name for --plan")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--prices", type=Path, help="price file merged over ocift/prices.json (or $OCIFT_PRICES)")
    parser.add_argument("--output", type=Path, help="write the report here instead of stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        report = _build(args)
    except (ReviewInputError, PriceTableError) as exc:
        print(f"ocift review: {exc}", file=sys.stderr)
        return 1
    text = RENDERERS[args.format](report)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_DANGEROUS if report.dangerous else 0


def _build(args: argparse.Namespace) -> Report:
    if args.plan:
        return review_plan(load_plan(args.plan), args.stack)
    prices = load_prices(args.prices)  # a bad price file fails before anything is synthesized
    with temporary_workdir() as tmp:
        work = Path(tmp)
        repo = Path.cwd()
        base_dir = args.base or synth_ref(args.base_ref, repo, work)
        head_dir = args.head or synth_dir(repo, work / "head-out")
        return review_trees(load_tree(base_dir), load_tree(head_dir), prices)
