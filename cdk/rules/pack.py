"""The default rule pack and its two entry points, over one code path.

- `RulePack(context)` is a cdktf Aspect: `Aspects.of(stack).add(RulePack(context))`. At synth it
  evaluates every `TerraformResource` as it will be synthesized, adds an error annotation per
  blocking finding (which makes `app.synth()` fail), a warning per warning, an info line per
  suppressed finding, and keeps every finding in `.findings`.
  It also records its context in the stack's `"//"` metadata.
- `evaluate(stack_json, context)` runs the same rules over a synthesized `cdk.tf.json` dict
  (`ocift validate`, the PR review), honouring the suppressions synthesized into it;
  `evaluate_document(stack_json)` does so under the context the RulePack recorded there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from constructs import IConstruct

from cdk.framework import (
    Annotations,
    DefaultTokenResolver,
    IAspect,
    StringConcat,
    TerraformResource,
    TerraformStack,
    Tokenization,
)
from cdk.rules import datascience, iam, storage, tags
from cdk.rules.core import CONTEXT_PATH, Finding, Rule, RuleContext, Severity, evaluate_resource, resources_of

RULES: tuple[Rule, ...] = (*iam.RULES, *storage.RULES, *datascience.RULES, *tags.RULES)


def evaluate(stack_json: Mapping[str, Any], context: RuleContext, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every non-compliant finding (suppressed ones included, marked) for a synthesized stack."""
    return [finding for resource in resources_of(stack_json) for finding in evaluate_resource(resource, rules, context)]


def evaluate_document(stack_json: Mapping[str, Any], rules: Sequence[Rule] = RULES) -> list[Finding]:
    """`evaluate` under the context recorded in the stack (ValueError if it records none)."""
    return evaluate(stack_json, RuleContext.recorded_in(stack_json), rules)


def _annotate(node: TerraformResource, finding: Finding) -> None:
    """One annotation per finding, not repeated when synth visits the node again."""
    message = finding.message
    if any(entry.data == message for entry in node.node.metadata):
        return
    annotations = Annotations.of(node)
    if finding.suppressed:
        annotations.add_info(message)
    elif finding.rule.severity is Severity.ERROR:
        annotations.add_error(message)
    else:
        annotations.add_warning(message)


@jsii.implements(IAspect)
class RulePack:
    """The rules as a cdktf Aspect; `findings` holds what the last visit of each resource found."""

    def __init__(self, context: RuleContext, rules: Sequence[Rule] = RULES) -> None:
        self.context = context
        self.rules = tuple(rules)
        self._by_path: dict[str, list[Finding]] = {}

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, TerraformStack):
            node.add_override(".".join(CONTEXT_PATH), self.context.to_json())
        if not isinstance(node, TerraformResource):
            return
        synthesized = Tokenization.resolve(
            node.to_terraform(), scope=node, resolver=DefaultTokenResolver(StringConcat())
        )
        found = evaluate(synthesized, self.context, self.rules)
        self._by_path[node.node.path] = found
        for finding in found:
            _annotate(node, finding)

    @property
    def findings(self) -> list[Finding]:
        return [finding for found in self._by_path.values() for finding in found]
