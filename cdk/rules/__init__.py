"""ocift's policy rules (cdk-nag style): pure checks over synthesized resources, run at synth.

from cdk.rules import RuleContext, RulePack, evaluate, suppress
Aspects.of(stack).add(RulePack(RuleContext(environment="prod", is_prod=True)))
suppress(policy, "OCI-IAM-2", "the dynamic group lives in the tenancy")
findings = evaluate_document(json.loads(Path("cdktf.out/stacks/prod/cdk.tf.json").read_text()))
"""

from cdk.rules.core import (
    DEFAULT_REQUIRED_TAGS,
    Finding,
    Outcome,
    Rule,
    RuleContext,
    Severity,
    SynthResource,
    Verdict,
    summarize,
)
from cdk.rules.pack import RULES, RulePack, evaluate, evaluate_document
from cdk.rules.suppressions import SuppressionError, suppress

__all__ = [
    "DEFAULT_REQUIRED_TAGS",
    "RULES",
    "Finding",
    "Outcome",
    "Rule",
    "RuleContext",
    "RulePack",
    "Severity",
    "SuppressionError",
    "SynthResource",
    "Verdict",
    "evaluate",
    "evaluate_document",
    "summarize",
    "suppress",
]
