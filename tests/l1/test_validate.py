"""The schema validator: one failing case per error kind, and clean stacks stay clean."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cdk.framework import TerraformStack, Testing as CdktfTesting
from cdk.oci.artifacts import ArtifactsContainerRepository
from cdk.oci.core import (
    CoreServiceGateway,
    CoreServiceGatewayServices,
    CoreVcn,
    DataCoreServices,
)
from cdk.oci.datascience import (
    DatascienceJob,
    DatascienceJobJobInfrastructureConfigurationDetails,
    DatascienceJobJobNodeConfigurationDetails,
    DatascienceJobJobNodeConfigurationDetailsJobNetworkConfiguration,
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList,
)
from cdk.oci.kms import (
    KmsKey,
    KmsKeyKeyShape,
    KmsKeyRestoreFromFile,
    KmsKeyRestoreFromObjectStore,
)
from cdk.oci.provider import OciProvider
from cdk.schema_check import SchemaError, validate_stack, validate_synth_dir
from ocift.validate import main

JOB = "oci_datascience_job.job"
NODES = "job_node_configuration_details[0]"


@pytest.fixture
def clean(stack: TerraformStack) -> dict[str, Any]:
    """A small valid stack, synthesized through the real bindings."""
    OciProvider(stack, "oci", region="eu-frankfurt-1")
    vcn = CoreVcn(stack, "vcn", compartment_id="ocid1.compartment", cidr_blocks=["10.0.0.0/16"])
    services = DataCoreServices(stack, "services")
    CoreServiceGateway(
        stack,
        "sgw",
        compartment_id="c",
        vcn_id=vcn.id,
        services=[CoreServiceGatewayServices(service_id=services.ref("services[0].id"))],
    )
    DatascienceJob(
        stack,
        "job",
        compartment_id="c",
        project_id="p",
        job_infrastructure_configuration_details=DatascienceJobJobInfrastructureConfigurationDetails(
            job_infrastructure_type="MULTI_NODE"
        ),
        job_node_configuration_details=DatascienceJobJobNodeConfigurationDetails(
            job_node_type="MULTI_NODE",
            startup_order="IN_PARALLEL",
            job_network_configuration=DatascienceJobJobNodeConfigurationDetailsJobNetworkConfiguration(
                job_network_type="CUSTOM_NETWORK", subnet_id="ocid1.subnet"
            ),
            job_node_group_configuration_details_list=[
                DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList(
                    name="workers", replicas=2
                )
            ],
        ),
    )
    return json.loads(CdktfTesting.synth(stack))


def _job(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["resource"]["oci_datascience_job"]["job"]


def _only(errors: list[SchemaError]) -> SchemaError:
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_a_clean_stack_has_no_errors(clean: dict[str, Any]) -> None:
    assert validate_stack(clean, "dev") == []


def test_unknown_attribute_names_stack_address_and_path(clean: dict[str, Any]) -> None:
    _job(clean)["job_node_configuration_details"]["job_network_configuration"]["subnet_idd"] = "ocid1.subnet"
    error = _only(validate_stack(clean, "dev"))
    assert (error.stack, error.address, error.path) == ("dev", JOB, f"{NODES}.job_network_configuration[0].subnet_idd")
    assert "unknown attribute or block" in error.message and "subnet_id" in error.message
    assert str(error) == f"dev: {JOB}.{NODES}.job_network_configuration[0].subnet_idd: {error.message}"


def test_unknown_attribute_added_through_an_override_escape_hatch(stack: TerraformStack) -> None:
    vcn = CoreVcn(stack, "vcn", compartment_id="c")
    vcn.add_override("cidr_blockz", ["10.0.0.0/16"])
    error = _only(validate_stack(json.loads(CdktfTesting.synth(stack)), "dev"))
    assert (error.address, error.path) == ("oci_core_vcn.vcn", "cidr_blockz")


def test_unknown_block_in_a_data_source(clean: dict[str, Any]) -> None:
    clean["data"]["oci_core_services"]["services"]["filters"] = [{"name": "name", "values": ["x"]}]
    error = _only(validate_stack(clean, "dev"))
    assert (error.address, error.path) == ("data.oci_core_services.services", "filters")
    assert "did you mean 'filter'" in error.message


def test_missing_required_attribute(clean: dict[str, Any]) -> None:
    del _job(clean)["job_node_configuration_details"]["job_node_group_configuration_details_list"][0]["name"]
    error = _only(validate_stack(clean, "dev"))
    assert (error.path, error.message) == (
        f"{NODES}.job_node_group_configuration_details_list[0].name",
        "required attribute is missing",
    )


def test_null_counts_as_missing(clean: dict[str, Any]) -> None:
    _job(clean)["project_id"] = None
    error = _only(validate_stack(clean, "dev"))
    assert (error.path, error.message) == ("project_id", "required attribute is missing")


def test_missing_required_block(clean: dict[str, Any]) -> None:
    del clean["resource"]["oci_core_service_gateway"]["sgw"]["services"]
    error = _only(validate_stack(clean, "dev"))
    assert (error.address, error.path, error.message) == (
        "oci_core_service_gateway.sgw",
        "services",
        "required block is missing",
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("job_node_configuration_details", "job_node_group_configuration_details_list", 0, "replicas"),
            "two",
            "expected number",
        ),
        (
            ("job_node_configuration_details", "job_node_group_configuration_details_list", 0, "replicas"),
            True,
            "expected number",
        ),
        (("freeform_tags",), ["a"], "expected map(string)"),
        (("freeform_tags",), {"team": ["a"]}, "expected string"),
        (("delete_related_job_runs",), "yes", "expected bool"),
        (("display_name",), {"a": 1}, "expected string"),
    ],
)
def test_wrong_type(clean: dict[str, Any], path: tuple[Any, ...], value: Any, expected: str) -> None:
    target = _job(clean)
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    error = _only(validate_stack(clean, "dev"))
    assert expected in error.message and error.address == JOB


def test_list_elements_are_checked_with_their_index(clean: dict[str, Any]) -> None:
    clean["resource"]["oci_core_vcn"]["vcn"]["cidr_blocks"] = ["10.0.0.0/16", ["nested"]]
    error = _only(validate_stack(clean, "dev"))
    assert error.path == "cidr_blocks[1]" and "expected string" in error.message


def test_terraform_conversions_and_tokens_are_accepted_anywhere(clean: dict[str, Any]) -> None:
    job = _job(clean)
    job["delete_related_job_runs"] = "true"
    job["freeform_tags"] = "${var.tags}"
    job["job_node_configuration_details"]["job_node_group_configuration_details_list"][0]["replicas"] = (
        "${var.replicas}"
    )
    job["job_node_configuration_details"]["maximum_runtime_in_minutes"] = 120
    job["job_node_configuration_details"]["job_network_configuration"] = "${local.network}"
    clean["resource"]["oci_core_vcn"]["vcn"]["cidr_blocks"] = ["${var.cidr}"]
    assert validate_stack(clean, "dev") == []


def test_too_many_blocks(clean: dict[str, Any]) -> None:
    nodes = _job(clean)["job_node_configuration_details"]
    _job(clean)["job_node_configuration_details"] = [nodes, copy.deepcopy(nodes)]
    error = _only(validate_stack(clean, "dev"))
    assert (error.path, error.message) == ("job_node_configuration_details", "at most 1 block(s) allowed, got 2")


def test_too_many_single_nested_blocks(clean: dict[str, Any]) -> None:
    _job(clean)["timeouts"] = [{"create": "1h"}, {"create": "2h"}]
    assert _only(validate_stack(clean, "dev")).path == "timeouts"


def test_too_few_blocks_from_the_extras_min_items(stack: TerraformStack) -> None:
    ArtifactsContainerRepository(stack, "repo", compartment_id="c", display_name="ocift/train")
    doc = json.loads(CdktfTesting.synth(stack))
    assert validate_stack(doc, "dev") == []
    doc["resource"]["oci_artifacts_container_repository"]["repo"]["readme"] = []
    error = _only(validate_stack(doc, "dev"))
    assert (error.path, error.message) == ("readme", "at least 1 block(s) required, got 0")


def test_value_outside_a_validated_enum(clean: dict[str, Any]) -> None:
    _job(clean)["job_node_configuration_details"]["job_node_type"] = "SINGLE_NODE"
    error = _only(validate_stack(clean, "dev"))
    assert error.path == f"{NODES}.job_node_type"
    assert error.message == "'SINGLE_NODE' is not one of MULTI_NODE"


def test_enums_the_provider_checks_case_insensitively_accept_any_case(clean: dict[str, Any]) -> None:
    _job(clean)["job_node_configuration_details"]["job_network_configuration"]["job_network_type"] = "custom_network"
    assert validate_stack(clean, "dev") == []


def test_read_only_attribute_set(clean: dict[str, Any]) -> None:
    _job(clean)["lifecycle_details"] = "ACTIVE"
    error = _only(validate_stack(clean, "dev"))
    assert error.path == "lifecycle_details" and "read-only" in error.message


def test_provider_block_is_checked(clean: dict[str, Any]) -> None:
    clean["provider"]["oci"][0]["regions"] = "eu-frankfurt-1"
    error = _only(validate_stack(clean, "dev"))
    assert (error.address, error.path) == ("provider.oci", "regions")


def test_unknown_oci_type_is_reported_and_other_providers_are_left_alone(clean: dict[str, Any]) -> None:
    clean["resource"]["oci_core_vnc"] = {"x": {"compartment_id": "c"}}
    clean["resource"]["terraform_data"] = {"y": {"whatever": 1}}
    error = _only(validate_stack(clean, "dev"))
    assert (error.address, error.message) == ("oci_core_vnc.x", "unknown resource type 'oci_core_vnc' in oracle/oci")


def test_meta_arguments_are_not_attributes(clean: dict[str, Any]) -> None:
    _job(clean).update(
        count=2, depends_on=["oci_core_vcn.vcn"], lifecycle={"prevent_destroy": True}, provider="oci.home"
    )
    assert validate_stack(clean, "dev") == []


def _write(outdir: Path, name: str, document: dict[str, Any] | str) -> None:
    path = outdir / "stacks" / name / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))


def test_synth_dir_names_each_stack(tmp_path: Path, clean: dict[str, Any]) -> None:
    broken = copy.deepcopy(clean)
    _job(broken)["job_node_configuration_details"]["job_node_type"] = "SINGLE"
    _write(tmp_path, "dev", clean)
    _write(tmp_path, "prod", broken)
    _write(tmp_path, "torn", "{not json")
    errors = validate_synth_dir(tmp_path)
    assert [(e.stack, e.address) for e in errors] == [
        ("prod", JOB),
        ("torn", str(tmp_path / "stacks" / "torn" / "cdk.tf.json")),
    ]
    assert errors[1].message.startswith("invalid JSON")


def test_synth_dir_without_stacks_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no stacks/<name>/cdk\.tf\.json"):
        validate_synth_dir(tmp_path)


def test_ocift_validate_synth_dir_prints_errors_and_exits_nonzero(
    tmp_path: Path, clean: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "dev", clean)
    assert main(["--synth-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "schema: ok\n"
    _job(clean)["job_node_configuration_details"]["job_node_type"] = "SINGLE"
    _write(tmp_path, "prod", clean)
    assert main(["--synth-dir", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().out
        == f"prod: {JOB}.{NODES}.job_node_type: 'SINGLE' is not one of MULTI_NODE\n1 schema error(s)\n"
    )
    assert main(["--synth-dir", str(tmp_path / "missing")]) == 2
    assert "no stacks/<name>/cdk.tf.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--synth-dir", str(tmp_path), "dev.yaml"])
    assert exited.value.code == 2


def test_siblings_the_provider_declares_conflicting(stack: TerraformStack) -> None:
    KmsKey(
        stack,
        "key",
        compartment_id="c",
        display_name="k",
        management_endpoint="https://kms",
        key_shape=KmsKeyKeyShape(algorithm="AES", length=32),
        restore_from_file=KmsKeyRestoreFromFile(content_length="1", restore_key_from_file_details="x"),
        restore_from_object_store=KmsKeyRestoreFromObjectStore(destination="BUCKET"),
    )
    error = _only(validate_stack(json.loads(CdktfTesting.synth(stack)), "dev"))
    assert (error.address, error.path) == ("oci_kms_key.key", "restore_from_file")
    assert error.message == "conflicts with 'restore_from_object_store': set only one of them"


def test_dynamic_blocks_count_as_present_and_their_content_is_checked(clean: dict[str, Any]) -> None:
    sgw = clean["resource"]["oci_core_service_gateway"]["sgw"]
    del sgw["services"]
    sgw["dynamic"] = {"services": {"for_each": "${var.services}", "content": {"service_id": "${services.value}"}}}
    assert validate_stack(clean, "dev") == []
    sgw["dynamic"]["services"]["content"] = {"service_idd": "x"}
    sgw["dynamic"]["servicez"] = {"for_each": "${var.x}", "content": {}}
    errors = [(e.path, e.message.split(" (")[0]) for e in validate_stack(clean, "dev")]
    assert errors == [
        ("dynamic.services.content.service_idd", "unknown attribute or block"),
        ("dynamic.services.content.service_id", "required attribute is missing"),
        ("dynamic.servicez", "dynamic block of an unknown block type"),
    ]


@pytest.mark.parametrize("pin", [{"source": "oracle/oci", "version": "7.14.0"}, {"version": "8.28.0"}, "8.28.0"])
def test_a_provider_pin_other_than_the_validated_schema(clean: dict[str, Any], pin: Any) -> None:
    assert clean["terraform"]["required_providers"]["oci"] == {"source": "oracle/oci", "version": "8.28.0"}
    clean["terraform"]["required_providers"]["oci"] = pin
    error = _only(validate_stack(clean, "dev"))
    assert (error.address, error.path) == ("terraform", "required_providers.oci")
    assert error.message.startswith("expected {'source': 'oracle/oci', 'version': '8.28.0'}")
