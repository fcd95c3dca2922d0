import pytest

from cdk.network import Network, NetworkProps
from cdk.props import PropsError

from ._synth import COMPARTMENT, NET_COMPARTMENT, only, resources, synth

SUBNET = "ocid1.subnet.oc1.iad.aaaasubnet"


def _ref(out, tf_type, attr="id"):
    (logical,) = resources(out, tf_type)
    return f"${{{tf_type}.{logical}.{attr}}}"


def test_create_mode_builds_a_private_network(stack):
    net = Network(
        stack,
        "job_network",
        NetworkProps(
            compartment_id=NET_COMPARTMENT,
            name="ocift-dev",
            vcn_cidr="10.1.0.0/16",
            subnet_cidr="10.1.2.0/24",
            tags={"env": "dev"},
        ),
    )
    out = synth(stack)
    assert net.job_network_type == "CUSTOM_NETWORK"
    vcn = only(out, "oci_core_vcn")
    assert vcn["cidr_blocks"] == ["10.1.0.0/16"] and vcn["display_name"] == "ocift-dev-vcn"
    assert vcn["freeform_tags"] == {"env": "dev"}

    (services_id,) = out["data"]["oci_core_services"]
    services = out["data"]["oci_core_services"][services_id]
    assert services["filter"] == [
        {"name": "name", "values": ["All .* Services In Oracle Services Network"], "regex": True}
    ]
    services_ref = f"data.oci_core_services.{services_id}.services[0]"
    assert only(out, "oci_core_service_gateway")["services"] == [{"service_id": f"${{{services_ref}.id}}"}]

    rules = only(out, "oci_core_route_table")["route_rules"]
    assert [(r["destination"], r["destination_type"], r["network_entity_id"]) for r in rules] == [
        ("0.0.0.0/0", "CIDR_BLOCK", _ref(out, "oci_core_nat_gateway")),
        (f"${{{services_ref}.cidr_block}}", "SERVICE_CIDR_BLOCK", _ref(out, "oci_core_service_gateway")),
    ]

    sl = only(out, "oci_core_security_list")
    assert [(r["destination"], r["protocol"]) for r in sl["egress_security_rules"]] == [("0.0.0.0/0", "all")]
    assert [(r["source"], r["source_type"], r["protocol"]) for r in sl["ingress_security_rules"]] == [
        ("10.1.2.0/24", "CIDR_BLOCK", "6"),
        ("0.0.0.0/0", "CIDR_BLOCK", "1"),
    ]
    assert sl["ingress_security_rules"][1]["icmp_options"] == {"type": 3, "code": 4}  # path MTU discovery

    subnet = only(out, "oci_core_subnet")
    assert subnet["cidr_block"] == "10.1.2.0/24"
    assert subnet["prohibit_public_ip_on_vnic"] is True
    assert "availability_domain" not in subnet  # regional
    assert subnet["route_table_id"] == _ref(out, "oci_core_route_table")
    assert subnet["security_list_ids"] == [_ref(out, "oci_core_security_list")]
    assert subnet["vcn_id"] == _ref(out, "oci_core_vcn")
    assert net.subnet_id.startswith("${")  # a token to the created subnet
    assert [s.render() for s in net.service_statements()] == [
        f"Allow service datascience to use virtual-network-family in compartment id {NET_COMPARTMENT}"
    ]


def test_existing_subnet_creates_nothing(stack):
    net = Network(stack, "job_network", NetworkProps(mode="existing", compartment_id=NET_COMPARTMENT, subnet_id=SUBNET))
    assert (net.job_network_type, net.subnet_id) == ("CUSTOM_NETWORK", SUBNET)
    assert "resource" not in synth(stack)
    assert len(net.service_statements()) == 1


def test_default_network(stack):
    net = Network(stack, "job_network", NetworkProps(mode="default"))
    assert (net.job_network_type, net.subnet_id) == ("DEFAULT_NETWORK", None)
    assert net.service_statements() == []
    assert "resource" not in synth(stack)


def test_network_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        Network(
            stack,
            "n",
            NetworkProps(
                compartment_id="",
                name="bad name",
                vcn_cidr="10.0.0.0/8",
                subnet_cidr="192.168.0.0/24",
                dns_label="9x",
                subnet_id=SUBNET,
                tags={"a b": "c"},
            ),
        )
    assert [p.split(":")[0] for p in err.value.problems] == [
        "compartment_id",
        "subnet_id",
        "name",
        "vcn_cidr",
        "subnet_cidr",
        "dns_label",
        "tags['a b']",
    ]
    with pytest.raises(PropsError) as err:
        Network(stack, "e", NetworkProps(mode="existing", subnet_id="ocid1.vcn.oc1..x"))
    assert [p.split(":")[0] for p in err.value.problems] == ["compartment_id", "subnet_id"]
    with pytest.raises(PropsError, match="mode: 'public'"):
        Network(stack, "m", NetworkProps(mode="public"))


def test_job_runs_may_attach_to_a_custom_network_only(stack):
    from cdk.iam import DynamicGroupPrincipal, Policy, PolicyProps

    principal = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)
    policy = Policy(stack, "access", PolicyProps(name="access", compartment_id=COMPARTMENT))
    custom = Network(stack, "custom", NetworkProps(compartment_id=NET_COMPARTMENT, name="ocift-dev"))
    default = Network(stack, "default", NetworkProps(mode="default"))
    assert default.grant_attach(principal, policy) == []
    custom.grant_attach(principal, policy)
    assert policy.rendered() == [
        f"Allow dynamic-group ocift-dev-jobruns to use virtual-network-family in compartment id {NET_COMPARTMENT}"
    ]
