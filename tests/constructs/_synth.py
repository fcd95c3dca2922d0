"""Synthesize a stack and pick resources out of the Terraform JSON."""

from __future__ import annotations

import json
from typing import Any

from cdk.framework import TerraformStack, Testing

COMPARTMENT = "ocid1.compartment.oc1..aaaaapp"
NET_COMPARTMENT = "ocid1.compartment.oc1..aaaanet"
SEC_COMPARTMENT = "ocid1.compartment.oc1..aaaasec"
TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
SECRET = "ocid1.vaultsecret.oc1.iad.amaaaahftoken"
KMS_KEY = "ocid1.key.oc1.iad.bbbbkey"
DIGEST = "sha256:" + "ab" * 32


def synth(stack: TerraformStack, validate: bool = True) -> dict[str, Any]:
    return json.loads(Testing.synth(stack, validate))


def resources(out: dict[str, Any], tf_type: str) -> dict[str, dict[str, Any]]:
    """All resources of one type, by logical id."""
    return out.get("resource", {}).get(tf_type, {})


def only(out: dict[str, Any], tf_type: str) -> dict[str, Any]:
    """The single resource of a type (fails when there are several)."""
    found = resources(out, tf_type)
    assert len(found) == 1, f"expected one {tf_type}, got {sorted(found)}"
    return next(iter(found.values()))
