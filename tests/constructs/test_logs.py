import pytest

from cdk.iam import DynamicGroupPrincipal, Policy, PolicyProps
from cdk.logs import CustomLog, CustomLogProps, LogGroup, LogGroupProps
from cdk.props import PropsError

from ._synth import COMPARTMENT, only, resources, synth

PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)


def _logs(stack) -> CustomLog:
    group = LogGroup(
        stack,
        "job_log_group",
        LogGroupProps(display_name="ocift-dev-jobs", compartment_id=COMPARTMENT, tags={"env": "dev"}),
    )
    return CustomLog(
        stack,
        "train_log",
        CustomLogProps(display_name="ocift-dev-train", log_group=group, retention_days=60, tags={"env": "dev"}),
    )


def test_custom_log_in_group(stack):
    _logs(stack)
    out = synth(stack)
    group = only(out, "oci_logging_log_group")
    assert group["compartment_id"] == COMPARTMENT and group["display_name"] == "ocift-dev-jobs"
    assert group["freeform_tags"] == {"env": "dev"}
    (group_id,) = resources(out, "oci_logging_log_group")
    log = only(out, "oci_logging_log")
    assert log["log_type"] == "CUSTOM"
    assert log["log_group_id"] == f"${{oci_logging_log_group.{group_id}.id}}"
    assert log["retention_duration"] == 60 and log["is_enabled"] is True


def test_grant_write_is_use_log_content(stack):
    Policy(stack, "job_access", PolicyProps(name="ocift-dev-job-access", compartment_id=COMPARTMENT))
    _logs(stack).grant_write(PRINCIPAL)
    assert only(synth(stack), "oci_identity_policy")["statements"] == [
        f"Allow dynamic-group ocift-dev-jobruns to use log-content in compartment id {COMPARTMENT}"
    ]


def test_log_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        LogGroup(stack, "g", LogGroupProps(display_name="bad name", compartment_id="x", tags={"k k": "v"}))
    assert [p.split(":")[0] for p in err.value.problems] == ["display_name", "compartment_id", "tags['k k']"]
    group = LogGroup(stack, "g2", LogGroupProps(display_name="ok", compartment_id=COMPARTMENT))
    with pytest.raises(PropsError) as err:
        CustomLog(stack, "l", CustomLogProps(display_name="", log_group=group, retention_days=45))
    assert [p.split(":")[0] for p in err.value.problems] == ["display_name", "retention_days"]
