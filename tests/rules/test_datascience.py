"""Job rules: no secrets in environment or arguments, random-looking values warned, prod images pinned."""

from __future__ import annotations

from typing import Any

import pytest

from cdk.rules import Outcome, Rule, SynthResource
from cdk.rules.datascience import NO_RANDOM_VALUES, NO_SECRETS, PINNED_IMAGES

from ._fixtures import DEV, DIGEST, PROD, SECRET_OCID, detail, outcome, resource

IMAGE = "iad.ocir.io/ns/ocift/launcher"
CLEAN_ENV = {
    "OCIFT_SECRETS": f"HF_TOKEN={SECRET_OCID},WANDB_API_KEY={SECRET_OCID}",
    "OCIFT_OUTPUT_URI": "oci://ocift-dev-outputs@ns/runs/llama",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_TOKEN_SECRET_OCID": SECRET_OCID,
    "NCCL_DEBUG": "INFO",
    "MODEL": "meta-llama/Llama-3.1-8B-Instruct",
    "REVISION": "19eea46d98afc68fdd25f667ae3146702de3bd69",
}
ARGS = "--model_name meta-llama/Llama-3.1-8B-Instruct --dataset samsum_dataset --output_dir /mnt/outputs/run1"


def group(env: dict[str, str], image: str = IMAGE, digest: str | None = None, args: str = ARGS) -> dict[str, Any]:
    environment = {"job_environment_type": "OCIR_CONTAINER", "image": image}
    if digest:
        environment["image_digest"] = digest
    return {
        "name": "workers",
        "replicas": 2,
        "job_configuration_details": {
            "job_type": "DEFAULT",
            "environment_variables": env,
            "command_line_arguments": args,
        },
        "job_environment_configuration_details": environment,
    }


def job(*groups: dict[str, Any]) -> SynthResource:
    """A multi-node job as the L1 synthesizes it: single blocks as objects, node groups as a list."""
    return resource(
        "oci_datascience_job",
        job_node_configuration_details={
            "job_node_type": "MULTI_NODE",
            "job_node_group_configuration_details_list": list(groups),
        },
    )


def test_clean_job_passes_every_job_rule() -> None:
    res = job(group(CLEAN_ENV, digest=DIGEST), group(CLEAN_ENV, image=f"{IMAGE}@{DIGEST}"))
    for rule in (NO_SECRETS, NO_RANDOM_VALUES):
        assert outcome(rule, res) is Outcome.COMPLIANT, detail(rule, res)
    assert outcome(PINNED_IMAGES, res, PROD) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "name",
    [
        "HF_TOKEN",
        "hf_token",
        "HUGGING_FACE_HUB_TOKEN",
        "WANDB_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "SSH_PRIVATE_KEY",
        "OCI_ACCESS_KEY",
        "githubToken",
        "MY_APIKEY",
        "OCIFT_SECRETS",
    ],
)
def test_secret_names_with_literal_values_fail(name: str) -> None:
    res = job(group(CLEAN_ENV), group({**CLEAN_ENV, name: "not-a-vault-reference"}))
    assert outcome(NO_SECRETS, res) is Outcome.NON_COMPLIANT
    assert f".environment_variables.{name} is named like a secret" in detail(NO_SECRETS, res)


def test_secret_list_must_hold_only_vault_secret_ocids() -> None:
    bad = f"HF_TOKEN={SECRET_OCID},WANDB_API_KEY=0123456789abcdef"
    assert outcome(NO_SECRETS, job(group({"OCIFT_SECRETS": bad}))) is Outcome.NON_COMPLIANT


def test_a_reference_to_a_vault_secret_resource_is_fine() -> None:
    env = {"HF_TOKEN_SECRET_ID": "${oci_vault_secret.hf.id}"}
    assert outcome(NO_SECRETS, job(group(env))) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "value, label",
    [
        ("hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "a Hugging Face token"),
        ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----",
            "a PEM private key",
        ),
        ("ghp_" + "a" * 36, "a GitHub token"),
        ("postgres://ocift:hunter2@db.internal:5432/runs", "a URL with a password"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "a JSON Web Token"),
    ],
)
def test_secret_values_under_innocent_names_fail(value: str, label: str) -> None:
    res = job(group({**CLEAN_ENV, "EXTRA": value}))
    assert outcome(NO_SECRETS, res) is Outcome.NON_COMPLIANT
    assert f"environment_variables.EXTRA holds {label}" in detail(NO_SECRETS, res)


def test_secret_values_in_arguments_fail() -> None:
    res = job(group(CLEAN_ENV, args=ARGS + " --hf_token hf_" + "Z" * 34))
    assert outcome(NO_SECRETS, res) is Outcome.NON_COMPLIANT
    assert "command_line_arguments holds a Hugging Face token" in detail(NO_SECRETS, res)


def test_top_level_configuration_and_run_overrides_are_checked_too() -> None:
    single = resource(
        "oci_datascience_job",
        job_configuration_details=[{"job_type": "DEFAULT", "environment_variables": {"API_TOKEN": "x"}}],
    )
    run = resource(
        "oci_datascience_job_run",
        job_node_configuration_override_details=[
            {
                "job_node_group_configuration_details_list": [
                    {
                        "name": "w",
                        "job_configuration_details": [
                            {"job_type": "DEFAULT", "environment_variables": {"PASSWORD": "x"}}
                        ],
                    }
                ]
            }
        ],
    )
    assert "API_TOKEN" in detail(NO_SECRETS, single)
    assert "PASSWORD" in detail(NO_SECRETS, run)
    assert "job_node_group_configuration_details_list[0]" in detail(NO_SECRETS, run)


def test_non_literal_environment_cannot_be_verified() -> None:
    res = resource(
        "oci_datascience_job", job_configuration_details={"job_type": "DEFAULT", "environment_variables": "${var.env}"}
    )
    assert outcome(NO_SECRETS, res) is Outcome.NON_COMPLIANT
    assert "not a literal map" in detail(NO_SECRETS, res)


@pytest.mark.parametrize("value", ["kGzdKofNbv+3cGMDXLCHt2OclW5Xv9VKv7CHKZwK", "BneW6qr1lvnwBoQaVdRbUVsL98wK5nZI"])
def test_random_looking_values_warn(value: str) -> None:
    res = job(group({**CLEAN_ENV, "EXTRA": f"x={value}"}))
    assert outcome(NO_RANDOM_VALUES, res) is Outcome.NON_COMPLIANT
    assert value not in detail(NO_RANDOM_VALUES, res)  # the detail must not echo a possible secret
    assert value[:4] + "..." in detail(NO_RANDOM_VALUES, res)


@pytest.mark.parametrize(
    "value",
    [
        "/home/User2/Documents/ProjectAlpha",
        "NousResearch/Meta-Llama-3.1-8B-Instruct",
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "ocid1.compartment.oc1..aaaaaaaa2x3yrtb7k4qsl5hw6a7v5mrdkqdz6wvnq",
        "0123456789abcdef0123456789abcdef01234567",
    ],
)
def test_words_paths_model_ids_ocids_and_hex_do_not_warn(value: str) -> None:
    assert outcome(NO_RANDOM_VALUES, job(group({"EXTRA": value}))) is Outcome.COMPLIANT


@pytest.mark.parametrize(
    "image, digest",
    [(IMAGE + ":1.0", DIGEST), (f"{IMAGE}@{DIGEST}", None), ("${var.image}", "${var.digest}")],
)
def test_pinned_prod_images_pass(image: str, digest: str | None) -> None:
    assert outcome(PINNED_IMAGES, job(group(CLEAN_ENV, image=image, digest=digest)), PROD) is Outcome.COMPLIANT


@pytest.mark.parametrize("image", [IMAGE + ":latest", IMAGE, f"{IMAGE}@sha256:abc", "${var.image}"])
def test_unpinned_prod_images_fail(image: str) -> None:
    res = job(group(CLEAN_ENV, digest=DIGEST), group(CLEAN_ENV, image=image))
    assert outcome(PINNED_IMAGES, res, PROD) is Outcome.NON_COMPLIANT
    assert "job_node_group_configuration_details_list[1].job_environment_configuration_details.image" in detail(
        PINNED_IMAGES, res, PROD
    )


def test_unpinned_images_are_fine_outside_prod() -> None:
    assert outcome(PINNED_IMAGES, job(group(CLEAN_ENV, image=IMAGE + ":latest")), DEV) is Outcome.NOT_APPLICABLE


def test_a_run_without_image_override_has_nothing_to_pin() -> None:
    assert outcome(PINNED_IMAGES, resource("oci_datascience_job_run", job_id="x"), PROD) is Outcome.NOT_APPLICABLE


@pytest.mark.parametrize("rule", [NO_SECRETS, NO_RANDOM_VALUES, PINNED_IMAGES])
def test_job_rules_ignore_other_resources(rule: Rule) -> None:
    other = resource("oci_objectstorage_bucket", environment_variables={"HF_TOKEN": "hf_" + "a" * 34}, image="x")
    assert outcome(rule, other, PROD) is Outcome.NOT_APPLICABLE
