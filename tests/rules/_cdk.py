"""cdktf helpers for the rule-pack tests: an app with the pack applied, and a raw resource."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from constructs import Construct

from cdk.framework import App, Aspects, TerraformResource, TerraformStack
from cdk.rules import RuleContext, RulePack


class Raw(TerraformResource):
    """Any resource type with exactly the given attributes (for types and shapes the L1 does not cover)."""

    def __init__(self, scope: Construct, id_: str, tf_type: str, attributes: Mapping[str, Any]) -> None:
        super().__init__(scope, id_, terraform_resource_type=tf_type)
        self._attributes = dict(attributes)

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self._attributes


def stack_with_pack(outdir: Path, context: RuleContext) -> tuple[App, TerraformStack, RulePack]:
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, context.environment)
    pack = RulePack(context)
    Aspects.of(stack).add(pack)
    return app, stack, pack


def synthesized(outdir: Path, stack: TerraformStack) -> dict[str, Any]:
    """The cdk.tf.json `app.synth()` wrote for `stack`."""
    return json.loads((outdir / "stacks" / stack.node.id / "cdk.tf.json").read_text())


def annotations(construct: Construct, kind: str) -> list[str]:
    """Messages of one annotation kind ("error", "warn", "info") recorded on a construct."""
    return [str(entry.data) for entry in construct.node.metadata if entry.type == f"@cdktf/{kind}"]
