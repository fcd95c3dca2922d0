"""Launcher settings: how a replica forms the cluster and moves data, as `OCIFT_*` variables.

The infra half renders these into the job's environment (`LauncherSettings.to_env`); the
launcher reads them back (`LauncherSettings.from_env`). Training options are not here: they
are the recipe (`contract.recipe`), passed as command-line arguments. Secrets are never here
either, only the OCIDs of Vault secrets the launcher reads at run time.

Imports neither torch nor cdktf.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contract.ocids import ocid_type

PREFIX = "OCIFT_"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
RUN_NAME_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,99})?$"
"""A run name is one path segment of the output prefix: no slashes, no leading dot."""


def default_run_name(job_run_ocid: str) -> str:
    """The name of a run that was not given one: its job run OCID's unique last part, so every
    job run writes a prefix of its own. One definition for the launcher and `ocift run`."""
    return job_run_ocid.rsplit(".", 1)[-1]


class SettingsError(ValueError):
    """Bad launcher settings, naming each variable at fault."""


class LauncherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    output_uri: str = Field(
        "",
        description="Where checkpoints and outputs are synced (`oci://`, `s3://`, `file://`); "
        "else the recipe's `--output_dir` when it is a URI; each run under `<uri>/<run name>/`.",
    )
    run_name: str = Field(
        "",
        pattern=RUN_NAME_PATTERN,
        description="The logical run: outputs land under `<output>/<run_name>/`. '' = a new run named after this "
        "job run (`JOB_RUN_OCID`'s last part); an earlier run's name continues that run.",
    )
    nproc_per_node: int = Field(
        0, ge=0, description="Processes per node; 0 = one per GPU, else `OCIFT_CPU_PROCS_PER_NODE`."
    )
    cpu_procs_per_node: int = Field(1, ge=1, description="Processes per node when the node has no GPU.")
    rdzv_port: int = Field(29400, ge=1, le=65535, description="Rendezvous port on rank 0.")
    cluster_timeout_s: float = Field(
        600.0, gt=0, description="Deadline for the metadata file to list every node, and for the rendezvous."
    )
    term_grace_s: float = Field(120.0, gt=0, description="After SIGTERM: time for training to checkpoint.")
    peer_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A node whose launcher stops answering heartbeats this long is lost: the others stop (exit 75).",
    )
    peer_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Heartbeat port on every node; 0 = `OCIFT_RDZV_PORT` + 1 (`ocift local` picks a free one).",
    )
    sync_interval_s: float = Field(30.0, gt=0, description="How often committed checkpoints are uploaded.")
    cache_dir: str = Field("", description="Staged models and data; '' = `~/.cache/ocift`.")
    work_dir: str = Field(
        "",
        description="Local outputs before sync; '' = `<cache>/work` (training writes to "
        "`<work>/output` when there is a remote output).",
    )
    train_module: str = Field(
        "launcher.train",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="The module torchrun runs on every process (`python -m <module> <recipe flags>`).",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="`NAME=<vault secret OCID>,...`, read at run time into the environment (e.g. `HF_TOKEN`).",
    )

    @field_validator("secrets")
    @classmethod
    def _secret_refs(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [
            f"{name}: {ocid!r} is not a vault secret OCID"
            for name, ocid in value.items()
            if ocid_type(ocid) != "vaultsecret"
        ]
        bad += [f"{name!r} is not an environment variable name" for name in value if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError("; ".join(bad))
        return value

    def to_env(self) -> dict[str, str]:
        """Only the settings that differ from the defaults, as `OCIFT_*` strings."""
        out: dict[str, str] = {}
        default = LauncherSettings()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value == getattr(default, name):
                continue
            if isinstance(value, dict):
                out[PREFIX + name.upper()] = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
            else:
                out[PREFIX + name.upper()] = str(value)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LauncherSettings:
        environ = os.environ if environ is None else environ
        fields = cls.model_fields
        values: dict[str, object] = {}
        unknown = []
        for key, raw in environ.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name not in fields:
                unknown.append(key)
            elif name == "secrets":
                values[name] = dict(item.split("=", 1) for item in raw.split(",") if "=" in item)
            else:
                values[name] = raw
        problems = [f"unknown setting {key}" for key in sorted(unknown)]
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            problems += [f"{PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
            settings = None
        if problems:
            raise SettingsError("; ".join(problems))
        assert settings is not None
        return settings
