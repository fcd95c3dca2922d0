"""A review in three forms: Markdown for a PR comment, JSON for bots, plain text for a terminal."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ocift.cost import Amount
from ocift.review.model import (
    Action,
    AttrChange,
    Report,
    ResourceChange,
    StackCost,
    StackReport,
    SuppressionChange,
)

_LONG = 8  # sections longer than this fold into <details>
_WIDTH = 80  # values are cut to this many characters, around the part that changed
_CONTEXT = 24  # characters kept before a change
# GitHub refuses a comment over 65,536 characters; leave room for what a CI job adds around it.
COMMENT_LIMIT = 60_000
# Creates and deletes are whole resources; listing their attributes would bury the changes.
_DETAILED = (Action.REPLACE, Action.RENAME, Action.UPDATE)


def _text(change: AttrChange, value: Any) -> str:
    if change.sensitive and value is not None:
        return "(sensitive)"
    return "null" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _values(change: AttrChange) -> tuple[str, str]:
    """Before and after, each cut to the part where they differ (two long command lines that share
    a prefix show their differing `--lr`, not the same first 80 characters)."""
    before, after = _text(change, change.before), _text(change, change.after)
    if len(before) <= _WIDTH and len(after) <= _WIDTH:
        return before, after
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    start = max(0, start - _CONTEXT)
    return _window(before, start), _window(after, start)


def _window(text: str, start: int) -> str:
    lead = "…" if start else ""
    body = text[start:]
    return lead + (body if len(body) <= _WIDTH else body[: _WIDTH - 1] + "…")


def _value(change: AttrChange, value: Any) -> str:
    """One side alone (creates, deletes), cut to the width."""
    return _window(_text(change, value), 0)


def _has_news(stack: StackReport) -> bool:
    return bool(stack.changes or stack.policies or stack.new_findings or stack.suppressions or stack.cost)


def _headline(report: Report) -> str:
    """The summary line: counts of each action, then what else a reviewer must look at."""
    counts = report.counts()
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    widenings = sum(len(p.widenings) for s in report.stacks for p in s.policies)
    findings = sum(len(s.new_findings) for s in report.stacks)
    silenced = sum(c.added for s in report.stacks for c in s.suppressions)
    runs = sum(len(s.cost.runs_started) for s in report.stacks)
    parts += [
        f"{n} {what}"
        for n, what in (
            (widenings, "IAM widening(s)"),
            (findings, "new finding(s)"),
            (silenced, "rule(s) newly suppressed"),
            (runs, "run(s) started"),
        )
        if n
    ]
    changed = sum(_has_news(s) for s in report.stacks)
    if not parts and not changed:
        return "no changes"
    return ", ".join(parts or ["no resource changes"]) + f" in {changed} of {len(report.stacks)} stack(s)"


def _why(change: ResourceChange) -> str:
    if change.action is Action.REPLACE and not change.reason:
        return "forces replacement: " + ", ".join(change.replacement_causes)
    return change.reason


def to_json(report: Report) -> str:
    def encode(obj: Any) -> Any:
        if isinstance(obj, Action):
            return obj.value
        raise TypeError(type(obj))

    data = dataclasses.asdict(report)
    for stack in data["stacks"]:
        for change in stack["changes"]:
            for attr in change["changes"]:
                if attr["sensitive"]:
                    attr["before"] = attr["after"] = "(sensitive)"
    for stack, source in zip(data["stacks"], report.stacks):
        stack["cost"]["started"] = dataclasses.asdict(source.cost.started)
        for job, job_source in zip(stack["cost"]["jobs"], source.cost.jobs):
            delta = job_source.delta_per_run
            job["delta_per_run"] = dataclasses.asdict(delta) if delta else None
    data["dangerous"] = report.dangerous
    data["counts"] = report.counts()
    return json.dumps(data, indent=2, default=encode, sort_keys=True)


def to_markdown(report: Report, limit: int = COMMENT_LIMIT) -> str:
    """The PR comment; kept under `limit` characters by dropping, in turn, the diagrams and the
    attribute details (the JSON output keeps everything)."""
    for diagrams, details in ((True, True), (False, True), (False, False)):
        text = _markdown(report, diagrams, details)
        if len(text) <= limit:
            return text
    note = "\n\n_(cut to fit a comment: see the JSON output for the rest)_\n"
    return text[: limit - len(note)].rsplit("\n", 1)[0] + note


def _markdown(report: Report, diagrams: bool, details: bool) -> str:
    lines = [f"## ocift review ({report.source}): {_headline(report)}", ""]
    if report.dangerous:
        lines += [
            "> **Dangerous changes**: destroys or replacements of stateful resources, or wider IAM "
            "access. This needs an explicit approval.",
            "",
        ]
    if not diagrams:
        lines += [
            "_(diagrams left out to fit a comment"
            + ("" if details else "; attribute details too")
            + ": the JSON output has everything)_",
            "",
        ]
    changed = [s for s in report.stacks if _has_news(s)]
    if not changed:
        lines += [
            f"Nothing changes in the {len(report.stacks)} stack(s) compared: no resources, IAM statements, "
            "rule findings, suppressions or costs.",
            "",
        ]
    for stack in changed:
        lines += _markdown_stack(stack, diagrams, details)
    quiet = [s.name for s in report.stacks if not _has_news(s)]
    if changed and quiet:
        lines += [f"Unchanged: {', '.join(f'`{name}`' for name in quiet)}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_stack(stack: StackReport, diagrams: bool = True, details: bool = True) -> list[str]:
    lines = [f"### Stack `{stack.name}`", ""]
    if stack.changes:
        lines += ["| | action | resource | why |", "|---|---|---|---|"]
        for change in stack.changes:
            mark = "**!**" if change.dangerous else ""
            lines.append(f"| {mark} | {change.action.value} | `{change.address}` | {_why(change)} |")
        lines.append("")
        detail = [
            f"- `{c.address}` `{a.path}`: `{b}` → `{n}`" + (" (forces replacement)" if a.forces_replacement else "")
            for c in stack.changes
            if c.action in _DETAILED
            for a in c.changes
            for b, n in [_values(a)]
        ]
        lines += _fold("Attribute changes", detail) if details else []
    else:
        lines += ["No resource changes.", ""]
    for policy in stack.policies:
        lines += [f"#### IAM: `{policy.address}`", ""]
        for reason in policy.widenings:
            lines.append(f"- **Widens access**: {reason}")
        lines += ["", "```diff"] + [f"- {s}" for s in policy.removed] + [f"+ {s}" for s in policy.added] + ["```", ""]
    lines += _markdown_cost(stack.cost)
    if stack.suppressions:
        lines += _fold("Rule suppressions changed", [_suppression(s) for s in stack.suppressions], always_open=True)
    if stack.new_findings:
        lines += _fold("New rule findings", [f"- {f}" for f in stack.new_findings], always_open=True)
    if stack.diagram and diagrams:
        lines += ["<details><summary>Diagram</summary>", "", "```mermaid", stack.diagram, "```", "", "</details>", ""]
    return lines


def _money(amount: Amount | None, unlimited: str = "no maximum runtime") -> str:
    return unlimited if amount is None else amount.text()


def _cost_lines(cost: StackCost) -> tuple[list[tuple[str, str, str, str]], str]:
    """(job, per hour, per run, delta) rows and the runs-started sentence."""
    rows = []
    for job in cost.jobs:
        hourly = f"{_money(job.base_hourly, '-')} → {_money(job.head_hourly, 'removed')}"
        per_run = (
            f"{_money(job.base_per_run) if job.base_hourly else '-'} → "
            f"{_money(job.head_per_run) if job.head_hourly else 'removed'}"
        )
        delta = job.delta_per_run
        rows.append((job.address, hourly, per_run, delta.text(signed=True) if delta else "no worst case"))
    started = ""
    if cost.runs_started:
        started = (
            f"{len(cost.runs_started)} run(s) start on apply ("
            + ", ".join(f"`{r.address}`" for r in cost.runs_started)
            + f"): up to {cost.started.text()} in the worst case"
        )
    return rows, started


def _markdown_cost(cost: StackCost) -> list[str]:
    if not cost:
        return []
    rows, started = _cost_lines(cost)
    lines = ["#### Cost", ""]
    if rows:
        lines += ["| job | per hour | per run (worst case) | change per run |", "|---|---|---|---|"]
        lines += [f"| `{a}` | {h} | {p} | {d} |" for a, h, p, d in rows] + [""]
    if started:
        lines += [f"**{started}**", ""]
    return lines


def _suppression(change: SuppressionChange) -> str:
    only = f" (only findings naming {', '.join(f'`{t}`' for t in change.applies_to)})" if change.applies_to else ""
    if change.added:
        return f"- **{change.rule} suppressed** on `{change.address}`{only}: {change.reason}"
    return f"- {change.rule} no longer suppressed on `{change.address}`{only} (was: {change.reason})"


def _fold(title: str, items: list[str], always_open: bool = False) -> list[str]:
    if not items:
        return []
    if always_open or len(items) <= _LONG:
        return [f"**{title}**", "", *items, ""]
    return [f"<details><summary>{title} ({len(items)})</summary>", "", *items, "", "</details>", ""]


def to_text(report: Report) -> str:
    lines = [f"ocift review ({report.source}): {_headline(report)}"]
    for stack in filter(_has_news, report.stacks):
        lines.append(f"\n{stack.name}")
        for change in stack.changes:
            flag = "!" if change.dangerous else " "
            why = _why(change)
            lines.append(f" {flag} {change.action.value:<8} {change.address}" + (f"  ({why})" if why else ""))
            if change.action in _DETAILED:
                lines += [f"      {a.path}: {b} -> {n}" for a in change.changes for b, n in [_values(a)]]
        for policy in stack.policies:
            lines += [f"   iam {policy.address}"] + [f"      - {s}" for s in policy.removed]
            lines += [f"      + {s}" for s in policy.added] + [f"      ! widens: {w}" for w in policy.widenings]
        lines += [
            f"   suppression {'added' if s.added else 'removed'}: {s.rule} on {s.address}: {s.reason}"
            for s in stack.suppressions
        ]
        rows, started = _cost_lines(stack.cost)
        lines += [f"   cost {a}: per hour {h}; per run {p} ({d})" for a, h, p, d in rows]
        lines += [f"   cost: {started}"] if started else []
        lines += [f"   finding: {f}" for f in stack.new_findings]
    if report.dangerous:
        lines.append("\nDANGEROUS changes present (exit status 2).")
    return "\n".join(lines) + "\n"


# What the review itself reports in SARIF, beside the rule pack's findings.
_REVIEW_RULES = {
    "OCIFT-REVIEW-DANGEROUS": (
        "dangerous change",
        "a stateful resource (bucket, repository, vault, key, log) is deleted or replaced: what it holds is lost",
        "error",
    ),
    "OCIFT-REVIEW-REPLACE": ("replacement", "Terraform destroys and re-creates the resource", "warning"),
    "OCIFT-REVIEW-IAM": ("wider access", "a policy statement grants more than the base did", "error"),
    "OCIFT-REVIEW-SUPPRESSION": ("rule suppressed", "a rule was switched off for a resource", "note"),
}


def to_sarif(report: Report) -> str:
    """Dangerous changes, replacements, IAM widenings, new suppressions and new rule findings, as
    SARIF 2.1.0 results located at each stack's synthesized file and resource."""
    from cdk.rules import RULES
    from cdk.rules.sarif import descriptors, result, rule_descriptor, sarif_log

    results = []
    for stack in report.stacks:
        artifact = f"cdktf.out/stacks/{stack.name}/cdk.tf.json"
        for change in stack.changes:
            if change.dangerous or change.action in (Action.REPLACE, Action.RENAME):
                rule = "OCIFT-REVIEW-DANGEROUS" if change.dangerous else "OCIFT-REVIEW-REPLACE"
                results.append(
                    result(
                        rule, _REVIEW_RULES[rule][2], f"{change.action.value}: {_why(change)}", artifact, change.address
                    )
                )
        for policy in stack.policies:
            results += [result("OCIFT-REVIEW-IAM", "error", w, artifact, policy.address) for w in policy.widenings]
        results += [
            result("OCIFT-REVIEW-SUPPRESSION", "note", _suppression(s).removeprefix("- "), artifact, s.address)
            for s in stack.suppressions
            if s.added
        ]
        results += [result(f.rule, f.severity, f.message, artifact, f.address) for f in stack.new_findings]
    rules = [rule_descriptor(i, t, e, level) for i, (t, e, level) in _REVIEW_RULES.items()] + descriptors(RULES)
    return json.dumps(sarif_log("ocift-review", "0.1.0", rules, results), indent=2, sort_keys=True)
