"""Where each stack keeps its Terraform state, and how another stack reads it.

Every stack gets its own state object, `<prefix>/<env>/<stack>.tfstate`, so teams apply their
stacks independently. The backend block and the `terraform_remote_state` data source that
reads a sibling's outputs come from the same `(type, config)` pair, so they cannot disagree.

cdktf 0.21 has no class for Terraform's native `oci` backend, so every backend is written as
an override of `terraform.backend`, with cdktf's default `local` entry removed (otherwise
Terraform fails with "Duplicate backend configuration").
"""

from __future__ import annotations

import posixpath
from typing import Any

from cdk.framework import TerraformRemoteState, TerraformStack
from stacks.config import EnvironmentConfig, LocalState, OciState, S3State

# A stack runs in <outdir>/stacks/<stack>/: three levels up is the outdir's parent.
_STACK_DIR_TO_OUTDIR_PARENT = "../../.."

S3_SKIPS = (
    "skip_region_validation",
    "skip_credentials_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "skip_s3_checksum",
)


def state_key(config: EnvironmentConfig, stack_name: str) -> str:
    """`[<prefix>/]<env>/<stack>.tfstate`."""
    prefix = getattr(config.state, "prefix", "").strip("/")
    return posixpath.join(prefix, config.environment, f"{stack_name}.tfstate")


def backend_config(config: EnvironmentConfig, stack_name: str) -> tuple[str, dict[str, Any]]:
    """The backend type and its settings for one stack of `config`."""
    state = config.state
    key = state_key(config, stack_name)
    if isinstance(state, LocalState):
        return "local", {"path": posixpath.join(_STACK_DIR_TO_OUTDIR_PARENT, state.path, key)}
    namespace = state.namespace or config.namespace
    region = state.region or config.region
    if isinstance(state, OciState):
        body: dict[str, Any] = {"bucket": state.bucket, "namespace": namespace, "key": key, "region": region}
        body.update({k: v for k, v in (("auth", state.auth), ("config_file_profile", state.config_file_profile)) if v})
        return "oci", body
    assert isinstance(state, S3State)
    body = {
        "bucket": state.bucket,
        "key": key,
        "region": region,
        "endpoints": {"s3": f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"},
        "use_path_style": True,
        **{flag: True for flag in S3_SKIPS},
    }
    if state.profile:
        body["profile"] = state.profile
    return "s3", body


OCI_BACKEND_TERRAFORM = ">= 1.12.0"
"""Terraform added the native `oci` backend in 1.12.0 (hashicorp/terraform CHANGELOG, v1.12.0); older
versions fail with "There is no backend type named oci", for the backend and for remote state alike."""


def apply_backend(stack: TerraformStack, config: EnvironmentConfig, stack_name: str) -> None:
    """Declare the stack's backend (replacing cdktf's default local one). A stack on the `oci` backend
    (whose siblings' state it reads through the same backend) states the Terraform it needs."""
    kind, body = backend_config(config, stack_name)
    stack.add_override("terraform.backend.local", None)
    stack.add_override(f"terraform.backend.{kind}", body)
    if kind == "oci":
        stack.add_override("terraform.required_version", OCI_BACKEND_TERRAFORM)


class RemoteState(TerraformRemoteState):
    """`data "terraform_remote_state"` for any backend type, configured by override.

    cdktf's own remote-state classes cover `s3` and `local` but not `oci`; one class for all
    three keeps the reading side identical to the writing side (`backend_config`).
    """


def remote_state(stack: TerraformStack, config: EnvironmentConfig, source_stack: str, id_: str) -> RemoteState:
    """Read `source_stack`'s outputs from `stack` (`.get_string("subnet_id")` gives a reference)."""
    kind, body = backend_config(config, source_stack)
    state = RemoteState(stack, id_, kind)
    state.add_override("config", body)
    return state
