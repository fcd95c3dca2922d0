"""Small builders shared by the rule tests: synthesized resources and contexts, no cdktf."""

from __future__ import annotations

from typing import Any

from cdk.rules import Outcome, Rule, RuleContext, SynthResource

DEV = RuleContext(environment="dev")
PROD = RuleContext(environment="prod", is_prod=True)
TAGS = {"project": "ocift", "environment": "dev"}
COMPARTMENT = "ocid1.compartment.oc1..aaaaapp"
SECRET_OCID = "ocid1.vaultsecret.oc1.iad.amaaaahftoken"
DIGEST = "sha256:" + "ab" * 32


def resource(tf_type: str, **attributes: Any) -> SynthResource:
    return SynthResource(tf_type=tf_type, name="r", attributes=attributes, path="stack/r")


def outcome(rule: Rule, res: SynthResource, context: RuleContext = DEV) -> Outcome:
    return rule.check(res, context).outcome


def detail(rule: Rule, res: SynthResource, context: RuleContext = DEV) -> str:
    return rule.check(res, context).detail
