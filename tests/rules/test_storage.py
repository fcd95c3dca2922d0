"""Bucket rules: not public, versioned."""

from __future__ import annotations

import pytest

from cdk.rules import Outcome, SynthResource
from cdk.rules.storage import NOT_PUBLIC, VERSIONED

from ._fixtures import detail, outcome, resource


def bucket(**attributes: object) -> SynthResource:
    return resource("oci_objectstorage_bucket", name="outputs", namespace="ns", compartment_id="c", **attributes)


@pytest.mark.parametrize("attrs", [{"access_type": "NoPublicAccess"}, {}])
def test_private_bucket_passes(attrs: dict[str, str]) -> None:
    assert outcome(NOT_PUBLIC, bucket(**attrs)) is Outcome.COMPLIANT


@pytest.mark.parametrize("access", ["ObjectRead", "ObjectReadWithoutList", "${var.access}"])
def test_public_or_unknown_access_fails(access: str) -> None:
    assert outcome(NOT_PUBLIC, bucket(access_type=access)) is Outcome.NON_COMPLIANT
    assert access in detail(NOT_PUBLIC, bucket(access_type=access))


def test_versioned_bucket_passes() -> None:
    assert outcome(VERSIONED, bucket(versioning="Enabled")) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "attrs, why",
    [({}, "not set"), ({"versioning": "Disabled"}, "'Disabled'"), ({"versioning": "Suspended"}, "'Suspended'")],
)
def test_unversioned_bucket_fails(attrs: dict[str, str], why: str) -> None:
    assert outcome(VERSIONED, bucket(**attrs)) is Outcome.NON_COMPLIANT
    assert why in detail(VERSIONED, bucket(**attrs))


def test_bucket_rules_ignore_other_resources() -> None:
    policy = resource("oci_identity_policy", access_type="ObjectRead")
    assert outcome(NOT_PUBLIC, policy) is outcome(VERSIONED, policy) is Outcome.NOT_APPLICABLE
