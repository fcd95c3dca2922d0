"""`--format sarif`: the review and the rule findings as SARIF 2.1.0, checked against its schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from cdk.rules import RULES, RuleContext, evaluate
from cdk.rules.sarif import findings_sarif
from ocift.review import main, review_trees
from ocift.review.render import to_sarif

from ._pairs import STACK, Variant, synth, write_tree

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json").read_text())


def _valid(log: dict) -> dict:
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    return log


@pytest.fixture(scope="module")
def pair() -> tuple[dict, dict]:
    base = synth(Variant())
    head = synth(
        dataclasses.replace(
            Variant(),
            outputs_name="ocift-prod-results",
            broad_grant=True,
            replicas=4,
            suppressed="versions are kept by the backup job",
        )
    )
    return base, head


def test_the_review_is_valid_sarif_with_every_kind_of_result(pair) -> None:
    log = _valid(json.loads(to_sarif(review_trees({STACK: pair[0]}, {STACK: pair[1]}))))
    results = log["runs"][0]["results"]
    rules = {r["ruleId"] for r in results}
    assert {"OCIFT-REVIEW-DANGEROUS", "OCIFT-REVIEW-REPLACE", "OCIFT-REVIEW-IAM", "OCIFT-REVIEW-SUPPRESSION"} <= rules
    assert any(r.startswith("OCI-IAM") for r in rules)  # the new rule findings
    described = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules <= described
    dangerous = next(r for r in results if r["ruleId"] == "OCIFT-REVIEW-DANGEROUS")
    assert dangerous["level"] == "error"
    assert (
        dangerous["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == f"cdktf.out/stacks/{STACK}/cdk.tf.json"
    )


def test_rule_findings_are_valid_sarif_and_keep_suppressions(pair) -> None:
    head = json.loads(json.dumps(pair[1]))
    (policy,) = head["resource"]["oci_identity_policy"].values()
    policy["//"]["ocift"] = {"suppressions": [{"rule": "OCI-IAM-2", "reason": "a tenancy-wide grant, reviewed"}]}
    findings = evaluate(head, RuleContext(environment="prod", is_prod=True))
    assert any(f.suppressed for f in findings) and any(not f.suppressed for f in findings)
    log = _valid(findings_sarif(findings, f"cdktf.out/stacks/{STACK}/cdk.tf.json", RULES))
    suppressed = [r for r in log["runs"][0]["results"] if "suppressions" in r]
    assert suppressed and suppressed[0]["suppressions"][0]["justification"] == "a tenancy-wide grant, reviewed"


def test_a_log_the_schema_refuses_is_caught() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _valid({"version": "2.0.0", "runs": []})


def test_cli_writes_sarif(pair, tmp_path: Path) -> None:
    out = tmp_path / "review.sarif"
    code = main(
        [
            "--base",
            str(write_tree(tmp_path / "b", pair[0])),
            "--head",
            str(write_tree(tmp_path / "h", pair[1])),
            "--format",
            "sarif",
            "--output",
            str(out),
        ]
    )
    assert code == 2
    _valid(json.loads(out.read_text()))
