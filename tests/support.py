"""Helpers the test areas share: the repository root (defined here only), the shipped configs,
a clean environment for the real entrypoint, and running training under torchrun.

Fixtures live in `tests/conftest.py`; this module holds plain functions and constants, so a
test imports what it uses and no conftest imports another.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocift.local import free_port

REPO = Path(__file__).resolve().parents[1]
STACKS_DIR = REPO / "stacks"
SHIPPED = sorted(STACKS_DIR.glob("*.yaml"))

# ---- environment configs -------------------------------------------------------------------


def shipped(env: str) -> dict[str, Any]:
    """A shipped environment config as data."""
    return yaml.safe_load((STACKS_DIR / f"{env}.yaml").read_text())


def write_config(
    directory: Path,
    env: str,
    mutate: Callable[[dict[str, Any]], Any] | None = None,
    text: Callable[[str], str] | None = None,
) -> Path:
    """Copy `stacks/<env>.yaml` to `directory`, changed by `mutate` (on the data) or `text` (on the text)."""
    path = directory / f"{env}.yaml"
    if text is not None:
        path.write_text(text((STACKS_DIR / f"{env}.yaml").read_text()))
        return path
    data = copy.deepcopy(shipped(env))
    if mutate is not None:
        mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def staging_example(directory: Path) -> Path:
    """docs/deploy.md "Add an environment": dev copied to staging, with its own compartment and CIDRs."""
    return write_config(
        directory,
        "dev",
        lambda d: (
            d.update(environment="staging", compartment_ocid="ocid1.compartment.oc1..aaaaaaaaexamplestaging0000000000"),
            d["tags"].update(environment="staging"),
            d["network"].update(vcn_cidr="10.30.0.0/16", subnet_cidr="10.30.0.0/24"),
        ),
    )


# ---- the real entrypoint as separate processes ---------------------------------------------

#: Variables a developer's shell (or the service) may have set that would change topology.
TOPOLOGY_VARS = {
    "NODE_RANK",
    "INITIAL_CLUSTER_SIZE",
    "CLUSTER_NODES_METADATA_FILE",
    "NNODES",
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_ADDR",
    "NCCL_SOCKET_IFNAME",
    "GLOO_SOCKET_IFNAME",
    "JOB_RUN_OCID",
}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without OCIFT_*/topology variables, running the test child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCIFT_") and k not in TOPOLOGY_VARS}
    env.update(
        {
            "OCIFT_TRAIN_MODULE": "tests.launcher.child",
            "OCIFT_CACHE_DIR": str(tmp_path / "cache"),
            "OCIFT_RDZV_PORT": str(free_port()),
            "OCIFT_CLUSTER_TIMEOUT_S": "60",
            "OMP_NUM_THREADS": "1",
        }
    )
    env.update(extra)
    return env


Start = Callable[..., subprocess.Popen]


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Exit status and output; a process past `timeout` is killed and the test fails."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"still running after {timeout}s:\n{out}")
    return proc.returncode, out


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


# ---- training under torchrun -----------------------------------------------------------------


def torchrun_cmd(args: list[str], nproc: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "launcher.train",
        *args,
    ]


def train_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}


def torchrun(args: list[str], nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run training under torchrun; fail the test with its output if it does not exit 0."""
    proc = subprocess.run(
        torchrun_cmd(args, nproc), cwd=REPO, env=train_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def base_args(tiny: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "--model_name",
        str(tiny["model"]),
        "--data_path",
        str(tiny["data"]),
        "--output_dir",
        str(out),
        "--context_length",
        "64",
        "--batch_size_training",
        "2",
        *extra,
    ]


def metrics(out: Path) -> tuple[list[dict], list[dict]]:
    """(train records, eval records) of a run's metrics.jsonl."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "loss" in r], [r for r in lines if "eval_loss" in r]


# ---- the real oracle/oci provider, offline ----------------------------------------------------

PROVIDER_VERSION = "8.28.0"
PROVIDER_BINARY = f"terraform-provider-oci_v{PROVIDER_VERSION}"
PROVIDER_SETTING = "OCIFT_OCI_PROVIDER"  # a path to the provider binary or its .xz archive


def find_provider(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The real provider, where a test can find it: the setting, `../shared/terraform/` beside
    the repository, or Terraform's own plugin cache (`TF_PLUGIN_CACHE_DIR`, else
    ~/.terraform.d/plugin-cache)."""
    cache = Path(environ.get("TF_PLUGIN_CACHE_DIR") or Path.home() / ".terraform.d" / "plugin-cache")
    candidates = [
        Path(environ[PROVIDER_SETTING]) if environ.get(PROVIDER_SETTING) else None,
        REPO.parent / "shared" / "terraform" / f"{PROVIDER_BINARY}_linux_amd64.xz",
        cache / "registry.terraform.io" / "oracle" / "oci" / PROVIDER_VERSION / "linux_amd64" / PROVIDER_BINARY,
    ]
    return next((c for c in candidates if c is not None and c.is_file()), None)


@dataclass(frozen=True)
class Terraform:
    """Terraform with the real provider in a filesystem mirror and throwaway API-key credentials:
    `init`, `validate` and `plan -refresh=false` run with no network (creating resources calls
    no API; data sources and remote state need literal values)."""

    env: dict[str, str]

    def run(self, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["terraform", *args, "-no-color"], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def plan_json(self, cwd: Path, *plan_args: str) -> dict[str, Any]:
        """init + plan -refresh=false, then Terraform's own JSON of the plan; fails the test
        with Terraform's output when a step fails."""
        for args in (
            ("init", "-input=false", "-backend=false"),
            ("plan", "-input=false", "-refresh=false", "-lock=false", "-out=plan.bin", *plan_args),
        ):
            proc = self.run(cwd, *args)
            assert proc.returncode == 0, f"terraform {args[0]} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}"
        shown = self.run(cwd, "show", "-json", "plan.bin")
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)


def provider_terraform(workdir: Path, provider: Path) -> Terraform:
    """A `Terraform` whose mirror in `workdir` holds `provider` (decompressed when it is .xz)."""
    import lzma
    import shutil

    target = workdir / "mirror" / "registry.terraform.io" / "oracle" / "oci" / PROVIDER_VERSION / "linux_amd64"
    target.mkdir(parents=True)
    binary = target / PROVIDER_BINARY
    opener = lzma.open if provider.suffix == ".xz" else open
    with opener(provider, "rb") as src, binary.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    binary.chmod(0o755)
    cli_config = workdir / "terraformrc"
    cli_config.write_text(f'''provider_installation {{
  filesystem_mirror {{
    path    = "{workdir / "mirror"}"
    include = ["registry.terraform.io/oracle/oci"]
  }}
  direct {{
    exclude = ["registry.terraform.io/oracle/oci"]
  }}
}}
''')
    key = workdir / "api_key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "TF_"))}
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_PLUGIN_CACHE_DIR": "",
            "OCI_TENANCY_OCID": "ocid1.tenancy.oc1..aaaaaaaatesttenancy",
            "OCI_USER_OCID": "ocid1.user.oc1..aaaaaaaatestuser",
            "OCI_FINGERPRINT": "12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0",
            "OCI_PRIVATE_KEY_PATH": str(key),
            "OCI_REGION": "eu-frankfurt-1",
            "OCI_DISABLE_AUTO_RETRIES": "true",
        }
    )
    return Terraform(env)


# ---- synthesized stacks planned offline: literal values for what would need OCI ------------------

#: Data sources an offline plan cannot read (remote state needs the other stack's state, the
#: services list needs the OCI API), with the literal a test stands in for each attribute read.
OFFLINE_LITERALS: dict[str, dict[str, str]] = {
    "terraform_remote_state": {"outputs.subnet_id": "ocid1.subnet.oc1.iad.aaaaaaaaofflineplansubnet"},
    "oci_core_services": {
        "services[0].id": "ocid1.service.oc1.iad.aaaaaaaaofflineplanservices",
        "services[0].cidr_block": "all-iad-services-in-oracle-services-network",
    },
}
_DATA_REF = re.compile(r"\$\{data\.(?P<type>[a-z_]+)\.(?P<name>[A-Za-z0-9_-]+)\.(?P<attr>[^}]+)\}")


def offline_stack(
    document: dict[str, Any], literals: Mapping[str, Mapping[str, str]] = OFFLINE_LITERALS
) -> dict[str, Any]:
    """A synthesized stack (`cdk.tf.json` as data) that `Terraform.plan_json` can plan with no network:
    every `${data.<type>.<name>.<attr>}` of a type in `literals` becomes its literal (an attribute
    with no literal raises, naming it), those data blocks are dropped, and so are the backend
    (`init -backend=false` would skip it anyway) and `required_version` (the stacks ask for the
    Terraform that has the `oci` backend; the test tier may run an older one). The input is not changed."""
    out = json.loads(json.dumps(document))

    def substitute(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if not isinstance(value, str):
            return value

        def literal(match: re.Match[str]) -> str:
            kind, attr = match.group("type"), match.group("attr")
            if kind not in literals:
                return match.group(0)
            if attr not in literals[kind]:
                raise KeyError(f"no offline literal for data.{kind}.*.{attr} (add it to OFFLINE_LITERALS)")
            return literals[kind][attr]

        return _DATA_REF.sub(literal, value)

    data = out.pop("data", {})
    out = substitute(out)
    kept = {kind: blocks for kind, blocks in data.items() if kind not in literals}
    if kept:
        out["data"] = substitute(kept)
    terraform = out.get("terraform", {})
    terraform.pop("backend", None)
    terraform.pop("required_version", None)
    return out


def plan_offline(terraform: Terraform, document: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """`offline_stack(document)` written to `workdir` and planned with the real provider."""
    workdir.mkdir(parents=True)
    (workdir / "main.tf.json").write_text(json.dumps(offline_stack(document), indent=1))
    return terraform.plan_json(workdir)


def planned(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> planned values of every resource the plan creates (it must create, never change)."""
    out = {}
    for change in plan["resource_changes"]:
        assert change["change"]["actions"] == ["create"], change
        out[change["address"]] = change["change"]["after"]
    return out
