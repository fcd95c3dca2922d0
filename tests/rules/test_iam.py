"""IAM rules: each over several statement shapes, compliant and not."""

from __future__ import annotations

import pytest

from cdk.rules import Outcome, Rule, SynthResource
from cdk.rules.iam import BUCKET_SCOPED_OBJECTS, COMPARTMENT_SCOPE, NO_MANAGE_ALL

from ._fixtures import COMPARTMENT, detail, outcome, resource

IN_C = f"in compartment id {COMPARTMENT}"


def policy(*statements: str) -> SynthResource:
    return resource("oci_identity_policy", statements=list(statements))


@pytest.mark.parametrize(
    "statement",
    [
        f"Allow group Admins to manage all-resources {IN_C}",
        "allow dynamic-group ocift-jobs to MANAGE All-Resources in tenancy",
        "Allow any-user to manage all-resources in compartment ocift "
        "where request.principal.type = 'datasciencejobrun'",
        "Allow group 'Default'/'Admins' to manage   all-resources in compartment ocift:dev",
    ],
)
def test_manage_all_resources_is_refused(statement: str) -> None:
    fine = f"Allow group Ops to read metrics {IN_C}"
    assert outcome(NO_MANAGE_ALL, policy(fine, statement)) is Outcome.NON_COMPLIANT
    assert statement in detail(NO_MANAGE_ALL, policy(fine, statement))


@pytest.mark.parametrize(
    "statement",
    [
        f"Allow group Ops to manage data-science-jobs {IN_C}",
        f"Allow group Ops to read all-resources {IN_C}",
        "Allow group 'manage all-resources' to read metrics in compartment ocift",
        "Define tenancy Acceptor as ocid1.tenancy.oc1..aaa",
    ],
)
def test_narrower_grants_pass_no_manage_all(statement: str) -> None:
    assert outcome(NO_MANAGE_ALL, policy(statement)) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "statement",
    [
        f"Allow dynamic-group ocift-jobs to use log-content {IN_C}",
        "Allow service datascience to use virtual-network-family in compartment id ${oci_identity_compartment.net.id}",
        "Allow any-user to read repos in compartment ocift where all { request.principal.type = 'datasciencejobrun' }",
        "Allow group A, group B to {OBJECT_READ} in compartment 'ocift:dev' where target.bucket.name = 'x'",
        "Define dynamic-group jobs as ocid1.dynamicgroup.oc1..aaa",
    ],
)
def test_compartment_scoped_statements_pass(statement: str) -> None:
    assert outcome(COMPARTMENT_SCOPE, policy(statement)) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "statement, why",
    [
        ("Allow group Ops to read metrics in tenancy", "whole tenancy"),
        ("allow ANY-USER to inspect buckets IN TENANCY where request.user.id = 'x'", "whole tenancy"),
        ("Endorse group Ops to read objects in tenancy Acceptor", "whole tenancy"),
        ("Allow group Ops to read metrics in compartment id ocid1.tenancy.oc1..aaa", "root compartment"),
        ("Allow group Ops to read metrics in compartment id ocifttest", "not a compartment OCID"),
        ("Allow group Ops to read metrics", "no 'in compartment"),
        ("Allow group Ops to read metrics in region us-ashburn-1", "cannot read location"),
        ("Allow group Ops to read metrics in compartment a b", "cannot read location"),
        ("Let group Ops read metrics", "cannot parse"),
    ],
)
def test_unscoped_statements_fail(statement: str, why: str) -> None:
    res = policy(f"Allow group Ops to read metrics {IN_C}", statement)
    assert outcome(COMPARTMENT_SCOPE, res) is Outcome.NON_COMPLIANT
    assert why in detail(COMPARTMENT_SCOPE, res) and statement in detail(COMPARTMENT_SCOPE, res)


def test_non_literal_statements_cannot_be_verified() -> None:
    res = resource("oci_identity_policy", statements="${var.statements}")
    assert outcome(COMPARTMENT_SCOPE, res) is Outcome.NON_COMPLIANT
    assert "not a literal list" in detail(COMPARTMENT_SCOPE, res)


@pytest.mark.parametrize(
    "statement",
    [
        f"Allow dynamic-group j to manage objects {IN_C} where target.bucket.name = 'ocift-dev-outputs'",
        f"Allow dynamic-group j to read objects {IN_C} "
        "where target.bucket.name='${oci_objectstorage_bucket.data.name}'",
        f"Allow dynamic-group j to read objects {IN_C} "
        "where all { request.permission = 'OBJECT_READ', target.bucket.name = 'a' }",
        f"Allow dynamic-group j to read objects {IN_C} "
        "where any { target.bucket.name = 'a', target.bucket.name = 'b' }",
        f"Allow dynamic-group j to read objects {IN_C} where target.bucket.name = /ocift-dev-*/",
        f"Allow group A to {{OBJECT_READ, OBJECT_INSPECT}} {IN_C} where target.bucket.name = 'a'",
        f"Allow dynamic-group j to read buckets {IN_C}",
        f"Allow dynamic-group j to read secret-bundles {IN_C} where target.secret.id = 'ocid1.vaultsecret.oc1..x'",
    ],
)
def test_bucket_scoped_object_grants_pass(statement: str) -> None:
    assert outcome(BUCKET_SCOPED_OBJECTS, policy(statement)) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "statement",
    [
        f"Allow dynamic-group j to manage objects {IN_C}",
        f"Allow dynamic-group j to read object-family {IN_C} where request.permission = 'OBJECT_READ'",
        f"Allow dynamic-group j to read objects {IN_C} where target.bucket.name != 'state'",
        f"Allow dynamic-group j to read objects {IN_C} where any {{ target.bucket.name = 'a', request.user.id = 'u' }}",
        f"Allow dynamic-group j to read objects {IN_C} where target.bucket.name = /*/",
        f"Allow dynamic-group j to read objects {IN_C} where target.bucket.name = ''",
        f"Allow group A to {{object_read}} {IN_C}",
        f"Allow group A to read all-resources {IN_C}",
    ],
)
def test_unscoped_object_grants_fail(statement: str) -> None:
    res = policy(statement)
    assert outcome(BUCKET_SCOPED_OBJECTS, res) is Outcome.NON_COMPLIANT
    assert "target.bucket.name" in detail(BUCKET_SCOPED_OBJECTS, res)


@pytest.mark.parametrize("rule", [NO_MANAGE_ALL, COMPARTMENT_SCOPE, BUCKET_SCOPED_OBJECTS])
def test_iam_rules_ignore_other_resources(rule: Rule) -> None:
    assert (
        outcome(
            rule, resource("oci_objectstorage_bucket", statements=["Allow group x to manage all-resources in tenancy"])
        )
        is Outcome.NOT_APPLICABLE
    )
