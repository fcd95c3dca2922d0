"""How every OCI SDK client in the launcher authenticates, decided in one place.

Inside a job run `OCI_RESOURCE_PRINCIPAL_VERSION` is set: resource principal. Elsewhere the
`~/.oci/config` profile (`OCI_CONFIG_FILE`, `OCI_CLI_PROFILE`) when the file exists, else an
instance principal. `endpoint` overrides the service endpoint (tests, private endpoints).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import oci

C = TypeVar("C")


def credentials(
    config_file: str | None = None, profile: str | None = None, instance_principal: bool = True
) -> tuple[dict[str, Any], Any]:
    """(config, signer) for an OCI client; signer None means "sign with the config's API key".

    `instance_principal=False` (a command run by a person) turns a missing config file into an
    error at once instead of a slow probe of the instance metadata service.
    """
    if os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"):
        signer = oci.auth.signers.get_resource_principals_signer()
        return {"region": signer.region}, signer
    path = os.path.expanduser(config_file or os.environ.get("OCI_CONFIG_FILE") or oci.config.DEFAULT_LOCATION)
    if os.path.exists(path):
        config = oci.config.from_file(path, profile or os.environ.get("OCI_CLI_PROFILE") or oci.config.DEFAULT_PROFILE)
        oci.config.validate_config(config)
        return config, None
    if not instance_principal:
        raise oci.exceptions.ConfigFileNotFound(f"no OCI config file at {path} (set OCI_CONFIG_FILE or --config-file)")
    signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
    return {"region": signer.region}, signer


def client(
    cls: Callable[..., C],
    endpoint: str | None = None,
    config_file: str | None = None,
    profile: str | None = None,
    instance_principal: bool = True,
    **kwargs: Any,
) -> C:
    """An SDK client of `cls` (e.g. oci.secrets.SecretsClient) with the credentials above."""
    config, signer = credentials(config_file, profile, instance_principal)
    if endpoint:
        kwargs["service_endpoint"] = endpoint
    if signer is not None:
        kwargs["signer"] = signer
    return cls(config, **kwargs)
