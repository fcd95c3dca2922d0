"""IAM statements compared as permissions: each axis (verb, resource type, scope, where), both ways."""

from __future__ import annotations

import pytest

from ocift.review.iam import _parsed, widening

C = "ocid1.compartment.oc1..aaaaapp"
TENANCY = "ocid1.tenancy.oc1..aaaaroot"
WHO = "Allow dynamic-group jobs to"
PIN = "where target.bucket.name = 'out'"


def wider(base: str, head: str) -> str:
    return widening(head, _parsed([base]))


@pytest.mark.parametrize(
    ("base", "head", "why"),
    [
        # verb: inspect < read < use < manage
        (
            f"{WHO} read objects in compartment id {C} {PIN}",
            f"{WHO} manage objects in compartment id {C} {PIN}",
            "verb raised to manage",
        ),
        (
            f"{WHO} inspect buckets in compartment id {C}",
            f"{WHO} use buckets in compartment id {C}",
            "verb raised to use",
        ),
        # resource type: an individual type inside its family, a family inside all-resources
        (
            f"{WHO} read objects in compartment id {C}",
            f"{WHO} read object-family in compartment id {C}",
            "resource type widened to object-family",
        ),
        (
            f"{WHO} read object-family in compartment id {C}",
            f"{WHO} read all-resources in compartment id {C}",
            "resource type widened to all-resources",
        ),
        # scope: the tenancy by name or by OCID, a parent compartment
        (
            f"{WHO} read buckets in compartment id {C}",
            f"{WHO} read buckets in compartment id {TENANCY}",
            "scope widened to the whole tenancy",
        ),
        (
            f"{WHO} read buckets in compartment id {C}",
            f"{WHO} read buckets in tenancy",
            "scope widened to the whole tenancy",
        ),
        (
            f"{WHO} read buckets in compartment ml:dev",
            f"{WHO} read buckets in compartment ml",
            "scope reaches compartment ml",
        ),
        # where: dropped, or relaxed to fewer conditions
        (
            f"{WHO} manage objects in compartment id {C} {PIN}",
            f"{WHO} manage objects in compartment id {C}",
            "where-conditions dropped",
        ),
        (
            f"{WHO} manage objects in compartment id {C} "
            "where all {target.bucket.name = 'out', request.operation = 'Get'}",
            f"{WHO} manage objects in compartment id {C} {PIN}",
            "where-conditions relaxed",
        ),
    ],
)
def test_wider_on_each_axis(base: str, head: str, why: str) -> None:
    assert why in wider(base, head)


@pytest.mark.parametrize(
    ("base", "head"),
    [
        # verb lowered, type narrowed inside its family, scope narrowed to a child, where added or tightened
        (f"{WHO} manage objects in compartment id {C} {PIN}", f"{WHO} read objects in compartment id {C} {PIN}"),
        (f"{WHO} read object-family in compartment id {C}", f"{WHO} read objects in compartment id {C}"),
        (f"{WHO} read all-resources in compartment id {C}", f"{WHO} read secret-bundles in compartment id {C}"),
        (f"{WHO} read buckets in compartment id {TENANCY}", f"{WHO} read buckets in compartment id {C}"),
        (f"{WHO} read buckets in tenancy", f"{WHO} read buckets in compartment id {C}"),
        (f"{WHO} read buckets in compartment ml", f"{WHO} read buckets in compartment ml:dev"),
        (f"{WHO} manage objects in compartment id {C}", f"{WHO} manage objects in compartment id {C} {PIN}"),
        (
            f"{WHO} manage objects in compartment id {C} {PIN}",
            f"{WHO} manage objects in compartment id {C} "
            "where all {target.bucket.name = 'out', request.operation = 'Get'}",
        ),
        # the same grant on a renamed bucket
        (
            f"{WHO} manage objects in compartment id {C} {PIN}",
            f"{WHO} manage objects in compartment id {C} where target.bucket.name = 'results'",
        ),
    ],
)
def test_not_wider_on_each_axis(base: str, head: str) -> None:
    assert wider(base, head) == ""


def test_a_new_narrow_manage_is_not_flagged_but_a_broad_one_is() -> None:
    unrelated = f"Allow group ops to read metrics in compartment id {C}"
    assert wider(unrelated, f"{WHO} manage objects in compartment id {C} {PIN}") == ""
    broad = wider(unrelated, f"{WHO} manage objects in compartment id {TENANCY}")
    assert "new manage access without a where-condition" in broad and "tenancy-wide" in broad


def test_another_subject_is_not_covered() -> None:
    base = "Allow group ops to manage all-resources in tenancy"
    assert "tenancy-wide" in wider(base, f"{WHO} read buckets in tenancy")


def test_an_unparsable_statement_cannot_be_shown_narrow() -> None:
    assert "cannot be parsed" in wider(f"{WHO} read buckets in tenancy", "Allow jobs read")
