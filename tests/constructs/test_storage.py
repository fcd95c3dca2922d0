import pytest

from cdk.iam import DynamicGroupPrincipal, Policy, PolicyProps
from cdk.props import PropsError
from cdk.storage import Bucket, BucketProps, ExpireRule

from ._synth import COMPARTMENT, KMS_KEY, only, resources, synth

PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)
WHERE = "where target.bucket.name = 'ocift-dev-outputs'"


def _bucket(stack, **overrides) -> Bucket:
    props = dict(name="ocift-dev-outputs", compartment_id=COMPARTMENT, tags={"env": "dev"})
    props.update(overrides)
    return Bucket(stack, "outputs_bucket", BucketProps(**props))


def test_bucket_private_versioned_with_kms_and_prevent_destroy(stack):
    _bucket(stack, namespace="tenancyns", kms_key_id=KMS_KEY, prevent_destroy=True)
    out = synth(stack)
    bucket = only(out, "oci_objectstorage_bucket")
    assert bucket["name"] == "ocift-dev-outputs"
    assert bucket["namespace"] == "tenancyns"
    assert bucket["access_type"] == "NoPublicAccess"
    assert bucket["versioning"] == "Enabled"
    assert bucket["kms_key_id"] == KMS_KEY
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    assert bucket["freeform_tags"] == {"env": "dev"}
    assert "data" not in out  # the namespace was given: no lookup


def test_bucket_defaults_look_up_namespace_and_allow_destroy(stack):
    bucket = _bucket(stack)
    out = synth(stack)
    res = only(out, "oci_objectstorage_bucket")
    assert "lifecycle" not in res and "kms_key_id" not in res
    (ns_id,) = out["data"]["oci_objectstorage_namespace"]
    assert res["namespace"] == f"${{data.oci_objectstorage_namespace.{ns_id}.namespace}}"
    assert bucket.uri("runs/a") == f"oci://ocift-dev-outputs@{bucket.namespace}/runs/a"


def test_lifecycle_rules(stack):
    _bucket(stack, expire=[ExpireRule("*/checkpoints/*", 14)], abort_multipart_days=3)
    out = synth(stack)
    policy = only(out, "oci_objectstorage_object_lifecycle_policy")
    (bucket_id,) = resources(out, "oci_objectstorage_bucket")
    assert policy["bucket"] == f"${{oci_objectstorage_bucket.{bucket_id}.name}}"
    rules = {r["name"]: r for r in policy["rules"]}
    assert rules["expire-0-checkpoints"] == {
        "name": "expire-0-checkpoints",
        "action": "DELETE",
        "target": "objects",
        "is_enabled": True,
        "time_amount": "14",
        "time_unit": "DAYS",
        "object_name_filter": {"inclusion_patterns": ["*/checkpoints/*"]},
    }
    assert rules["expire-previous-versions"]["target"] == "previous-object-versions"
    assert rules["expire-previous-versions"]["time_amount"] == "30"
    assert rules["abort-stale-multipart-uploads"]["action"] == "ABORT"
    assert rules["abort-stale-multipart-uploads"]["target"] == "multipart-uploads"
    assert rules["abort-stale-multipart-uploads"]["time_amount"] == "3"


def test_no_lifecycle_policy_without_rules(stack):
    bucket = _bucket(stack, previous_versions_days=None, abort_multipart_days=None, versioning=False)
    out = synth(stack)
    assert resources(out, "oci_objectstorage_object_lifecycle_policy") == {}
    assert only(out, "oci_objectstorage_bucket")["versioning"] == "Disabled"
    assert bucket.service_statements("us-ashburn-1") == []


def test_grants_emit_least_privilege_statements(stack):
    Policy(stack, "job_access", PolicyProps(name="ocift-dev-job-access", compartment_id=COMPARTMENT))
    outputs = _bucket(stack)
    inputs = Bucket(stack, "inputs_bucket", BucketProps(name="ocift-dev-inputs", compartment_id=COMPARTMENT))
    outputs.grant_read_write(PRINCIPAL)
    inputs.grant_read(PRINCIPAL)
    statements = only(synth(stack), "oci_identity_policy")["statements"]
    dg, c = "dynamic-group ocift-dev-jobruns", f"compartment id {COMPARTMENT}"
    assert statements == [
        f"Allow {dg} to read buckets in {c} {WHERE}",
        f"Allow {dg} to manage objects in {c} {WHERE}",
        f"Allow {dg} to read buckets in {c} where target.bucket.name = 'ocift-dev-inputs'",
        f"Allow {dg} to read objects in {c} where target.bucket.name = 'ocift-dev-inputs'",
    ]


def test_service_statements_for_lifecycle_and_kms(stack):
    bucket = _bucket(stack, kms_key_id=KMS_KEY)
    assert [s.render() for s in bucket.service_statements("us-ashburn-1", "ocid1.compartment.oc1..vault")] == [
        f"Allow service objectstorage-us-ashburn-1 to manage object-family in compartment id {COMPARTMENT} "
        "where target.bucket.name = 'ocift-dev-outputs'",
        "Allow service objectstorage-us-ashburn-1 to use keys in compartment id ocid1.compartment.oc1..vault "
        f"where target.key.id = '{KMS_KEY}'",
    ]


def test_bucket_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        _bucket(
            stack,
            name="bad name",
            compartment_id="",
            kms_key_id="ocid1.vault.oc1..x",
            expire=[ExpireRule("**", 0), ExpireRule("ckpt/*", 1), ExpireRule("ckpt/*", 2)],
            abort_multipart_days=0,
            versioning=False,
            tags={"a.b": "x"},
        )
    props = [p.split(":")[0] for p in err.value.problems]
    assert props == [
        "name",
        "compartment_id",
        "kms_key_id",
        "expire[0].days",
        "expire[0].pattern",
        "expire[1].pattern",
        "expire[2].pattern",
        "abort_multipart_days",
        "previous_versions_days",
        "tags['a.b']",
    ]
    assert "resource" not in synth(stack)  # nothing was created
