"""The real-provider tier: every shipped environment and the docs' "add an environment" example,
synthesized as `cdktf synth` would, then `terraform init`, `validate` and an offline `plan` with
the real `oracle/oci` provider, asserting what is planned.

`validate` alone is not enough: it skips the provider's value checks inside blocks that hold a
reference, which `plan` runs once the values are literal (`tests.support.offline_stack` replaces
remote state and the services lookup with literals, documented there and in docs/deploy.md).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.app import synth_all
from tests.support import (
    OFFLINE_LITERALS,
    SHIPPED,
    Terraform,
    offline_stack,
    plan_offline,
    planned,
    staging_example,
)

ENVIRONMENTS = [p.stem for p in SHIPPED] + ["staging"]
STACKS = [f"{env}-{kind}" for env in ENVIRONMENTS for kind in ("iam", "network", "training")]


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {**{p.stem: p for p in SHIPPED}, "staging": staging_example(tmp_path_factory.mktemp("staging"))}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory, configs: dict[str, Path]) -> Path:
    outdir = tmp_path_factory.mktemp("provider-synth") / "cdktf.out"
    summary = synth_all(outdir, list(configs.values()))
    assert summary.ok, summary.render()
    assert sorted(summary.stack_names()) == sorted(STACKS)
    return outdir


def document(outdir: Path, name: str) -> dict[str, Any]:
    return json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())


def addresses(doc: dict[str, Any]) -> set[str]:
    return {f"{kind}.{name}" for kind, blocks in (doc.get("resource") or {}).items() for name in blocks}


def of_type(values: dict[str, dict[str, Any]], tf_type: str) -> list[dict[str, Any]]:
    return [v for address, v in values.items() if address.startswith(f"{tf_type}.")]


@pytest.mark.parametrize("name", STACKS)
def test_stack_validates_and_plans_with_the_real_provider(
    terraform: Terraform, synthesized: Path, configs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    doc = document(synthesized, name)
    work = tmp_path / name
    plan = plan_offline(terraform, doc, work)
    validated = terraform.run(work, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    values = planned(plan)
    assert set(values) == addresses(doc)  # everything synthesized is planned, as a create
    env, kind = name.rsplit("-", 1)
    config = yaml.safe_load(configs[env].read_text())
    {"iam": _iam, "network": _network, "training": _training}[kind](plan, values, env, config)


def _iam(plan: dict[str, Any], values: dict[str, dict[str, Any]], env: str, config: dict[str, Any]) -> None:
    [group] = of_type(values, "oci_identity_dynamic_group")
    assert group["name"] == f"ocift-{env}-job-runs" and "datasciencejobrun" in group["matching_rule"]
    [jobs] = [p for p in of_type(values, "oci_identity_policy") if p["name"] == f"ocift-{env}-job-runs"]
    network_compartment = config.get("network_compartment_ocid") or config["compartment_ocid"]
    assert (
        f"Allow dynamic-group ocift-{env}-job-runs to use virtual-network-family in compartment id "
        f"{network_compartment}"
    ) in jobs["statements"]
    # Terraform's own view of the graph: the policy naming the dynamic group waits for it (defect 2)
    resources = plan["configuration"]["root_module"]["resources"]
    [dg_address] = [r["address"] for r in resources if r["type"] == "oci_identity_dynamic_group"]
    policies = [r for r in resources if r["type"] == "oci_identity_policy" and "JobRunPolicy" in r["address"]]
    assert policies and all(dg_address in r.get("depends_on", []) for r in policies), policies


def _network(plan: dict[str, Any], values: dict[str, dict[str, Any]], env: str, config: dict[str, Any]) -> None:
    [security_list] = of_type(values, "oci_core_security_list")
    icmp = [r for r in security_list["ingress_security_rules"] if r["protocol"] == "1"]
    assert [(r["icmp_options"][0]["type"], r["icmp_options"][0]["code"]) for r in icmp] == [(3, 4)]
    [route_table] = of_type(values, "oci_core_route_table")
    assert OFFLINE_LITERALS["oci_core_services"]["services[0].cidr_block"] in [
        r["destination"] for r in route_table["route_rules"]
    ]


def _training(plan: dict[str, Any], values: dict[str, dict[str, Any]], env: str, config: dict[str, Any]) -> None:
    assert not of_type(values, "oci_datascience_job_run")  # apply never starts a run (defect 3)
    [job] = of_type(values, "oci_datascience_job")
    nodes = job["job_node_configuration_details"][0]
    assert (
        nodes["job_network_configuration"][0]["subnet_id"]
        == OFFLINE_LITERALS["terraform_remote_state"]["outputs.subnet_id"]
    )
    for group in nodes["job_node_group_configuration_details_list"]:
        environment = group["job_environment_configuration_details"][0]
        assert environment["image"].rsplit("/", 1)[1].count(":") == 1  # a tag, always (defect 6)
        assert "--model_name" in environment["cmd"]  # the recipe as Docker CMD (defect 5)
        assert not group["job_configuration_details"][0].get("command_line_arguments")
        assert len(shlex.join(environment["cmd"]).encode()) < 2048
    [repository] = of_type(values, "oci_artifacts_container_repository")
    assert repository["display_name"] == (config.get("registry", {}).get("repository") or f"ocift-{env}/launcher")


def test_the_tier_fails_on_a_broken_stack(terraform: Terraform, synthesized: Path, tmp_path: Path) -> None:
    """A value only the provider knows is wrong (passes our schema check's types, and `validate`
    while it sits next to a reference) fails the offline plan, naming the field."""
    doc = document(synthesized, "dev-training")
    [job] = doc["resource"]["oci_datascience_job"].values()
    for group in job["job_node_configuration_details"]["job_node_group_configuration_details_list"]:
        group["job_configuration_details"]["job_type"] = "NOT_A_JOB_TYPE"
    work = tmp_path / "broken"
    work.mkdir()
    (work / "main.tf.json").write_text(json.dumps(offline_stack(doc)))
    assert terraform.run(work, "init", "-input=false", "-backend=false").returncode == 0
    plan = terraform.run(work, "plan", "-input=false", "-refresh=false", "-lock=false")
    assert plan.returncode != 0 and "job_type" in plan.stderr, plan.stdout + plan.stderr


def test_offline_copy_refuses_a_reference_it_has_no_literal_for(synthesized: Path) -> None:
    doc = document(synthesized, "dev-training")
    doc["output"]["extra"] = {"value": "${data.terraform_remote_state.network.outputs.vcn_id}"}
    with pytest.raises(KeyError, match=r"data\.terraform_remote_state\.\*\.outputs\.vcn_id"):
        offline_stack(doc)
