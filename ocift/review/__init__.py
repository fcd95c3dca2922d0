"""`ocift review`: what a change to the stacks will do, for a pull request, without credentials.

Compares two synthesized trees (or a git ref against the working tree) stack by stack:
resources created, updated, replaced (the attributes that force it, from the provider's
schema), renamed and deleted, stateful deletes flagged as dangerous, IAM statements added and
removed with widenings called out, rule findings new in head, and a diagram of each stack.
A real plan (`terraform show -json`) renders in the same format. Exit status 2 when anything
dangerous is present, so CI can require an approval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cdk.rules import RuleContext, evaluate
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
from ocift.review.model import Report, Resource, StackReport
from ocift.review.render import to_json, to_markdown, to_text

EXIT_DANGEROUS = 2
RENDERERS = {"markdown": to_markdown, "json": to_json, "text": to_text}


def review_trees(base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]) -> Report:
    """Compare stack documents by stack name; a stack present on one side only is all creates/deletes."""
    report = Report("synthesized stacks")
    for stack in sorted(set(base) | set(head)):
        before = resources_of(stack, base.get(stack, {}))
        after = resources_of(stack, head.get(stack, {}))
        report.stacks.append(StackReport(
            name=stack,
            changes=compare_stack(stack, before, after),
            policies=policy_changes(stack, before, after),
            new_findings=new_findings(stack, base.get(stack), head.get(stack)),
            diagram=mermaid(after) if after else "",
        ))
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


def new_findings(stack: str, base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[str]:
    """Rule findings (not suppressed) in head that base did not have."""
    if head is None:
        return []
    try:
        context = RuleContext.recorded_in(head)  # what the rule pack used at synth
    except ValueError:  # a tree synthesized without the pack: judge by the stack's name
        context = RuleContext(environment=stack, is_prod="prod" in stack.split("-"))
    seen = {(f.rule.id, f.resource.address) for f in evaluate(base, context)} if base else set()
    return [f"{f.resource.address}: {f.message}" for f in evaluate(head, context)
            if not f.suppressed and (f.rule.id, f.resource.address) not in seen]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocift review", description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", type=Path, help="synthesized tree (cdktf.out) before the change")
    src.add_argument("--base-ref", help="git ref to synthesize as the base (e.g. origin/main)")
    src.add_argument("--plan", type=Path, help="`terraform show -json <plan>` output to render")
    parser.add_argument("--head", type=Path, help="synthesized tree after the change (default: synthesize the working tree)")
    parser.add_argument("--stack", default="stack", help="stack name for --plan")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--output", type=Path, help="write the report here instead of stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        report = _build(args)
    except ReviewInputError as exc:
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
    with temporary_workdir() as tmp:
        work = Path(tmp)
        repo = Path.cwd()
        base_dir = args.base or synth_ref(args.base_ref, repo, work)
        head_dir = args.head or synth_dir(repo, work / "head-out")
        return review_trees(load_tree(base_dir), load_tree(head_dir))
