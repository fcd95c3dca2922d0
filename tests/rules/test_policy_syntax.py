"""The IAM statement parser: the statement shapes OCI accepts, and clear refusals of the rest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from cdk.rules.policy_syntax import PolicySyntaxError, parse


def test_full_statement_with_single_condition() -> None:
    s = parse(
        "Allow dynamic-group ocift-jobs to manage objects in compartment id ocid1.compartment.oc1..a "
        "where target.bucket.name = 'outputs'"
    )
    assert (s.action, s.verb, s.resource_type) == ("allow", "manage", "objects")
    assert [t.text for t in s.subject] == ["dynamic-group", "ocift-jobs"]
    assert [t.text for t in s.location] == ["compartment", "id", "ocid1.compartment.oc1..a"]
    assert s.where is not None and s.where.mode == "all"
    (cond,) = s.where.conditions
    assert (cond.lhs, cond.op, cond.value.kind, cond.value.text) == ("target.bucket.name", "=", "quoted", "outputs")


def test_keywords_are_case_insensitive_and_spacing_free() -> None:
    s = parse("ALLOW Group Admins TO Manage ALL-RESOURCES In Tenancy WHERE target.bucket.name='x'")
    assert (s.action, s.verb, s.resource_type) == ("allow", "manage", "all-resources")
    assert s.where is not None and s.where.conditions[0].value.text == "x"


def test_keywords_inside_quotes_and_interpolations_are_not_grammar() -> None:
    s = parse(
        "Allow group 'Default'/'to in where' to read buckets in compartment id ${lookup(var.ids, \"in where } to\")}"
    )
    assert s.verb == "read"
    assert s.location[2].text == '${lookup(var.ids, "in where } to")}'


@pytest.mark.parametrize("mode", ["all", "ANY"])
def test_condition_groups(mode: str) -> None:
    s = parse(
        f"Allow any-user to read repos in compartment c where {mode} {{ request.principal.type = 'datasciencejobrun', "
        "target.repo.name != 'x' }"
    )
    assert s.where is not None and s.where.mode == mode.lower()
    assert [(c.lhs, c.op) for c in s.where.conditions] == [("request.principal.type", "="), ("target.repo.name", "!=")]


def test_permission_list_and_several_subjects() -> None:
    s = parse("Allow group A, group B to {object_read, OBJECT_INSPECT} in compartment ocift:dev")
    assert s.permissions == ("OBJECT_READ", "OBJECT_INSPECT") and s.verb == ""
    assert [t.text for t in s.location] == ["compartment", "ocift:dev"]


def test_define_grants_nothing() -> None:
    assert parse("Define tenancy Acceptor as ocid1.tenancy.oc1..aaa").action == "define"


def test_no_location_is_an_empty_location() -> None:
    assert parse("Allow group x to read objects").location == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "starts with"),
        ("Permit group x to read objects in tenancy", "unknown statement keyword"),
        ("Allow group x read objects in tenancy", "no 'to'"),
        ("Allow group x to fly objects in tenancy", "expected '<verb>"),
        ("Allow group x to {} in tenancy", "permission list"),
        ("Allow group x to read objects compartment c", "where 'in' or 'where' should be"),
        ("Allow group x to read objects in", "nothing after 'in'"),
        ("Allow group x to read objects in compartment c where", "empty 'where'"),
        ("Allow group x to read objects in compartment c where target.bucket.name", "cannot read condition"),
        ("Allow group x to read objects in compartment c where all { a = 'b', any { c = 'd' } }", "nested"),
        ("Allow group 'x to read objects in tenancy", "unterminated"),
        ("Allow group x to read objects in compartment ${var.c", "unbalanced"),
        ("Allow group x } to read objects in tenancy", "unbalanced"),
    ],
)
def test_refusals_say_what_could_not_be_read(text: str, message: str) -> None:
    with pytest.raises(PolicySyntaxError, match=message):
        parse(text)


_PIECES = st.sampled_from(
    [
        "Allow ",
        "allow ",
        "group ",
        "any-user ",
        "to ",
        "manage ",
        "read ",
        "objects ",
        "all-resources ",
        "in ",
        "tenancy ",
        "compartment ",
        "id ",
        "where ",
        "all ",
        "any ",
        "{",
        "}",
        "${",
        "'",
        '"',
        ",",
        "=",
        "!=",
        "\\",
        "/*/",
        " ",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=25).map("".join) | st.text(max_size=80))
def test_parse_raises_nothing_but_policy_syntax_errors(text: str) -> None:
    try:
        parse(text)
    except PolicySyntaxError:
        pass
