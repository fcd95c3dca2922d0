"""Where a multi-node job's nodes live: a private network made here, an existing subnet, or OCI's default.

Nodes talk to each other over TCP (c10d rendezvous on 29400, NCCL/Gloo on ephemeral ports), reach
the internet through a NAT gateway (pip, Hugging Face) and Oracle services (Object Storage, OCIR,
Logging, Vault) through a service gateway; they never get public IPs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from constructs import Construct

from cdk.iam import Grantee, Policy, Statement, datascience_network_statement, grant
from cdk.oci.core import (
    CoreNatGateway,
    CoreRouteTable,
    CoreRouteTableRouteRules,
    CoreSecurityList,
    CoreSecurityListEgressSecurityRules,
    CoreSecurityListIngressSecurityRules,
    CoreSecurityListIngressSecurityRulesIcmpOptions,
    CoreServiceGateway,
    CoreServiceGatewayServices,
    CoreSubnet,
    CoreVcn,
    DataCoreServices,
    DataCoreServicesFilter,
)
from cdk.props import Problems, validate

NetworkMode = Literal["create", "existing", "default"]
MODES: tuple[str, ...] = ("create", "existing", "default")
ORACLE_SERVICES_REGEX = "All .* Services In Oracle Services Network"
"""Name of the `oci_core_services` entry a service gateway routes to (every service of the region)."""

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
_DNS_LABEL = re.compile(r"^[a-z][a-z0-9]{0,14}$")
TCP, ICMP, ALL = "6", "1", "all"
PATH_MTU = (3, 4)
"""ICMP "destination unreachable: fragmentation needed" (type 3, code 4): path MTU discovery. Oracle's
default security list allows it from anywhere ("Default Security List", OCI Networking docs,
docs.oracle.com/iaas/Content/Network/Concepts/securitylists.htm); without it, a path with a smaller
MTU silently drops large packets (a stalled pip or Object Storage download)."""


def _network(value: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    """Props of a `Network`.

    mode: "create" (a VCN and private subnet made here, the default), "existing" (a subnet by OCID),
        or "default" (OCI's managed network for multi-node jobs: nothing is created).
    compartment_id: the network's compartment (create, existing): the service policy
        `Allow service datascience to use virtual-network-family` is scoped to it.
    name: display-name prefix for created resources (`ocift-dev` -> `ocift-dev-vcn`, `ocift-dev-subnet`).
    vcn_cidr / subnet_cidr: IPv4 ranges (defaults 10.0.0.0/16 and 10.0.0.0/24); the subnet lies in the VCN.
    dns_label: VCN and subnet DNS label (default none: job nodes address each other by IP).
    subnet_id: the existing subnet's OCID (mode "existing" only).
    tags: freeform tags on created resources.
    """

    mode: NetworkMode = "create"
    compartment_id: str | None = None
    name: str = "ocift"
    vcn_cidr: str = "10.0.0.0/16"
    subnet_cidr: str = "10.0.0.0/24"
    dns_label: str | None = None
    subnet_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        if not p.check(self.mode in MODES, "mode", f"{self.mode!r} is not one of {', '.join(MODES)}"):
            return p.items
        if self.mode != "default":
            p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        if self.mode == "existing":
            p.ocid("subnet_id", self.subnet_id, "subnet")
        else:
            p.check(self.subnet_id is None, "subnet_id", f"only applies to mode 'existing', not {self.mode!r}")
        if self.mode == "create":
            p.pattern("name", self.name, _NAME, "1-80 letters, digits, '.', '_' or '-'")
            vcn, subnet = _network(self.vcn_cidr), _network(self.subnet_cidr)
            p.check(vcn is not None, "vcn_cidr", f"{self.vcn_cidr!r} is not an IPv4 network such as 10.0.0.0/16")
            p.check(
                subnet is not None, "subnet_cidr", f"{self.subnet_cidr!r} is not an IPv4 network such as 10.0.0.0/24"
            )
            if vcn is not None:
                p.check(16 <= vcn.prefixlen <= 30, "vcn_cidr", "OCI allows prefixes /16 to /30")
            if subnet is not None:
                p.check(subnet.prefixlen <= 30, "subnet_cidr", "OCI allows subnet prefixes up to /30")
                p.check(
                    vcn is None or subnet.subnet_of(vcn), "subnet_cidr", f"must lie inside vcn_cidr {self.vcn_cidr}"
                )
            if self.dns_label is not None:
                p.pattern(
                    "dns_label", self.dns_label, _DNS_LABEL, "a lowercase letter, then up to 14 letters or digits"
                )
        p.tags("tags", self.tags)
        return p.items


class Network(Construct):
    """The job's network, in one of three modes; exposes what the job needs.

    job_network_type: "CUSTOM_NETWORK" (create, existing) or "DEFAULT_NETWORK".
    subnet_id: the subnet (a token in create mode), None with the default network.
    Children in create mode: `Vcn`, `Services` (lookup), `NatGateway`, `ServiceGateway`, `RouteTable`,
    `SecurityList`, `Subnet`.
    """

    def __init__(self, scope: Construct, id_: str, props: NetworkProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.mode = props.mode
        self.compartment_id = props.compartment_id
        self.job_network_type = "DEFAULT_NETWORK" if props.mode == "default" else "CUSTOM_NETWORK"
        self.subnet_id: str | None = props.subnet_id
        self.subnet: CoreSubnet | None = None
        if props.mode == "create":
            self.subnet = self._create(props)
            self.subnet_id = self.subnet.id

    def _create(self, props: NetworkProps) -> CoreSubnet:
        c, tags, name = props.compartment_id, dict(props.tags) or None, props.name
        assert c is not None, "validate() requires compartment_id in mode 'create'"
        self.vcn = CoreVcn(
            self,
            "Vcn",
            compartment_id=c,
            cidr_blocks=[props.vcn_cidr],
            display_name=f"{name}-vcn",
            dns_label=props.dns_label,
            freeform_tags=tags,
        )
        self.services = DataCoreServices(
            self, "Services", filter=[DataCoreServicesFilter(name="name", values=[ORACLE_SERVICES_REGEX], regex=True)]
        )
        self.nat_gateway = CoreNatGateway(
            self, "NatGateway", compartment_id=c, vcn_id=self.vcn.id, display_name=f"{name}-nat", freeform_tags=tags
        )
        self.service_gateway = CoreServiceGateway(
            self,
            "ServiceGateway",
            compartment_id=c,
            vcn_id=self.vcn.id,
            display_name=f"{name}-sgw",
            services=[CoreServiceGatewayServices(service_id=self.services.ref("services[0].id"))],
            freeform_tags=tags,
        )
        self.route_table = CoreRouteTable(
            self,
            "RouteTable",
            compartment_id=c,
            vcn_id=self.vcn.id,
            display_name=f"{name}-private-rt",
            freeform_tags=tags,
            route_rules=[
                CoreRouteTableRouteRules(
                    destination="0.0.0.0/0",
                    destination_type="CIDR_BLOCK",
                    network_entity_id=self.nat_gateway.id,
                    description="internet egress via NAT",
                ),
                CoreRouteTableRouteRules(
                    destination=self.services.ref("services[0].cidr_block"),
                    destination_type="SERVICE_CIDR_BLOCK",
                    network_entity_id=self.service_gateway.id,
                    description="Oracle services via the service gateway",
                ),
            ],
        )
        self.security_list = CoreSecurityList(
            self,
            "SecurityList",
            compartment_id=c,
            vcn_id=self.vcn.id,
            display_name=f"{name}-nodes-sl",
            freeform_tags=tags,
            egress_security_rules=[
                CoreSecurityListEgressSecurityRules(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", protocol=ALL, description="all egress"
                )
            ],
            ingress_security_rules=[
                CoreSecurityListIngressSecurityRules(
                    source=props.subnet_cidr,
                    source_type="CIDR_BLOCK",
                    protocol=TCP,
                    description="node to node: rendezvous, NCCL/Gloo",
                ),
                CoreSecurityListIngressSecurityRules(
                    source="0.0.0.0/0",
                    source_type="CIDR_BLOCK",
                    protocol=ICMP,
                    description="path MTU discovery",
                    icmp_options=CoreSecurityListIngressSecurityRulesIcmpOptions(type=PATH_MTU[0], code=PATH_MTU[1]),
                ),
            ],
        )
        return CoreSubnet(
            self,
            "Subnet",
            compartment_id=c,
            vcn_id=self.vcn.id,
            cidr_block=props.subnet_cidr,
            display_name=f"{name}-subnet",
            dns_label=props.dns_label,
            prohibit_public_ip_on_vnic=True,
            prohibit_internet_ingress=True,
            route_table_id=self.route_table.id,
            security_list_ids=[self.security_list.id],
            freeform_tags=tags,
        )

    def service_statements(self) -> list[Statement]:
        """Admin statements custom networking needs (none for the default network)."""
        if self.job_network_type == "DEFAULT_NETWORK":
            return []
        assert self.compartment_id is not None
        return [datascience_network_statement(self.compartment_id)]

    def grant_attach(self, grantee: Grantee, policy: Policy | None = None) -> list[Statement]:
        """Let job runs (`grantee`, their dynamic group) attach to the custom network: `use
        virtual-network-family` in the network's compartment, besides the service statement (ADS
        `docs/source/user_guide/jobs/policies.rst`, Oracle's Data Science samples). None for the
        default network."""
        if self.job_network_type == "DEFAULT_NETWORK":
            return []
        assert self.compartment_id is not None
        return grant(self, grantee, self.compartment_id, [("use", "virtual-network-family")], (), policy)
