"""The generated bindings synthesize exactly what the schema describes, as JSON and as HCL."""

from __future__ import annotations

import json
from typing import Any

import hcl2
import pytest

from cdk.framework import (
    TerraformIterator,
    TerraformOutput,
    TerraformResourceLifecycle,
    TerraformStack,
    Testing as CdktfTesting,
    Token,
)
from cdk.oci.core import (
    CoreRouteTable,
    CoreRouteTableRouteRules,
    CoreServiceGateway,
    CoreServiceGatewayServices,
    CoreSubnet,
    CoreVcn,
    DataCoreServices,
)
from cdk.oci.datascience import (
    DatascienceJob,
    DatascienceJobJobNodeConfigurationDetails,
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList,
)
from cdk.oci.objectstorage import DataObjectstorageNamespace, ObjectstorageBucket
from cdk.oci.provider import PROVIDER_VERSION, OciProvider
from cdk.schema_check import validate_stack

from ._samples import (
    DATA_SOURCES,
    RESOURCES,
    as_blocks_lists,
    element_sample,
    schema_block,
)

HCL_OPTIONS = hcl2.SerializationOptions(explicit_blocks=False, strip_string_quotes=True)
KINDS = [(t, False) for t in RESOURCES] + [(t, True) for t in DATA_SOURCES]
IDS = [("data." if d else "") + t for t, d in KINDS]


def _synth(stack: TerraformStack) -> dict[str, Any]:
    return json.loads(CdktfTesting.synth(stack))


def _body(doc: dict[str, Any], tf_type: str, data: bool, name: str = "it") -> dict[str, Any]:
    body = dict(doc["data" if data else "resource"][tf_type][name])
    body.pop("//", None)
    return body


def _hcl_body(stack: TerraformStack, tf_type: str, data: bool) -> dict[str, Any]:
    parsed = hcl2.loads(CdktfTesting.synth_hcl(stack), serialization_options=HCL_OPTIONS)
    (entry,) = [e for e in parsed["data" if data else "resource"] if tf_type in e]
    return entry[tf_type]["it"]


@pytest.mark.parametrize(("tf_type", "data"), KINDS, ids=IDS)
@pytest.mark.parametrize("full", [False, True], ids=["required", "everything"])
def test_every_type_synthesizes_its_arguments_as_json_and_hcl(
    stack: TerraformStack, tf_type: str, data: bool, full: bool
) -> None:
    cls, sample = element_sample(tf_type, data, full)
    element = cls(stack, "it", **sample.kwargs)
    assert cls.TF_TYPE == tf_type
    doc = _synth(stack)
    assert _body(doc, tf_type, data) == sample.expected
    assert validate_stack(doc, "l1") == []
    assert _hcl_body(stack, tf_type, data) == as_blocks_lists(sample.expected, schema_block(tf_type, data))
    assert element.friendly_unique_id == "it"


@pytest.mark.parametrize(("tf_type", "data"), KINDS, ids=IDS)
def test_every_attribute_is_readable_as_a_reference(stack: TerraformStack, tf_type: str, data: bool) -> None:
    cls, sample = element_sample(tf_type, data, full=False)
    element = cls(stack, "it", **sample.kwargs)
    attributes = schema_block(tf_type, data)["attributes"]
    prefix = "data." if data else ""
    TerraformOutput(stack, "all", value={name: getattr(element, name) for name in attributes})
    outputs = _synth(stack)["output"]["all"]["value"]
    assert outputs == {name: f"${{{prefix}{tf_type}.it.{name}}}" for name in attributes}


def test_references_wire_resources_together(stack: TerraformStack) -> None:
    vcn = CoreVcn(stack, "vcn", compartment_id="ocid1.compartment", cidr_blocks=["10.0.0.0/16"])
    services = DataCoreServices(stack, "services")
    ns = DataObjectstorageNamespace(stack, "ns")
    gateway = CoreServiceGateway(
        stack,
        "sgw",
        compartment_id=vcn.compartment_id,
        vcn_id=vcn.id,
        services=[CoreServiceGatewayServices(service_id=services.ref("services[0].id"))],
    )
    CoreRouteTable(
        stack,
        "rt",
        compartment_id="ocid1.compartment",
        vcn_id=vcn.id,
        route_rules=[
            CoreRouteTableRouteRules(network_entity_id=gateway.id, destination=services.ref("services[0].cidr_block"))
        ],
    )
    bucket = ObjectstorageBucket(stack, "bucket", compartment_id="c", name="outputs", namespace=ns.namespace)
    CoreSubnet(
        stack, "subnet", compartment_id="c", vcn_id=vcn.id, cidr_block="10.0.1.0/24", depends_on=[gateway], count=2
    )
    TerraformOutput(stack, "bucket_name", value=bucket.name)
    doc = _synth(stack)
    resources = doc["resource"]
    assert resources["oci_core_service_gateway"]["sgw"]["services"] == [
        {"service_id": "${data.oci_core_services.services.services[0].id}"}
    ]
    assert resources["oci_core_service_gateway"]["sgw"]["compartment_id"] == "${oci_core_vcn.vcn.compartment_id}"
    assert resources["oci_core_route_table"]["rt"]["route_rules"] == [
        {
            "network_entity_id": "${oci_core_service_gateway.sgw.id}",
            "destination": "${data.oci_core_services.services.services[0].cidr_block}",
        }
    ]
    assert (
        resources["oci_objectstorage_bucket"]["bucket"]["namespace"]
        == "${data.oci_objectstorage_namespace.ns.namespace}"
    )
    subnet = resources["oci_core_subnet"]["subnet"]
    assert subnet["depends_on"] == ["oci_core_service_gateway.sgw"] and subnet["count"] == 2
    assert doc["output"]["bucket_name"]["value"] == "${oci_objectstorage_bucket.bucket.name}"
    assert validate_stack(doc, "l1") == []


def test_multi_node_job_nests_one_struct_and_lists_of_structs(stack: TerraformStack) -> None:
    group = DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList
    DatascienceJob(
        stack,
        "it",
        compartment_id="c",
        project_id="p",
        job_node_configuration_details=DatascienceJobJobNodeConfigurationDetails(
            job_node_type="MULTI_NODE",
            job_node_group_configuration_details_list=[group(name="a", replicas=2), group(name="b", replicas=1)],
        ),
    )
    body = _body(_synth(stack), "oci_datascience_job", False)
    assert body["job_node_configuration_details"] == {
        "job_node_type": "MULTI_NODE",
        "job_node_group_configuration_details_list": [{"name": "a", "replicas": 2}, {"name": "b", "replicas": 1}],
    }


def test_structs_are_frozen_and_keyword_only() -> None:
    rule = CoreRouteTableRouteRules(network_entity_id="x")
    with pytest.raises(AttributeError):
        rule.network_entity_id = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CoreRouteTableRouteRules("x")  # type: ignore[misc]
    with pytest.raises(TypeError, match="network_entity_id"):
        CoreRouteTableRouteRules()  # type: ignore[call-arg]


def test_a_missing_required_argument_is_named(stack: TerraformStack) -> None:
    with pytest.raises(TypeError, match="compartment_id"):
        CoreVcn(stack, "vcn")  # type: ignore[call-arg]


def test_a_dict_where_a_block_struct_belongs_is_rejected_with_its_name(stack: TerraformStack) -> None:
    with pytest.raises(TypeError, match=r"CoreRouteTable\.route_rules: expected CoreRouteTableRouteRules, got dict"):
        CoreRouteTable(stack, "rt", compartment_id="c", vcn_id="v", route_rules=[{"network_entity_id": "x"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"DatascienceJob\.job_node_configuration_details: expected"):
        DatascienceJob(stack, "j", compartment_id="c", project_id="p", job_node_configuration_details=[])  # type: ignore[arg-type]
    with pytest.raises(
        TypeError,
        match=r"DatascienceJobJobNodeConfigurationDetails\.job_node_group_configuration_details_list: expected a list",
    ):
        DatascienceJobJobNodeConfigurationDetails(
            job_node_type="MULTI_NODE",
            job_node_group_configuration_details_list=DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList(
                name="a"
            ),  # type: ignore[arg-type]
        )


def test_provider_pins_source_and_version_and_synthesizes_its_settings(stack: TerraformStack) -> None:
    OciProvider(stack, "oci", region="eu-frankfurt-1", auth="ResourcePrincipal", ignore_defined_tags=["a.b"])
    OciProvider(stack, "home", region="us-ashburn-1", alias="home")
    doc = _synth(stack)
    assert PROVIDER_VERSION == "8.28.0"
    assert doc["terraform"]["required_providers"]["oci"] == {"source": "oracle/oci", "version": PROVIDER_VERSION}
    assert doc["provider"]["oci"] == [
        {"region": "eu-frankfurt-1", "auth": "ResourcePrincipal", "ignore_defined_tags": ["a.b"]},
        {"region": "us-ashburn-1", "alias": "home"},
    ]
    parsed = hcl2.loads(CdktfTesting.synth_hcl(stack), serialization_options=HCL_OPTIONS)
    assert [p["oci"] for p in parsed["provider"]] == doc["provider"]["oci"]
    assert validate_stack(doc, "l1") == []


def test_whole_collections_may_be_tokens(stack: TerraformStack) -> None:
    vcn = CoreVcn(stack, "a", compartment_id="c", cidr_blocks="${var.cidrs}", freeform_tags="${var.tags}")
    CoreVcn(stack, "b", compartment_id="c", cidr_blocks=vcn.cidr_blocks, defined_tags=vcn.defined_tags, dns_label=None)
    CoreVcn(stack, "c", compartment_id="c", cidr_blocks=("10.0.0.0/16", "10.1.0.0/16"))
    resources = _synth(stack)["resource"]["oci_core_vcn"]
    assert (resources["a"]["cidr_blocks"], resources["a"]["freeform_tags"]) == ("${var.cidrs}", "${var.tags}")
    assert (resources["b"]["cidr_blocks"], resources["b"]["defined_tags"]) == (
        "${oci_core_vcn.a.cidr_blocks}",
        "${oci_core_vcn.a.defined_tags}",
    )
    assert "dns_label" not in resources["b"]
    assert resources["c"]["cidr_blocks"] == ["10.0.0.0/16", "10.1.0.0/16"]
    parsed = hcl2.loads(CdktfTesting.synth_hcl(stack), serialization_options=HCL_OPTIONS)
    vcns = {name: body for entry in parsed["resource"] for name, body in entry["oci_core_vcn"].items()}
    assert vcns["a"]["cidr_blocks"] == "${var.cidrs}" and vcns["c"]["cidr_blocks"] == ["10.0.0.0/16", "10.1.0.0/16"]


def test_meta_arguments_pass_through_to_json_and_hcl(stack: TerraformStack) -> None:
    names = TerraformIterator.from_list(["a", "b"])
    ObjectstorageBucket(
        stack,
        "it",
        compartment_id="c",
        name=Token.as_string(names.value),
        namespace="ns",
        for_each=names,
        lifecycle=TerraformResourceLifecycle(prevent_destroy=True),
    )
    body = _body(_synth(stack), "oci_objectstorage_bucket", False)
    assert (body["for_each"], body["lifecycle"], body["name"]) == (
        '${toset(["a", "b"])}',
        {"prevent_destroy": True},
        "${each.value}",
    )
    hcl = _hcl_body(stack, "oci_objectstorage_bucket", False)
    assert (hcl["lifecycle"], hcl["name"]) == ([{"prevent_destroy": True}], "${each.value}")
