"""OCID fields that check the resource type, so a subnet OCID pasted into a compartment field
fails at `cdktf synth` rather than at apply time, half-way through a deploy.

Format: `ocid1.<resource type>.<realm>.[region][.future use].<unique id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from contract.ocids import ocid_type


@dataclass(frozen=True)
class OcidOf:
    """A validator accepting OCIDs of the given resource types only; `docs/config.md` names the
    field's type from `types`."""

    types: tuple[str, ...]

    @property
    def wanted(self) -> str:
        return " or ".join(f"ocid1.{t}." for t in self.types)

    def __call__(self, value: str) -> str:
        found = ocid_type(value)
        if found is None:
            raise ValueError(f"not an OCID (expected {self.wanted}<realm>.<region>.<id>)")
        if found not in self.types:
            raise ValueError(f"expected {self.wanted} OCID, not a {found} OCID")
        return value


def _checker(*types: str) -> AfterValidator:
    return AfterValidator(OcidOf(types))


TenancyOcid = Annotated[str, _checker("tenancy")]
CompartmentOcid = Annotated[str, _checker("compartment", "tenancy")]
SubnetOcid = Annotated[str, _checker("subnet")]
KeyOcid = Annotated[str, _checker("key")]
VaultSecretOcid = Annotated[str, _checker("vaultsecret")]
