"""The real provider fixture itself: it plans a resource offline and rejects a bad value."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import Terraform


def _write(directory: Path, kind: str, resource: dict) -> Path:
    directory.mkdir()
    (directory / "main.tf.json").write_text(
        json.dumps(
            {
                "terraform": {"required_providers": {"oci": {"source": "oracle/oci", "version": "8.28.0"}}},
                "provider": {"oci": [{}]},
                "resource": {kind: {"r": resource}},
            }
        )
    )
    return directory


def test_plans_a_bucket_offline(terraform: Terraform, tmp_path: Path) -> None:
    cwd = _write(
        tmp_path / "ok",
        "oci_objectstorage_bucket",
        {"compartment_id": "ocid1.compartment.oc1..aaaa", "name": "b", "namespace": "ns"},
    )
    plan = terraform.plan_json(cwd)
    [change] = plan["resource_changes"]
    assert (change["address"], change["change"]["actions"]) == ("oci_objectstorage_bucket.r", ["create"])


def test_plan_rejects_what_the_provider_rejects(terraform: Terraform, tmp_path: Path) -> None:
    cwd = _write(
        tmp_path / "bad",
        "oci_datascience_job",
        {
            "compartment_id": "ocid1.compartment.oc1..aaaa",
            "project_id": "ocid1.datascienceproject.oc1..aaaa",
            "job_configuration_details": [{"job_type": "NOT_A_JOB_TYPE"}],
        },
    )
    assert terraform.run(cwd, "init", "-input=false", "-backend=false").returncode == 0
    plan = terraform.run(cwd, "plan", "-input=false", "-refresh=false", "-lock=false")
    assert plan.returncode != 0 and "job_type" in plan.stderr, plan.stdout + plan.stderr
