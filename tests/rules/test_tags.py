"""Required tags on every taggable resource; taggable types come from the pinned schema."""

from __future__ import annotations

import pytest

from cdk.rules import Outcome, RuleContext
from cdk.rules.tags import REQUIRED_TAGS, taggable_types

from ._fixtures import DEV, TAGS, detail, outcome, resource


def test_taggable_types_are_read_from_the_schema() -> None:
    types = taggable_types()
    assert {"oci_objectstorage_bucket", "oci_datascience_job", "oci_identity_policy", "oci_core_vcn"} <= types
    # These two have no freeform_tags in oracle/oci 8.28.0.
    assert not {"oci_objectstorage_object_lifecycle_policy", "oci_core_network_security_group_security_rule"} & types


def test_tagged_resource_passes() -> None:
    assert outcome(REQUIRED_TAGS, resource("oci_core_vcn", freeform_tags={**TAGS, "team": "ml"})) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "tags, missing",
    [
        (None, "project, environment"),
        ({"project": "ocift"}, "environment"),
        ({"project": "ocift", "environment": " "}, "environment"),
    ],
)
def test_missing_or_empty_required_tags_fail(tags: dict[str, str] | None, missing: str) -> None:
    attrs = {} if tags is None else {"freeform_tags": tags}
    res = resource("oci_datascience_job", **attrs)
    assert outcome(REQUIRED_TAGS, res) is Outcome.NON_COMPLIANT
    assert detail(REQUIRED_TAGS, res) == f"freeform_tags lacks {missing}"


def test_required_keys_come_from_the_context() -> None:
    res = resource("oci_core_vcn", freeform_tags=TAGS)
    strict = RuleContext(environment="dev", required_tags=("project", "cost-center"))
    assert outcome(REQUIRED_TAGS, res, strict) is Outcome.NON_COMPLIANT
    assert "cost-center" in detail(REQUIRED_TAGS, res, strict)


def test_non_literal_tags_cannot_be_verified() -> None:
    res = resource("oci_core_vcn", freeform_tags="${var.tags}")
    assert outcome(REQUIRED_TAGS, res) is Outcome.NON_COMPLIANT
    assert "not a literal map" in detail(REQUIRED_TAGS, res)


def test_untaggable_types_are_not_applicable() -> None:
    assert outcome(REQUIRED_TAGS, resource("oci_objectstorage_object_lifecycle_policy"), DEV) is Outcome.NOT_APPLICABLE
