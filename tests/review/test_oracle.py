"""The offline review against the real provider: for each scenario, the action the review gives
every address must be the one `terraform plan` gives it.

The base side is made into a state file, as if it had been applied: its stack with each reference
to a computed attribute replaced by a made-up id, planned without state for the provider's own
values (defaults included), written as a v4 state with those ids. The head side is then planned
against that state with `-refresh=false` (no API is called), and Terraform's `resource_changes`
are the oracle. Data sources call the API, so both sides get the same literal values for them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from cdk.iam import Statement
from cdk.oci.generate import PROVIDER_KEY, SCHEMA_FILE
from ocift.review import review_trees
from ocift.review.model import Action

from ._pairs import COMPARTMENT, DIGEST_B, PRINCIPAL, STACK, Variant, synth

pytestmark = pytest.mark.slow  # the real provider: seconds per plan

PROVIDER = 'provider["registry.terraform.io/oracle/oci"]'
REQUIRED = {"required_providers": {"oci": {"source": "oracle/oci", "version": "8.28.0"}}}
# What `oci_core_services` would return; literal on both sides, as a data source is read anew each plan.
DATA = {
    "services[0].id": "ocid1.service.oc1.eu-frankfurt-1.aaaaaaaaservices",
    "services[0].cidr_block": "all-fra-services-in-oracle-services-network",
}
_DATA_REF = re.compile(r"\$\{data\.oci_core_services\.[A-Za-z0-9_-]+\.(services\[0\]\.(?:id|cidr_block))\}")
_REF = re.compile(r"^\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$")

TENANCY_OCID = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"
SCENARIOS = {
    "bucket rename": {"outputs_name": "ocift-prod-results"},
    "shape change": {"shape": "BM.GPU4.8"},
    "replica change": {"replicas": 4},
    "recipe change": {"lr": 2e-4},
    "image change": {"digest": DIGEST_B},
    "tag change": {"tags": {"project": "ocift", "environment": "prod", "team": "ml"}},
    "policy edit": {
        "statements": (Statement(subject=PRINCIPAL, verb="read", resource="buckets", compartment_id=COMPARTMENT),)
    },
    "log retention": {"retention_days": 60},
    "CIDR change": {"subnet_cidr": "10.0.1.0/24"},
    "renamed construct id": {"scratch_id": "temp_bucket"},
    "run removed": {"run_id": None},
}


def _for_terraform(document: dict[str, Any]) -> dict[str, Any]:
    """The stack as Terraform reads it: the provider pinned, data sources as literal values."""
    text = _DATA_REF.sub(lambda m: DATA[m.group(1)], json.dumps(document))
    out = {k: v for k, v in json.loads(text).items() if k not in ("data", "terraform")}
    return {**out, "terraform": REQUIRED}


def _fake_id(address: str) -> str:
    tf_type = address.split(".")[0].removeprefix("oci_").split("_", 1)[-1].replace("_", "")
    return f"ocid1.{tf_type}.oc1..fake{uuid.uuid5(uuid.NAMESPACE_URL, address).hex}"


def _applied(document: dict[str, Any]) -> dict[str, Any]:
    """The stack as it is once applied: references replaced by the values they would have."""
    resources = document["resource"]

    def literal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: literal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [literal(v) for v in value]
        match = _REF.match(value) if isinstance(value, str) else None
        if match is None:
            return value
        address, attribute = match.groups()
        tf_type, name = address.split(".")
        if attribute == "id":
            return _fake_id(address)
        return literal(resources[tf_type][name][attribute])

    return {
        **document,
        "resource": {
            t: {n: {k: literal(v) for k, v in body.items() if k != "depends_on"} for n, body in named.items()}
            for t, named in resources.items()
        },
    }


def _empty(kind: Any) -> Any:
    """A made-up applied value of a schema type: what the service would have returned."""
    if isinstance(kind, list):
        return {"list": [], "set": [], "map": {}, "object": None}.get(kind[0])
    return {"string": "", "number": 0, "bool": False}.get(kind)


def _computed(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per address, the attributes the service fills in (unknown in a plan without state)."""
    schemas = json.loads(SCHEMA_FILE.read_text())["provider_schemas"][PROVIDER_KEY]["resource_schemas"]
    out: dict[str, dict[str, Any]] = {}
    for rc in plan["resource_changes"]:
        block = schemas[rc["type"]]["block"]
        unknown = rc["change"]["after_unknown"]
        kinds = {
            **{k: a["type"] for k, a in block.get("attributes", {}).items()},
            **{k: ["list"] for k in block.get("block_types", {})},
        }
        out[rc["address"]] = {k: _empty(kinds[k]) for k, v in unknown.items() if v is True and k in kinds}
    return out


def _state(plan: dict[str, Any]) -> dict[str, Any]:
    instances = [r for r in plan["planned_values"]["root_module"]["resources"] if r["mode"] == "managed"]
    computed = _computed(plan)
    return {
        "version": 4,
        "terraform_version": plan["terraform_version"],
        "serial": 1,
        "lineage": str(uuid.uuid4()),
        "outputs": {},
        "resources": [
            {
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "provider": PROVIDER,
                "instances": [
                    {
                        "schema_version": r.get("schema_version", 0),
                        "attributes": {**r["values"], **computed[r["address"]], "id": _fake_id(r["address"])},
                        "sensitive_attributes": [],
                    }
                ],
            }
            for r in instances
        ],
    }


def _terraform_actions(plan: dict[str, Any]) -> dict[str, str]:
    names = {
        ("create",): "create",
        ("delete",): "delete",
        ("update",): "update",
        ("delete", "create"): "replace",
        ("create", "delete"): "replace",
    }
    return {
        rc["address"]: names[tuple(rc["change"]["actions"])]
        for rc in plan["resource_changes"]
        if rc["mode"] == "managed" and tuple(rc["change"]["actions"]) in names
    }


def _review_actions(base: dict[str, Any], head: dict[str, Any]) -> dict[str, str]:
    out = {}
    for change in review_trees({STACK: base}, {STACK: head}).stacks[0].changes:
        if change.action is Action.RENAME:  # no `moved` block: Terraform destroys and creates
            out[change.renamed_from] = "delete"
            out[change.address] = "create"
        else:
            out[change.address] = change.action.value
    return out


@pytest.fixture(scope="module")
def applied_base(terraform, tmp_path_factory) -> tuple[dict[str, Any], Path]:
    base = _for_terraform(synth(Variant()))
    work = tmp_path_factory.mktemp("base")
    (work / "main.tf.json").write_text(json.dumps(_applied(base)))
    state = _state(terraform.plan_json(work))
    path = work / "terraform.tfstate"
    path.write_text(json.dumps(state))
    return base, path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_review_acts_as_terraform_plans(terraform, applied_base, tmp_path, scenario):
    base, state = applied_base
    head = _for_terraform(synth(dataclasses.replace(Variant(), **SCENARIOS[scenario])))
    (tmp_path / "main.tf.json").write_text(json.dumps(head))
    (tmp_path / "terraform.tfstate").write_text(state.read_text())
    expected = _terraform_actions(terraform.plan_json(tmp_path))
    assert expected, f"{scenario}: Terraform plans no change, so the scenario tests nothing"
    assert _review_actions(base, head) == expected
