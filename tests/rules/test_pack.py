"""The rule pack both ways: as an Aspect at synth (failing `app.synth()` on errors) and as
`evaluate` over the synthesized cdk.tf.json, with suppressions honoured by both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from constructs import Construct
from hypothesis import HealthCheck, given, settings, strategies as st

from cdk.framework import Testing
from cdk.oci.identity import IdentityPolicy
from cdk.oci.objectstorage import ObjectstorageBucket
from cdk.rules import (
    RULES,
    RuleContext,
    SuppressionError,
    evaluate,
    evaluate_document,
    summarize,
    suppress,
)
from cdk.rules.policy_syntax import PolicySyntaxError, parse

from ._cdk import Raw, annotations, stack_with_pack, synthesized
from ._fixtures import COMPARTMENT, DEV, DIGEST, PROD, SECRET_OCID, TAGS

IN_C = f"in compartment id {COMPARTMENT}"
GOOD_JOB = {
    "compartment_id": COMPARTMENT,
    "project_id": "ocid1.datascienceproject.oc1..p",
    "freeform_tags": TAGS,
    "job_node_configuration_details": {
        "job_node_type": "MULTI_NODE",
        "job_node_group_configuration_details_list": [
            {
                "name": "workers",
                "replicas": 2,
                "job_configuration_details": {
                    "job_type": "DEFAULT",
                    "environment_variables": {"OCIFT_SECRETS": f"HF_TOKEN={SECRET_OCID}"},
                },
                "job_environment_configuration_details": {
                    "job_environment_type": "OCIR_CONTAINER",
                    "image": "iad.ocir.io/ns/l",
                    "image_digest": DIGEST,
                },
            }
        ],
    },
}
GOOD = {
    "oci_identity_policy": {
        "compartment_id": COMPARTMENT,
        "name": "p",
        "description": "d",
        "freeform_tags": TAGS,
        "statements": [f"Allow dynamic-group j to manage objects {IN_C} where target.bucket.name = 'out'"],
    },
    "oci_objectstorage_bucket": {
        "compartment_id": COMPARTMENT,
        "name": "out",
        "namespace": "ns",
        "freeform_tags": TAGS,
        "access_type": "NoPublicAccess",
        "versioning": "Enabled",
    },
    "oci_datascience_job": GOOD_JOB,
}
_GROUP = "job_node_configuration_details.job_node_group_configuration_details_list"
# One failing resource per rule, each differing from a compliant one in one place.
FAILING: dict[str, tuple[str, dict[str, Any]]] = {
    "OCI-IAM-1": (
        "oci_identity_policy",
        {"statements": [f"Allow group A to manage all-resources {IN_C} where target.bucket.name = 'out'"]},
    ),
    "OCI-IAM-2": ("oci_identity_policy", {"statements": ["Allow group A to read metrics in tenancy"]}),
    "OCI-IAM-3": ("oci_identity_policy", {"statements": [f"Allow group A to read objects {IN_C}"]}),
    "OCI-OS-1": ("oci_objectstorage_bucket", {"access_type": "ObjectRead"}),
    "OCI-OS-2": ("oci_objectstorage_bucket", {"versioning": "Disabled"}),
    "OCI-DS-1": (
        "oci_datascience_job",
        {"job_configuration_details": {"job_type": "DEFAULT", "environment_variables": {"HF_TOKEN": "x"}}},
    ),
    "OCI-DS-2": (
        "oci_datascience_job",
        {
            "job_configuration_details": {
                "job_type": "DEFAULT",
                "command_line_arguments": "--key kGzdKofNbv+3cGMDXLCHt2OclW5Xv9VKv7CHKZwK",
            }
        },
    ),
    "OCI-DS-3": (
        "oci_datascience_job",
        {
            "job_environment_configuration_details": {
                "job_environment_type": "OCIR_CONTAINER",
                "image": "iad.ocir.io/ns/l:latest",
            }
        },
    ),
    "OCI-TAG-1": ("oci_objectstorage_bucket", {"freeform_tags": {"project": "ocift"}}),
}


def _policy(scope: Construct, id_: str, *statements: str) -> IdentityPolicy:
    return IdentityPolicy(
        scope,
        id_,
        compartment_id=COMPARTMENT,
        description="d",
        name=id_,
        statements=list(statements),
        freeform_tags=TAGS,
    )


def test_every_rule_has_a_failing_case_here() -> None:
    assert set(FAILING) == {rule.id for rule in RULES}


def test_compliant_stack_synthesizes_with_no_findings(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, PROD)
    for tf_type, attrs in GOOD.items():
        Raw(stack, tf_type, tf_type, attrs)
    app.synth()
    assert pack.findings == []
    assert evaluate(synthesized(tmp_path, stack), PROD) == []


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_each_rule_fails_the_same_way_both_ways(tmp_path: Path, rule_id: str) -> None:
    tf_type, change = FAILING[rule_id]
    app, stack, pack = stack_with_pack(tmp_path, PROD)
    bad = Raw(stack, "bad", tf_type, {**GOOD[tf_type], **change})
    Testing.synth(stack)
    assert [f.rule.id for f in pack.findings] == [rule_id]
    kind = "error" if pack.findings[0].blocking else "warn"
    assert [m.split(":")[0] for m in annotations(bad, kind)] == [f"[{rule_id}] {pack.findings[0].rule.title}"]
    from_json = evaluate({"resource": {tf_type: {"bad": {**GOOD[tf_type], **change}}}}, PROD)
    assert [(f.rule.id, f.detail) for f in from_json] == [(rule_id, pack.findings[0].detail)]


def test_errors_fail_app_synth_with_the_rule_and_path(tmp_path: Path) -> None:
    app, stack, _ = stack_with_pack(tmp_path, DEV)
    _policy(stack, "admins", "Allow group Admins to manage all-resources in tenancy")
    with pytest.raises(RuntimeError, match=r"(?s)\[dev/admins\] \[OCI-IAM-1\].*\[OCI-IAM-2\]"):
        app.synth()


def test_testing_synth_records_the_error_annotation(tmp_path: Path) -> None:
    _, stack, pack = stack_with_pack(tmp_path, DEV)
    policy = _policy(stack, "ops", "Allow group Ops to read metrics in tenancy")
    Testing.synth(stack)  # does not raise: only app.synth() turns error annotations into a failure
    Testing.synth(stack)  # a second visit adds nothing twice
    (error,) = annotations(policy, "error")
    assert error.startswith(
        "[OCI-IAM-2] every statement scoped to a compartment: 'Allow group Ops to read metrics in tenancy'"
    )
    assert [str(f) for f in pack.findings] == [f"dev/ops: {error}"]


def test_warnings_do_not_fail_synth(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, DEV)
    tf_type, change = FAILING["OCI-DS-2"]
    job = Raw(stack, "job", tf_type, {**GOOD[tf_type], **change})
    app.synth()
    assert len(annotations(job, "warn")) == 1 and not annotations(job, "error")
    assert "0 blocking" in summarize(pack.findings)


def test_the_aspect_sees_references_resolved(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, DEV)
    secret = Raw(stack, "hf", "oci_vault_secret", {"secret_name": "hf"})
    env = {"HF_TOKEN_SECRET_ID": secret.get_string_attribute("id")}
    Raw(
        stack,
        "job",
        "oci_datascience_job",
        {**GOOD_JOB, "job_configuration_details": {"job_type": "DEFAULT", "environment_variables": env}},
    )
    app.synth()
    assert pack.findings == []


def test_suppression_holds_at_synth_and_in_the_synthesized_file(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, DEV)
    policy = _policy(stack, "dg_reader", "Allow group Ops to inspect dynamic-groups in tenancy")
    suppress(policy, "OCI-IAM-2", "  dynamic groups exist only at the tenancy level ")
    app.synth()  # would raise without the suppression
    reason = "dynamic groups exist only at the tenancy level"
    assert annotations(policy, "info") == [pack.findings[0].message] and reason in pack.findings[0].message
    (finding,) = evaluate(synthesized(tmp_path, stack), DEV)
    assert (finding.rule.id, finding.suppressed_reason, finding.blocking) == ("OCI-IAM-2", reason, False)
    assert finding.resource.path == "dev/dg_reader" and finding.resource.address == "oci_identity_policy.dg_reader"
    assert "suppressed" in summarize([finding])


def test_suppressions_accumulate_and_apply_to_resources_under_a_construct(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, DEV)
    group = Construct(stack, "outputs")
    ObjectstorageBucket(
        group, "a", compartment_id=COMPARTMENT, name="a", namespace="ns", access_type="ObjectRead", freeform_tags=TAGS
    )
    ObjectstorageBucket(
        group, "b", compartment_id=COMPARTMENT, name="b", namespace="ns", access_type="ObjectRead", freeform_tags=TAGS
    )
    suppress(group, "OCI-OS-1", "public demo data set")
    suppress(group, "OCI-OS-2", "first reason")
    suppress(group, "OCI-OS-2", "scratch data, rewritten each run")
    app.synth()
    found = evaluate(synthesized(tmp_path, stack), DEV)
    assert sorted((f.resource.path, f.rule.id, f.suppressed_reason) for f in found) == [
        ("dev/outputs/a", "OCI-OS-1", "public demo data set"),
        ("dev/outputs/a", "OCI-OS-2", "scratch data, rewritten each run"),
        ("dev/outputs/b", "OCI-OS-1", "public demo data set"),
        ("dev/outputs/b", "OCI-OS-2", "scratch data, rewritten each run"),
    ]
    assert sorted((f.resource.path, f.rule.id, f.suppressed_reason) for f in pack.findings) == sorted(
        (f.resource.path, f.rule.id, f.suppressed_reason) for f in found
    )


def test_the_synthesized_file_records_the_context_it_was_checked_under(tmp_path: Path) -> None:
    context = RuleContext(environment="prod", is_prod=True, required_tags=("project", "environment", "owner"))
    app, stack, pack = stack_with_pack(tmp_path, context)
    tf_type, change = FAILING["OCI-DS-3"]  # a finding only in prod
    job = Raw(stack, "job", tf_type, {**GOOD[tf_type], **change, "freeform_tags": {**TAGS, "owner": "ml"}})
    suppress(job, "OCI-DS-3", "tag pinned by the release pipeline")
    app.synth()
    document = synthesized(tmp_path, stack)
    assert RuleContext.recorded_in(document) == context
    assert [(f.rule.id, f.suppressed) for f in evaluate_document(document)] == [("OCI-DS-3", True)]
    assert [str(f) for f in evaluate_document(document)] == [str(f) for f in pack.findings]


@pytest.mark.parametrize(
    "document, message",
    [
        ({"resource": {}}, "records no rule context"),
        (
            {"//": {"ocift": {"rule_context": {"environment": "dev", "is_prod": "no", "required_tags": []}}}},
            "malformed",
        ),
    ],
)
def test_evaluate_document_needs_a_recorded_context(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_document(document)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_suppression_needs_a_reason(tmp_path: Path, reason: str) -> None:
    _, stack, _ = stack_with_pack(tmp_path, DEV)
    policy = _policy(stack, "p", "Allow group A to read metrics in tenancy")
    with pytest.raises(SuppressionError, match="OCI-IAM-2 on dev/p needs a reason"):
        suppress(policy, "OCI-IAM-2", reason)


def test_an_unknown_rule_cannot_be_suppressed(tmp_path: Path) -> None:
    _, stack, _ = stack_with_pack(tmp_path, DEV)
    policy = _policy(stack, "p", "Allow group A to read metrics in tenancy")
    with pytest.raises(SuppressionError, match=r"unknown rule 'OCI-IAM-9'.*OCI-IAM-2"):
        suppress(policy, "OCI-IAM-9", "typo")


def test_a_construct_without_resources_cannot_be_suppressed(tmp_path: Path) -> None:
    _, stack, _ = stack_with_pack(tmp_path, DEV)
    with pytest.raises(SuppressionError, match="holds no resources"):
        suppress(Construct(stack, "empty"), "OCI-IAM-2", "nothing yet")


def test_a_reasonless_suppression_in_a_file_suppresses_nothing() -> None:
    body = {
        **GOOD["oci_objectstorage_bucket"],
        "versioning": "Disabled",
        "//": {"ocift": {"suppressions": [{"rule": "OCI-OS-2", "reason": " "}]}},
    }
    (finding,) = evaluate({"resource": {"oci_objectstorage_bucket": {"b": body}}}, DEV)
    assert finding.blocking


_PIECES = st.sampled_from(
    [
        "Allow ",
        "group ",
        "any-user ",
        "to ",
        "manage ",
        "objects ",
        "all-resources ",
        "in ",
        "tenancy ",
        "compartment ",
        "id ",
        "where ",
        "any ",
        "{",
        "}",
        "${",
        "'",
        ",",
        "=",
        " ",
        "x",
    ]
)
_STATEMENTS = st.lists(st.lists(_PIECES, max_size=20).map("".join) | st.text(max_size=60), max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STATEMENTS)
def test_evaluate_never_raises_and_flags_every_unreadable_statement(statements: list[str]) -> None:
    findings = evaluate(
        {"resource": {"oci_identity_policy": {"p": {**GOOD["oci_identity_policy"], "statements": statements}}}}, DEV
    )
    scope = [f.detail for f in findings if f.rule.id == "OCI-IAM-2"]
    for text in statements:
        try:
            parse(text)
        except PolicySyntaxError:
            assert scope and repr(text) in scope[0]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(GOOD) + ["oci_datascience_job_run", "oci_core_vcn"]),
    st.dictionaries(
        st.sampled_from(
            [
                "statements",
                "access_type",
                "versioning",
                "freeform_tags",
                "environment_variables",
                "image",
                "job_configuration_details",
                "job_node_configuration_details",
                "//",
            ]
        ),
        _JSON,
        max_size=4,
    ),
)
def test_evaluate_never_raises_on_odd_attribute_shapes(tf_type: str, attributes: dict[str, Any]) -> None:
    assert isinstance(evaluate({"resource": {tf_type: {"r": attributes}}}, PROD), list)


def test_a_rule_that_raises_is_a_finding_naming_it_and_the_other_rules_still_run() -> None:
    from cdk.rules import Rule, Severity

    def broken(resource, context):
        raise KeyError("statements")

    rule = Rule("TEST-BROKEN", Severity.ERROR, "a broken rule", "it has a bug", broken)
    body = {"compartment_id": COMPARTMENT, "name": "b", "access_type": "ObjectRead", "freeform_tags": TAGS}
    stack_json = {"resource": {"oci_objectstorage_bucket": {"b": body}}}
    findings = evaluate(stack_json, DEV, [rule, *RULES])
    (raised,) = [f for f in findings if f.rule.id == "TEST-BROKEN"]
    assert "the rule raised KeyError" in raised.message and raised.blocking
    assert any(f.rule.id == "OCI-OS-1" for f in findings)  # the rules after it still ran


def test_a_suppression_can_target_one_finding(tmp_path: Path) -> None:
    app, stack, pack = stack_with_pack(tmp_path, DEV)
    tenancy_wide = "Allow group A to read metrics in tenancy"
    other = "Allow group B to read buckets in tenancy"
    policy = Raw(
        stack, "policy", "oci_identity_policy", {**GOOD["oci_identity_policy"], "statements": [tenancy_wide, other]}
    )
    suppress(policy, "OCI-IAM-2", "metrics are read tenancy-wide by the dashboard", applies_to=[tenancy_wide])
    with pytest.raises(RuntimeError, match=r"OCI-IAM-2"):
        app.synth()  # the other tenancy-wide statement is still an error
    found = [f for f in pack.findings if f.rule.id == "OCI-IAM-2"]
    assert [(tenancy_wide in f.detail, other in f.detail, f.suppressed) for f in found] == [
        (True, False, True),
        (False, True, False),
    ]


def test_applies_to_must_be_a_list_of_texts(stack) -> None:
    policy = Raw(stack, "policy", "oci_identity_policy", GOOD["oci_identity_policy"])
    with pytest.raises(SuppressionError, match="applies_to is a list"):
        suppress(policy, "OCI-IAM-2", "reason", applies_to="Allow group A")
