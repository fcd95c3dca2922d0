"""OCID fields that check the resource type, so a subnet OCID pasted into a compartment field
fails at `cdktf synth` rather than at apply time, half-way through a deploy.

Format: `ocid1.<resource type>.<realm>.[region][.future use].<unique id>`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from contract.ocids import ocid_type


def _checker(*types: str):
    """A validator accepting OCIDs of the given resource types only."""
    wanted = " or ".join(f"ocid1.{t}." for t in types)

    def check(value: str) -> str:
        found = ocid_type(value)
        if found is None:
            raise ValueError(f"not an OCID (expected {wanted}<realm>.<region>.<id>)")
        if found not in types:
            raise ValueError(f"expected {wanted} OCID, not a {found} OCID")
        return value

    return AfterValidator(check)


TenancyOcid = Annotated[str, _checker("tenancy")]
CompartmentOcid = Annotated[str, _checker("compartment", "tenancy")]
SubnetOcid = Annotated[str, _checker("subnet")]
KeyOcid = Annotated[str, _checker("key")]
VaultSecretOcid = Annotated[str, _checker("vaultsecret")]
