"""Review classification on base/head pairs built with the real constructs."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from ocift.review import EXIT_DANGEROUS, main, review_trees
from ocift.review.model import Action
from ocift.review.render import to_markdown

from ._pairs import DIGEST_B, STACK, Variant, synth, write_tree

GOLDEN = Path(__file__).parent / "golden" / "review.md"


@pytest.fixture(scope="module")
def base():
    return synth(Variant())


def _review(base, **changes):
    head = synth(dataclasses.replace(Variant(), **changes))
    report = review_trees({STACK: base}, {STACK: head})
    return report, {
        c.address.split(".")[0] + "." + c.address.split(".")[1].rsplit("_", 1)[0]: c for c in report.stacks[0].changes
    }


def test_no_change_is_empty(base):
    report = review_trees({STACK: base}, {STACK: base})
    assert report.stacks[0].changes == [] and not report.dangerous


def test_renaming_a_bucket_replaces_it_dangerously(base):
    report, changes = _review(base, outputs_name="ocift-prod-results")
    bucket = changes["oci_objectstorage_bucket.outputs_bucket"]
    assert bucket.action is Action.REPLACE and bucket.dangerous
    assert bucket.replacement_causes == ["name"]
    assert report.dangerous
    assert report.stacks[0].changes[0].action is Action.REPLACE  # replacements come first


def test_renaming_a_bucket_replaces_its_lifecycle_policy_with_the_cause(base):
    _, changes = _review(base, outputs_name="ocift-prod-results")
    policy = changes["oci_objectstorage_object_lifecycle_policy.outputs_bucket_Lifecycle"]
    assert policy.action is Action.REPLACE
    assert policy.cascade_from == [changes["oci_objectstorage_bucket.outputs_bucket"].address]
    assert "bucket cannot change in place" in policy.reason and "follows" in policy.reason
    bucket_change = next(a for a in policy.changes if a.path == "bucket")
    assert (bucket_change.before, bucket_change.after) == ("ocift-prod-outputs", "ocift-prod-results")


def test_a_replaced_job_replaces_its_declared_runs_and_says_what_the_service_deletes(base):
    _, changes = _review(base, replicas=4)
    job, run = changes["oci_datascience_job.finetune_job"], changes["oci_datascience_job_run.finetune_job_first_run"]
    assert job.action is Action.REPLACE and "every run of this job" in job.reason
    assert run.action is Action.REPLACE and run.cascade_from == [job.address]
    assert next(a for a in run.changes if a.path == "job_id").after == "(known after apply)"


def test_a_referenced_value_that_does_not_change_cascades_nothing(base):
    _, changes = _review(base, retention_days=60)  # the log is updated in place: its id stays
    assert {a: c.action for a, c in changes.items()} == {"oci_logging_log.train_log": Action.UPDATE}


def test_new_image_digest_replaces_the_job_but_is_not_dangerous(base):
    report, changes = _review(base, digest=DIGEST_B)
    job = changes["oci_datascience_job.finetune_job"]
    assert job.action is Action.REPLACE and not job.dangerous
    assert any("image_digest" in cause for cause in job.replacement_causes)
    assert {c.action for c in report.stacks[0].changes} == {Action.REPLACE}
    assert not report.dangerous


def test_broad_statement_is_a_widening_and_a_new_finding(base):
    report, _ = _review(base, broad_grant=True)
    (policy,) = report.stacks[0].policies
    assert policy.added == ["Allow dynamic-group ocift-prod-jobruns to manage objects in tenancy"]
    assert policy.removed == []
    assert "scope widened to the whole tenancy" in policy.widenings[0]
    assert "where-conditions dropped" in policy.widenings[0]
    assert any(f.rule.startswith("OCI-IAM") for f in report.stacks[0].new_findings)
    assert report.dangerous


def test_removing_a_bucket_is_a_dangerous_delete(base):
    report, changes = _review(base, scratch_id=None)
    scratch = changes["oci_objectstorage_bucket.scratch_bucket"]
    assert scratch.action is Action.DELETE and scratch.dangerous
    assert "bucket" in scratch.reason and report.dangerous


def test_renaming_a_construct_id_is_a_destroy_create_with_a_moved_hint(base):
    report, changes = _review(base, scratch_id="temp_bucket")
    (bucket,) = [c for c in report.stacks[0].changes if c.type == "oci_objectstorage_bucket"]
    assert bucket.action is Action.RENAME and bucket.dangerous
    assert "scratch_bucket" in bucket.renamed_from and "temp_bucket" in bucket.address
    assert "moved {" in bucket.reason


def test_added_and_removed_suppressions_are_shown(base):
    silenced = synth(dataclasses.replace(Variant(), suppressed="versions are kept by the backup job"))
    added = review_trees({STACK: base}, {STACK: silenced}).stacks[0].suppressions
    assert {(s.rule, s.added, s.reason) for s in added} == {("OCI-OS-1", True, "versions are kept by the backup job")}
    assert sorted(s.address.split(".")[0] for s in added) == [  # the bucket and what the construct holds
        "oci_objectstorage_bucket",
        "oci_objectstorage_object_lifecycle_policy",
    ]
    report = review_trees({STACK: silenced}, {STACK: base})
    assert [s.added for s in report.stacks[0].suppressions] == [False, False]
    assert "OCI-OS-1 no longer suppressed" in to_markdown(report)
    assert "**OCI-OS-1 suppressed**" in to_markdown(review_trees({STACK: base}, {STACK: silenced}))


def test_tag_only_change_is_a_plain_update(base):
    report, _ = _review(base, tags={"project": "ocift", "environment": "prod", "team": "ml"})
    actions = {c.action for c in report.stacks[0].changes}
    assert actions == {Action.UPDATE}
    paths = {a.path for c in report.stacks[0].changes for a in c.changes}
    assert paths == {"freeform_tags.team"}
    assert not report.dangerous


def test_secret_named_values_are_masked(base):
    head = json.loads(json.dumps(base))
    job = next(iter(head["resource"]["oci_datascience_job"].values()))
    group = job["job_node_configuration_details"]["job_node_group_configuration_details_list"][0]
    group["job_configuration_details"].setdefault("environment_variables", {})["HF_TOKEN"] = "hf_supersecretvalue"
    report = review_trees({STACK: base}, {STACK: head})
    text = to_markdown(report)
    assert "hf_supersecretvalue" not in text and "(sensitive)" in text


def test_markdown_matches_golden(base):
    head = synth(
        dataclasses.replace(
            Variant(),
            outputs_name="ocift-prod-results",
            scratch_id=None,
            broad_grant=True,
            tags={"project": "ocift", "environment": "prod", "team": "ml"},
        )
    )
    text = to_markdown(review_trees({STACK: base}, {STACK: head}))
    if os.environ.get("OCIFT_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert text.index("replace") < text.index("| update |")
    assert "Attribute changes" in text and "```mermaid" in text


@pytest.mark.parametrize(
    ("changes", "expected"), [({}, 0), ({"digest": DIGEST_B}, 0), ({"scratch_id": None}, EXIT_DANGEROUS)]
)
def test_exit_status(base, tmp_path, capsys, changes, expected):
    head = synth(dataclasses.replace(Variant(), **changes))
    base_dir = write_tree(tmp_path / "base", base)
    head_dir = write_tree(tmp_path / "head", head)
    assert main(["--base", str(base_dir), "--head", str(head_dir), "--format", "text"]) == expected
    out = capsys.readouterr().out
    assert out.startswith("ocift review")


def test_missing_tree_is_a_clear_error(tmp_path, capsys):
    assert main(["--base", str(tmp_path), "--head", str(tmp_path)]) == 1
    assert "not a synthesized tree" in capsys.readouterr().err
