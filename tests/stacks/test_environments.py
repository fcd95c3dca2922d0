"""Construct-level assertions on the synthesized shipped environments (and variants of them)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from cdk.oci.provider import PROVIDER_VERSION
from cdk.rules.tags import taggable_types
from cdk.schema_check import validate_synth_dir
from contract.recipe import Recipe
from contract.settings import LauncherSettings
from stacks.app import synth_all
from stacks.errors import ConfigError
from stacks.summary import Summary
from tests.support import SHIPPED, shipped, staging_example, write_config

SUBNET = "ocid1.subnet.oc1.iad.aaaaaaaaexamplesubnet000000000000000000000000000000000"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Summary, Path]:
    outdir = tmp_path_factory.mktemp("synth") / "cdktf.out"
    return synth_all(outdir), outdir


def stack(outdir: Path, name: str) -> dict[str, Any]:
    return json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())


def resources(document: dict[str, Any], tf_type: str) -> list[dict[str, Any]]:
    return list((document.get("resource") or {}).get(tf_type, {}).values())


def one(document: dict[str, Any], tf_type: str) -> dict[str, Any]:
    [body] = resources(document, tf_type)
    return body


def node_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    return one(document, "oci_datascience_job")["job_node_configuration_details"][
        "job_node_group_configuration_details_list"
    ]


def statements(document: dict[str, Any]) -> list[str]:
    return [s for policy in resources(document, "oci_identity_policy") for s in policy["statements"]]


# ---- every shipped environment --------------------------------------------------------------


def test_every_shipped_environment_is_synthesized_split_by_who_applies_it(synth) -> None:
    summary, outdir = synth
    assert summary.ok, summary.render()
    assert summary.outdir == outdir.resolve()
    envs = [p.stem for p in SHIPPED]
    assert {"dev", "prod"} <= set(envs)
    expected = {f"{env}-{kind}" for env in envs for kind in ("iam", "network", "training")}
    assert set(summary.stack_names()) == expected
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert set(manifest["stacks"]) == expected
    for env in envs:  # `cdktf deploy '*'` applies IAM and the network before the job that needs them
        assert set(manifest["stacks"][f"{env}-training"]["dependencies"]) == {f"{env}-iam", f"{env}-network"}


def test_every_stack_passes_the_schema_and_the_rule_pack(synth) -> None:
    summary, outdir = synth
    assert validate_synth_dir(outdir) == []
    for env in summary.environments:
        for report in env.stacks:
            assert report.schema_errors == () and report.rule_errors == [], summary.render()
            assert report.resources > 0


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_provider_pinned_and_state_per_stack(synth, env: str) -> None:
    _, outdir = synth
    keys = set()
    for kind in ("iam", "network", "training"):
        document = stack(outdir, f"{env}-{kind}")
        assert document["terraform"]["required_providers"]["oci"] == {
            "source": "oracle/oci",
            "version": PROVIDER_VERSION,
        }
        [(backend, body)] = document["terraform"]["backend"].items()  # cdktf's default local entry is gone
        assert backend == shipped(env)["state"]["backend"]
        assert body["key"].endswith(f"{env}/{env}-{kind}.tfstate")
        keys.add(body["key"])
    assert len(keys) == 3


def test_s3_state_uses_the_s3_compatible_endpoint_and_is_reported_unlocked(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(
        tmp_path, lambda d: d.update(state={"backend": "s3", "bucket": "ocift-tfstate", "prefix": "ocift"})
    )
    assert summary.ok, summary.render()
    assert "state.backend: s3 keeps state unlocked" in summary.render()
    document = stack(outdir, "dev-iam")
    assert "required_version" not in document["terraform"]  # the s3 backend works before Terraform 1.12
    body = document["terraform"]["backend"]["s3"]
    assert body["endpoints"] == {"s3": "https://exampletenancyns.compat.objectstorage.us-ashburn-1.oraclecloud.com"}
    assert body["use_path_style"] is True
    for flag in (
        "skip_region_validation",
        "skip_credentials_validation",
        "skip_requesting_account_id",
        "skip_metadata_api_check",
        "skip_s3_checksum",
    ):
        assert body[flag] is True
    assert body["key"] == "ocift/dev/dev-iam.tfstate"


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_shipped_state_uses_the_native_oci_backend_which_locks(synth, env: str) -> None:
    _, outdir = synth
    for kind in ("iam", "network", "training"):
        terraform = stack(outdir, f"{env}-{kind}")["terraform"]
        assert terraform["backend"] == {
            "oci": {
                "bucket": "ocift-tfstate",
                "namespace": "exampletenancyns",
                "key": f"ocift/{env}/{env}-{kind}.tfstate",
                "region": "us-ashburn-1",
            }
        }
        # Terraform 1.11 has no oci backend ("There is no backend type named oci"), for state and remote state
        assert terraform["required_version"] == ">= 1.12.0"


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_training_reads_the_subnet_from_the_network_stack_state(synth, env: str) -> None:
    _, outdir = synth
    training, network = stack(outdir, f"{env}-training"), stack(outdir, f"{env}-network")
    remote = training["data"]["terraform_remote_state"]["network"]
    assert (remote["backend"], remote["config"]) == next(
        iter((k, v) for k, v in network["terraform"]["backend"].items())
    )
    assert network["output"]["subnet_id"]["value"].startswith("${oci_core_subnet.")
    job_network = one(training, "oci_datascience_job")["job_node_configuration_details"]["job_network_configuration"]
    assert job_network == {
        "job_network_type": "CUSTOM_NETWORK",
        "subnet_id": "${data.terraform_remote_state.network.outputs.subnet_id}",
    }
    assert not resources(training, "oci_core_vcn")


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_iam_lives_only_in_the_iam_stack(synth, env: str) -> None:
    _, outdir = synth
    iam = stack(outdir, f"{env}-iam")
    config = shipped(env)
    group = one(iam, "oci_identity_dynamic_group")
    assert group["compartment_id"] == config["tenancy_ocid"]
    assert f"resource.compartment.id = '{config['compartment_ocid']}'" in group["matching_rule"]
    for kind in ("network", "training"):
        assert not any(t.startswith("oci_identity_") for t in stack(outdir, f"{env}-{kind}").get("resource", {}))


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_job_runs_get_exactly_what_the_job_uses(synth, env: str) -> None:
    _, outdir = synth
    config = shipped(env)
    granted = statements(stack(outdir, f"{env}-iam"))
    subject = f"Allow dynamic-group ocift-{env}-job-runs to"
    bucket = config.get("storage", {}).get("outputs_bucket") or f"ocift-{env}-outputs"
    inputs, c = config["storage"]["inputs_compartment_ocid"], config["compartment_ocid"]
    network_compartment = config.get("network_compartment_ocid") or config["compartment_ocid"]
    expected = [
        f"manage objects in compartment id {c} where target.bucket.name = '{bucket}'",
        f"read objects in compartment id {inputs} where target.bucket.name = 'ocift-models'",
        f"read objects in compartment id {inputs} where target.bucket.name = 'ocift-datasets'",
        f"read repos in compartment id {c} where target.repo.name = 'ocift-{env}/launcher'",
        f"use log-content in compartment id {c}",
        f"use virtual-network-family in compartment id {network_compartment}",  # job runs attach to the subnet
    ]
    for text in expected:
        assert f"{subject} {text}" in granted
    assert not any("in tenancy" in s or "manage all-resources" in s for s in granted)
    assert f"Allow service datascience to use virtual-network-family in compartment id {network_compartment}" in granted


def test_prod_secrets_are_granted_by_ocid_never_inlined(synth) -> None:
    _, outdir = synth
    secret = shipped("prod")["training"]["launcher"]["secrets"]["HF_TOKEN"]
    assert (
        f"Allow dynamic-group ocift-prod-job-runs to read secret-bundles in compartment id "
        f"{shipped('prod')['compartment_ocid']} where target.secret.id = '{secret}'"
    ) in statements(stack(outdir, "prod-iam"))
    [group] = node_groups(stack(outdir, "prod-training"))
    assert group["job_configuration_details"]["environment_variables"]["OCIFT_SECRETS"] == f"HF_TOKEN={secret}"


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_job_renders_the_recipe_and_launcher_settings(synth, env: str) -> None:
    _, outdir = synth
    config = shipped(env)
    training = config["training"]
    groups = node_groups(stack(outdir, f"{env}-training"))
    assert [
        (g["name"], g["replicas"], g["job_infrastructure_configuration_details"]["shape_name"]) for g in groups
    ] == [(g["name"], g["replicas"], g["shape"]) for g in training["node_groups"]]
    recipe = Recipe.from_mapping(training["recipe"])
    for group in groups:
        details = group["job_configuration_details"]
        assert "command_line_arguments" not in details  # undocumented for containers: the recipe is CMD
        assert Recipe.from_args(group["job_environment_configuration_details"]["cmd"]) == recipe
        settings = LauncherSettings.from_env(details["environment_variables"])
        bucket = config.get("storage", {}).get("outputs_bucket") or f"ocift-{env}-outputs"
        assert settings.output_uri == f"oci://{bucket}@{config['namespace']}/ocift-{env}-finetune/"
        image = group["job_environment_configuration_details"]
        assert image["image"] == f"iad.ocir.io/{config['namespace']}/ocift-{env}/launcher:{training['image']['tag']}"
        assert image.get("image_digest") == training["image"].get("digest")


def test_prod_is_multi_node_gpu_hsdp_and_protected(synth) -> None:
    _, outdir = synth
    training = stack(outdir, "prod-training")
    [group] = node_groups(training)
    assert group["replicas"] >= 2 and group["minimum_success_replicas"] == group["replicas"]
    assert group["job_infrastructure_configuration_details"]["shape_name"].startswith("BM.GPU.")
    args = shlex.join(group["job_environment_configuration_details"]["cmd"])
    assert "--hsdp" in args and "--sharding_strategy HYBRID_SHARD" in args
    bucket = one(training, "oci_objectstorage_bucket")
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    assert bucket["kms_key_id"].startswith("ocid1.key.")
    assert bucket["versioning"] == "Enabled"
    storage = shipped("prod")["storage"]  # the key is used where it lives: a security compartment
    assert (
        f"Allow service objectstorage-us-ashburn-1 to use keys in compartment id "
        f"{storage['kms_key_compartment_ocid']} where target.key.id = '{storage['kms_key_ocid']}'"
    ) in statements(stack(outdir, "prod-iam"))


def test_dev_starts_no_run_on_deploy_and_expires_checkpoints(synth) -> None:
    _, outdir = synth
    training = stack(outdir, "dev-training")
    assert not resources(training, "oci_datascience_job_run")  # runs: `ocift run start`, never apply
    rules = one(training, "oci_objectstorage_object_lifecycle_policy")["rules"]
    expire = [r for r in rules if r["target"] == "objects"]
    assert [(r["object_name_filter"]["inclusion_patterns"], r["time_amount"]) for r in expire] == [
        (["ocift-dev-finetune/*/checkpoints/*"], "14")
    ]  # every run's checkpoints, each under its run name
    assert "lifecycle" not in one(training, "oci_objectstorage_bucket")


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_required_tags_on_every_taggable_resource(synth, env: str) -> None:
    _, outdir = synth
    tags = shipped(env)["tags"]
    count = 0
    for kind in ("iam", "network", "training"):
        for tf_type, by_name in stack(outdir, f"{env}-{kind}")["resource"].items():
            if tf_type in taggable_types():
                for body in by_name.values():
                    assert body["freeform_tags"] == tags
                    count += 1
    assert count >= 10


# ---- variants -------------------------------------------------------------------------------


def _synth_variant(tmp_path: Path, mutate) -> tuple[Summary, Path]:
    config = write_config(tmp_path, "dev", mutate)
    outdir = tmp_path / "cdktf.out"
    return synth_all(outdir, [config]), outdir


def test_existing_subnet_means_no_network_stack(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(tmp_path, lambda d: d.update(network={"mode": "existing", "subnet_ocid": SUBNET}))
    assert summary.ok, summary.render()
    assert summary.stack_names() == ["dev-iam", "dev-training"]
    training = stack(outdir, "dev-training")
    network = one(training, "oci_datascience_job")["job_node_configuration_details"]["job_network_configuration"]
    assert network == {"job_network_type": "CUSTOM_NETWORK", "subnet_id": SUBNET}
    assert "data" not in training


def test_default_network_needs_no_service_policy_for_networking(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(tmp_path, lambda d: d.update(network={"mode": "default"}))
    assert summary.ok, summary.render()
    job = one(stack(outdir, "dev-training"), "oci_datascience_job")
    assert job["job_node_configuration_details"]["job_network_configuration"] == {"job_network_type": "DEFAULT_NETWORK"}
    assert not any("virtual-network-family" in s for s in statements(stack(outdir, "dev-iam")))


def test_iam_goes_through_the_home_region(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(tmp_path, lambda d: d.update(region="eu-frankfurt-1", home_region="us-ashburn-1"))
    assert summary.ok, summary.render()
    assert stack(outdir, "dev-iam")["provider"]["oci"] == [{"region": "us-ashburn-1"}]
    assert stack(outdir, "dev-training")["provider"]["oci"] == [{"region": "eu-frankfurt-1"}]


def test_local_state_for_the_demo_stays_outside_the_synth_output(tmp_path: Path) -> None:
    summary = synth_all(tmp_path / "cdktf.out", [write_config(tmp_path, "dev")], local_state=True)
    assert summary.ok
    backend = stack(tmp_path / "cdktf.out", "dev-network")["terraform"]["backend"]
    assert backend == {"local": {"path": "../../../terraform-state/dev/dev-network.tfstate"}}
    working_dir = tmp_path / "cdktf.out" / "stacks" / "dev-network"
    assert (working_dir / backend["local"]["path"]).resolve() == tmp_path / "terraform-state/dev/dev-network.tfstate"


def test_suppression_with_reason_is_applied_and_reported(tmp_path: Path) -> None:
    reason = "the dev bucket is scratch space; overwrites are expected"
    summary, outdir = _synth_variant(
        tmp_path,
        lambda d: (
            d["storage"].update(versioning=False),
            d["rules"].update(
                suppress=[{"rule": "OCI-OS-2", "stack": "dev-training", "resource": "Outputs/*", "reason": reason}]
            ),
        ),
    )
    assert summary.ok, summary.render()
    [training] = [s for s in summary.environments[0].stacks if s.name == "dev-training"]
    [finding] = training.suppressed
    assert finding.rule.id == "OCI-OS-2" and finding.suppressed_reason == reason
    assert "suppressed: dev-training: " in summary.render() and reason in summary.render()
    bucket = one(stack(outdir, "dev-training"), "oci_objectstorage_bucket")
    assert bucket["//"]["ocift"]["suppressions"] == [{"rule": "OCI-OS-2", "reason": reason}]


def test_rule_error_fails_synth_and_writes_nothing(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(tmp_path, lambda d: d["storage"].update(versioning=False))
    assert not summary.ok and summary.outdir is None
    assert "OCI-OS-2" in summary.render() and "FAILED" in summary.render()
    assert not outdir.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dev.yaml"]  # the staging directory is gone too


def test_a_failed_synth_leaves_the_previous_output_in_place(tmp_path: Path) -> None:
    good = synth_all(tmp_path / "cdktf.out", [write_config(tmp_path, "dev")])
    assert good.ok
    before = stack(tmp_path / "cdktf.out", "dev-training")
    bad = synth_all(
        tmp_path / "cdktf.out", [write_config(tmp_path, "dev", lambda d: d["storage"].update(versioning=False))]
    )
    assert not bad.ok
    assert stack(tmp_path / "cdktf.out", "dev-training") == before


@pytest.mark.parametrize(
    ("suppression", "expected"),
    [
        (
            {"rule": "OCI-OS-2", "resource": "NoSuchThing/*", "reason": "a reason long enough"},
            "rules.suppress[0]: matches no resource",
        ),
        (
            {"rule": "OCI-OS-9", "reason": "a reason long enough"},
            "rules.suppress[0].rule: unknown rule (did you mean 'OCI-OS-2'?)",
        ),
        ({"rule": "OCI-OS-2", "reason": ""}, "rules.suppress[0].reason: String should have at least 10 characters"),
    ],
)
def test_bad_suppressions(tmp_path: Path, suppression: dict[str, str], expected: str) -> None:
    config = write_config(tmp_path, "dev", lambda d: d["rules"].update(suppress=[suppression]))
    with pytest.raises(ConfigError, match=re.escape(expected)):
        synth_all(tmp_path / "cdktf.out", [config])
    assert not (tmp_path / "cdktf.out").exists()


def test_adding_an_environment_is_one_more_file(tmp_path: Path) -> None:
    """The README's recipe for `staging`: copy dev, rename it, give it its own compartment and CIDRs."""
    staging = staging_example(tmp_path)
    summary = synth_all(tmp_path / "cdktf.out", [*SHIPPED, staging])
    assert summary.ok, summary.render()
    assert {"staging-iam", "staging-network", "staging-training"} <= set(summary.stack_names())
    assert (
        stack(tmp_path / "cdktf.out", "staging-training")["terraform"]["backend"]["oci"]["key"]
        == "ocift/staging/staging-training.tfstate"
    )
    assert (
        one(stack(tmp_path / "cdktf.out", "staging-training"), "oci_objectstorage_bucket")["name"]
        == "ocift-staging-outputs"
    )


def test_resynth_keeps_what_a_deploy_left_and_drops_what_is_stale(tmp_path: Path) -> None:
    outdir = tmp_path / "cdktf.out"
    assert synth_all(outdir, [write_config(tmp_path, "dev")]).ok
    stack_dir = outdir / "stacks" / "dev-training"
    (stack_dir / ".terraform" / "providers").mkdir(parents=True)  # what `terraform init` leaves
    (stack_dir / ".terraform.lock.hcl").write_text("# provider hashes\n")
    (stack_dir / "cdk.tf").write_text("# an earlier --hcl synth\n")
    (outdir / "stacks" / "dev-retired").mkdir()
    assert synth_all(outdir, [write_config(tmp_path, "dev")]).ok
    assert (stack_dir / ".terraform" / "providers").is_dir() and (stack_dir / ".terraform.lock.hcl").exists()
    assert sorted(p.name for p in stack_dir.iterdir() if not p.name.startswith(".")) == ["cdk.tf.json"]
    assert sorted(p.name for p in (outdir / "stacks").iterdir()) == ["dev-iam", "dev-network", "dev-training"]


def test_prod_operators_may_run_jobs_and_read_outputs_only(synth) -> None:
    _, outdir = synth
    config = shipped("prod")
    [policy] = [
        p for p in resources(stack(outdir, "prod-iam"), "oci_identity_policy") if p["name"] == "ocift-prod-operators"
    ]
    assert policy["compartment_id"] == config["tenancy_ocid"]  # it reaches the network compartment too
    subject, c = "Allow group ocift-prod-operators to", config["compartment_ocid"]
    assert policy["statements"] == [
        f"{subject} manage data-science-jobs in compartment id {c}",
        f"{subject} manage data-science-job-runs in compartment id {c}",
        f"{subject} read data-science-projects in compartment id {c}",
        f"{subject} use logging-family in compartment id {c}",
        f"{subject} read metrics in compartment id {c}",
        f"{subject} read buckets in compartment id {c} where target.bucket.name = 'ocift-prod-outputs'",
        f"{subject} read objects in compartment id {c} where target.bucket.name = 'ocift-prod-outputs'",
        f"{subject} use virtual-network-family in compartment id {config['network_compartment_ocid']}",
    ]
    assert not any(
        p["name"] == "ocift-dev-operators" for p in resources(stack(outdir, "dev-iam"), "oci_identity_policy")
    )


@pytest.mark.parametrize(
    ("section", "field"), [("storage", "inputs_compartment_ocid"), ("training", "secrets_compartment_ocid")]
)
def test_job_policy_moves_to_the_tenancy_when_it_reaches_another_compartment(tmp_path: Path, section, field) -> None:
    other = "ocid1.compartment.oc1..aaaaaaaaexampleshared00000000000000000000000000000000"
    summary, outdir = _synth_variant(tmp_path, lambda d: d[section].update({field: other}))
    assert summary.ok, summary.render()
    [policy] = [
        p for p in resources(stack(outdir, "dev-iam"), "oci_identity_policy") if p["name"] == "ocift-dev-job-runs"
    ]
    assert policy["compartment_id"] == shipped("dev")["tenancy_ocid"]
    if section == "storage":
        assert any(
            f"compartment id {other} where target.bucket.name = 'ocift-models'" in s for s in policy["statements"]
        )


def test_job_policy_stays_in_the_job_compartment(tmp_path: Path) -> None:
    summary, outdir = _synth_variant(tmp_path, lambda d: d["storage"].pop("inputs_compartment_ocid"))
    assert summary.ok, summary.render()
    [policy] = [
        p for p in resources(stack(outdir, "dev-iam"), "oci_identity_policy") if p["name"] == "ocift-dev-job-runs"
    ]
    assert policy["compartment_id"] == shipped("dev")["compartment_ocid"]


@pytest.mark.parametrize("env", [p.stem for p in SHIPPED])
def test_ocift_run_start_finds_the_job_in_the_deployed_outputs(synth, env: str, tmp_path: Path) -> None:
    """`cdktf deploy --outputs-file` writes {stack: {output: value}}: `ocift run start <env> finetune`
    must find the job among exactly the outputs the training stack declares."""
    from ocift.run import resolve_job

    _, outdir = synth
    declared = stack(outdir, f"{env}-training")["output"]
    job = "ocid1.datasciencejob.oc1.iad.aaaaaaaadeployed"
    outputs = tmp_path / f"{env}.json"
    outputs.write_text(
        json.dumps({f"{env}-training": {name: job if name.endswith("_job_id") else "x" for name in declared}})
    )
    assert resolve_job(env, "finetune", None, str(outputs)) == job
    assert "--job " not in declared["finetune_job_id"]["description"]  # no such flag


def test_the_operators_group_is_a_prerequisite_the_summary_names(synth) -> None:
    summary, _ = synth
    assert (
        "warning: iam.operators_group: create group 'ocift-prod-operators' before applying prod-iam "
        "(OCI rejects a policy naming a group that does not exist)"
    ) in summary.render()
    assert "iam.operators_group" not in summary.render().split("prod (")[0]  # dev has none


def test_job_runs_may_read_every_bucket_the_chosen_dataset_stages(tmp_path: Path) -> None:
    def alpaca(data: dict) -> None:
        recipe = data["training"]["recipe"]
        recipe.pop("data_path")
        recipe.update(
            dataset="alpaca_dataset",
            alpaca_dataset={"data_path": "oci://ocift-alpaca@exampletenancyns/alpaca_data.json"},
        )

    summary, outdir = _synth_variant(tmp_path, alpaca)
    assert summary.ok, summary.render()
    granted = statements(stack(outdir, "dev-iam"))
    readable = sorted(s.rpartition("target.bucket.name = ")[2] for s in granted if " to read objects " in s)
    assert readable == ["'ocift-alpaca'", "'ocift-models'"]  # the dataset's bucket, not samsum's any more
