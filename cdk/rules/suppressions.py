"""Suppressions: a rule switched off for one resource (or every resource under a construct), with a reason.

A suppression is stored twice on each resource: as node metadata (so repeated calls accumulate) and
as an override under the resource's `"//"` key, which Terraform ignores and cdktf writes into
`cdk.tf.json`. Both entry points read that key, so a suppression made in code also holds when a
synthesized file is checked later.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import IConstruct

from cdk.framework import TerraformResource
from cdk.rules.core import SUPPRESSIONS_PATH, Rule
from cdk.rules.pack import RULES

METADATA_TYPE = "ocift:rule-suppression"


class SuppressionError(ValueError):
    """A suppression without a reason, for an unknown rule, or on a construct with no resources."""


def suppress(
    construct: IConstruct, rule_id: str, reason: str, rules: Sequence[Rule] = RULES, *, applies_to: Sequence[str] = ()
) -> None:
    """Suppress `rule_id` on `construct` if it is a resource, else on every resource now under it.

    applies_to: suppress only the problems that contain one of these texts (one statement, one
    variable); the rule's other problems on the resource are still reported (default: all)."""
    known = sorted(rule.id for rule in rules)
    if rule_id not in known:
        raise SuppressionError(
            f"cannot suppress unknown rule {rule_id!r} on {construct.node.path}; known rules: {', '.join(known)}"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise SuppressionError(
            f"suppressing {rule_id} on {construct.node.path} needs a reason: say why the rule does not apply"
        )
    if isinstance(applies_to, str) or not all(isinstance(t, str) and t.strip() for t in applies_to):
        raise SuppressionError(
            f"suppressing {rule_id} on {construct.node.path}: applies_to is a list of "
            f"non-empty texts, got {applies_to!r}"
        )
    targets = [c for c in construct.node.find_all() if isinstance(c, TerraformResource)]
    if not targets:
        raise SuppressionError(
            f"{construct.node.path} holds no resources to suppress {rule_id} on; call suppress after creating them"
        )
    for target in targets:
        entry: dict[str, str | list[str]] = {"rule": rule_id, "reason": reason.strip()}
        if applies_to:
            entry["applies_to"] = list(applies_to)
        target.node.add_metadata(METADATA_TYPE, entry)
        by_rule = {e.data["rule"]: e.data for e in target.node.metadata if e.type == METADATA_TYPE}
        target.add_override(".".join(SUPPRESSIONS_PATH), list(by_rule.values()))
