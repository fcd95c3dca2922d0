"""The PR comment a reviewer reads: the changed part of long values, no room for unchanged
stacks, a summary line, a clear "no changes", and a size GitHub accepts."""

from __future__ import annotations

import dataclasses

from ocift.review import review_trees
from ocift.review.model import Action, AttrChange, Report, ResourceChange, StackReport
from ocift.review.render import COMMENT_LIMIT, to_markdown, to_text

from ._pairs import STACK, Variant, synth

PREFIX = "--model_name meta-llama/Llama-3.1-8B --dataset samsum --context_length 4096 --batch_size_training 4 "


def _one_change(before: str, after: str) -> Report:
    change = ResourceChange(
        "s",
        "oci_datascience_job.j",
        "oci_datascience_job",
        Action.UPDATE,
        [AttrChange("command_line_arguments", before, after)],
    )
    return Report("synthesized stacks", [StackReport("s", [change])])


def test_a_long_value_shows_the_part_that_changed() -> None:
    text = to_markdown(_one_change(PREFIX + "--lr 0.0001 --use_peft", PREFIX + "--lr 0.0002 --use_peft"))
    line = next(row for row in text.splitlines() if "command_line_arguments" in row)
    assert "--lr 0.0001" in line and "--lr 0.0002" in line and "…" in line
    assert "--lr 0.0002" in to_text(_one_change(PREFIX + "--lr 0.0001", PREFIX + "--lr 0.0002"))


def test_unchanged_stacks_take_no_room() -> None:
    base = synth(Variant())
    head = synth(dataclasses.replace(Variant(), retention_days=60))
    text = to_markdown(review_trees({STACK: base, "quiet": base}, {STACK: head, "quiet": base}))
    assert text.count("### Stack") == 1 and text.count("```mermaid") == 1
    assert "Unchanged: `quiet`." in text
    assert text.splitlines()[0].endswith("1 to update in 1 of 2 stack(s)")
    assert "quiet" not in to_text(review_trees({STACK: base, "quiet": base}, {STACK: head, "quiet": base}))


def test_no_changes_is_said_plainly() -> None:
    base = synth(Variant())
    text = to_markdown(review_trees({STACK: base}, {STACK: base}))
    assert text.splitlines()[0] == "## ocift review (synthesized stacks): no changes"
    assert "Nothing changes in the 1 stack(s) compared" in text and "### Stack" not in text


def test_the_summary_counts_what_a_reviewer_must_look_at() -> None:
    base = synth(Variant())
    head = synth(dataclasses.replace(Variant(), replicas=4, broad_grant=True, suppressed="kept by backups"))
    first = to_markdown(review_trees({STACK: base}, {STACK: head})).splitlines()[0]
    for part in ("2 to replace", "IAM widening(s)", "new finding(s)", "rule(s) newly suppressed", "1 run(s) started"):
        assert part in first


def test_a_big_change_stays_under_githubs_limit() -> None:
    base = synth(Variant())
    head = synth(
        dataclasses.replace(
            Variant(),
            outputs_name="ocift-prod-results",
            scratch_id=None,
            broad_grant=True,
            tags={"project": "ocift", "environment": "prod", "team": "ml"},
        )
    )
    many = {f"{STACK}-{i}": base for i in range(60)}
    report = review_trees(many, {name: head for name in many})
    full = to_markdown(report, limit=10**9)
    assert len(full) > COMMENT_LIMIT  # the scenario needs cutting
    text = to_markdown(report)
    assert len(text) <= COMMENT_LIMIT
    assert text.splitlines()[0] == full.splitlines()[0]  # the summary always survives
    assert "```mermaid" not in text and "diagrams left out" in text
