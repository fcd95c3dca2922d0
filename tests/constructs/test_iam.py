import pytest

from cdk.framework import Testing
from cdk.iam import (
    TENANCY as IN_TENANCY,
    Condition,
    DynamicGroup,
    DynamicGroupPrincipal,
    DynamicGroupProps,
    GroupPrincipal,
    Policy,
    PolicyProps,
    Statement,
    datascience_network_statement,
    grant_secret_read,
)
from cdk.props import PropsError

from ._synth import (
    COMPARTMENT,
    NET_COMPARTMENT,
    SEC_COMPARTMENT,
    SECRET,
    TENANCY,
    only,
    resources,
    synth,
)

PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)


def test_job_run_principal_matching_rule_and_subject():
    assert PRINCIPAL.matching_rule == (
        f"all {{ resource.type = 'datasciencejobrun', resource.compartment.id = '{COMPARTMENT}' }}"
    )
    assert PRINCIPAL.subject == "dynamic-group ocift-dev-jobruns"
    domain = DynamicGroupPrincipal.job_runs("dg", COMPARTMENT, identity_domain="Default")
    assert domain.subject == "dynamic-group 'Default'/'dg'"


def test_statement_rendering():
    one = Statement(
        subject=PRINCIPAL,
        verb="manage",
        resource="objects",
        compartment_id=COMPARTMENT,
        conditions=(Condition("target.bucket.name", "ocift-dev-outputs"),),
    )
    assert one.render() == (
        f"Allow dynamic-group ocift-dev-jobruns to manage objects in compartment id {COMPARTMENT} "
        "where target.bucket.name = 'ocift-dev-outputs'"
    )
    two = Statement(
        subject=GroupPrincipal("admins"),
        verb="read",
        resource="repos",
        compartment_id=IN_TENANCY,
        conditions=(Condition("target.repo.name", "a"), Condition("request.operation", "x", "!=")),
    )
    assert two.render() == (
        "Allow group admins to read repos in tenancy where all { target.repo.name = 'a', request.operation != 'x' }"
    )


def test_dynamic_group_lives_in_tenancy(stack):
    DynamicGroup(stack, "job_runs", DynamicGroupProps(principal=PRINCIPAL, tenancy_id=TENANCY, tags={"env": "dev"}))
    dg = only(synth(stack), "oci_identity_dynamic_group")
    assert dg["compartment_id"] == TENANCY
    assert dg["name"] == "ocift-dev-jobruns"
    assert dg["matching_rule"] == PRINCIPAL.matching_rule
    assert dg["freeform_tags"] == {"env": "dev"}


def test_policy_collects_grants_once_in_order(stack):
    policy = Policy(
        stack, "job_access", PolicyProps(name="ocift-dev-job-access", compartment_id=COMPARTMENT, tags={"env": "dev"})
    )
    grant_secret_read(stack, PRINCIPAL, SECRET, COMPARTMENT)
    grant_secret_read(stack, PRINCIPAL, SECRET, COMPARTMENT)  # duplicate: kept once
    policy.add_statements(datascience_network_statement(COMPARTMENT))
    out = only(synth(stack), "oci_identity_policy")
    assert out["compartment_id"] == COMPARTMENT
    assert out["name"] == "ocift-dev-job-access"
    assert out["freeform_tags"] == {"env": "dev"}
    assert out["statements"] == [
        f"Allow dynamic-group ocift-dev-jobruns to read secret-bundles in compartment id {COMPARTMENT} "
        f"where target.secret.id = '{SECRET}'",
        f"Allow service datascience to use virtual-network-family in compartment id {COMPARTMENT}",
    ]


def test_statements_reach_the_hcl_output_too(stack):
    Policy(stack, "job_access", PolicyProps(name="ocift-dev-job-access", compartment_id=COMPARTMENT))
    dg = DynamicGroup(stack, "job_runs", DynamicGroupProps(principal=PRINCIPAL, tenancy_id=TENANCY))
    grant_secret_read(stack, dg, SECRET, COMPARTMENT)  # the construct grants like its principal
    hcl = Testing.synth_hcl(stack)
    assert f"target.secret.id = '{SECRET}'" in hcl
    assert "Allow dynamic-group ocift-dev-jobruns to read secret-bundles" in hcl


def test_grant_finds_the_policy_of_its_compartment(stack):
    Policy(stack, "app", PolicyProps(name="app", compartment_id=COMPARTMENT))
    sec = Policy(stack, "sec", PolicyProps(name="sec", compartment_id=SEC_COMPARTMENT))
    grant_secret_read(stack, PRINCIPAL, SECRET, SEC_COMPARTMENT)
    assert [s.compartment_id for s in sec.statements] == [SEC_COMPARTMENT]
    with pytest.raises(ValueError, match="no Policy"):
        grant_secret_read(stack, PRINCIPAL, SECRET, NET_COMPARTMENT)


def test_empty_policy_fails_synth(stack):
    Policy(stack, "empty", PolicyProps(name="empty", compartment_id=COMPARTMENT))
    with pytest.raises(Exception, match="no statements"):
        synth(stack)


def test_policy_props_report_every_error(stack):
    bad = Statement(
        subject=PRINCIPAL,
        verb="own",
        resource="Objects!",
        compartment_id="ocid1.bucket.oc1..x",
        conditions=(Condition("target.bucket.name", "it's"),),
    )
    with pytest.raises(PropsError) as err:
        Policy(
            stack,
            "bad",
            PolicyProps(name="bad name", compartment_id="nope", description=" ", statements=[bad], tags={"a b": "x"}),
        )
    text = str(err.value)
    for prop in (
        "name:",
        "compartment_id:",
        "description:",
        "tags['a b']:",
        "statements[0].verb:",
        "statements[0].resource:",
        "statements[0].compartment_id:",
        "statements[0].conditions[0].value:",
    ):
        assert prop in text
    assert len(err.value.problems) == 8


def test_dynamic_group_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        DynamicGroup(
            stack, "dg", DynamicGroupProps(principal=DynamicGroupPrincipal("bad name!", " "), tenancy_id=COMPARTMENT)
        )
    assert [p.split(":")[0] for p in err.value.problems] == ["principal.name", "principal.matching_rule", "tenancy_id"]


def test_secret_grant_rejects_non_secret_ocid(stack):
    Policy(stack, "app", PolicyProps(name="app", compartment_id=COMPARTMENT))
    with pytest.raises(PropsError, match="secret_id"):
        grant_secret_read(stack, PRINCIPAL, "hf_abcdef", COMPARTMENT)


def test_policy_over_the_statement_limit_fails_synth(stack):
    policy = Policy(stack, "big", PolicyProps(name="big", compartment_id=COMPARTMENT))
    for i in range(51):
        grant_secret_read(stack, PRINCIPAL, f"ocid1.vaultsecret.oc1.iad.secret{i}", COMPARTMENT, policy)
    with pytest.raises(Exception, match="51 statements, more than OCI's limit of 50"):
        synth(stack)


def test_a_policy_naming_a_dynamic_group_is_created_after_it(stack):
    """OCI rejects a policy whose subject does not exist yet: the edge makes Terraform create the group first."""
    group = DynamicGroup(stack, "runs", DynamicGroupProps(principal=PRINCIPAL, tenancy_id=TENANCY))
    Policy(
        stack,
        "access",
        PolicyProps(
            name="access",
            compartment_id=COMPARTMENT,
            subject_groups=[group],
            statements=[Statement(subject=PRINCIPAL, verb="use", resource="log-content", compartment_id=COMPARTMENT)],
        ),
    )
    out = synth(stack)
    [group_id] = resources(out, "oci_identity_dynamic_group")
    assert only(out, "oci_identity_policy")["depends_on"] == [f"oci_identity_dynamic_group.{group_id}"]
