"""Secrets (e.g. HF_TOKEN) come from OCI Vault at run time, never from the job definition.

The job carries only `name -> secret OCID` (settings.secrets). `resolve` reads each secret
bundle with the node's principal (see launcher.storage.ociauth), registers every value with
`launcher.log.redact` before returning it, and words its errors with the variable name and
the OCID only, so a value cannot leak through a log line or a traceback message.
"""

from __future__ import annotations

import base64
import binascii
import os

import oci

from launcher import log
from launcher.storage import ociauth

ENDPOINT_ENV = "OCI_SECRETS_ENDPOINT"


class SecretsError(RuntimeError):
    """A secret could not be read; names the environment variable and the OCID, never a value."""


def resolve(secrets: dict[str, str], *, endpoint: str | None = None) -> dict[str, str]:
    """Environment variable name -> secret value, for every `name -> Vault secret OCID`."""
    if not secrets:
        return {}
    try:
        client = ociauth.client(
            oci.secrets.SecretsClient,
            endpoint=endpoint or os.environ.get(ENDPOINT_ENV) or None,
            retry_strategy=oci.retry.DEFAULT_RETRY_STRATEGY,
        )
    except Exception as exc:  # noqa: BLE001 - any auth problem is reported the same way
        raise SecretsError(
            f"cannot authenticate to OCI Vault for {', '.join(sorted(secrets))}: {type(exc).__name__}: {exc}"
        ) from exc
    values: dict[str, str] = {}
    for name, ocid in secrets.items():
        try:
            content = client.get_secret_bundle(ocid).data.secret_bundle_content
        except oci.exceptions.ServiceError as exc:
            raise SecretsError(f"{name}: cannot read Vault secret {ocid}: HTTP {exc.status} {exc.code}") from None
        except Exception as exc:  # noqa: BLE001
            raise SecretsError(f"{name}: cannot read Vault secret {ocid}: {type(exc).__name__}") from None
        if getattr(content, "content_type", None) != "BASE64" or not content.content:
            raise SecretsError(f"{name}: Vault secret {ocid} has no BASE64 content")
        try:
            value = base64.b64decode(content.content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretsError(f"{name}: Vault secret {ocid} is not base64-encoded UTF-8 text") from None
        log.redact(value)
        values[name] = value
        log.event("secret_resolved", env=name, secret=ocid)
    return values
