"""Tagging rule: every taggable resource carries the environment's required freeform tags.

Which types are taggable is read from the pinned provider schema (a type with a `freeform_tags`
argument), so a new resource type is covered without touching this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from cdk.oci.generate import load_schema
from cdk.rules.core import Rule, RuleContext, Severity, SynthResource, Verdict


@lru_cache(maxsize=1)
def taggable_types() -> frozenset[str]:
    schema, _ = load_schema()
    return frozenset(
        tf_type
        for tf_type, spec in schema["resource_schemas"].items()
        if "freeform_tags" in spec["block"].get("attributes", {})
    )


def _check_tags(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type not in taggable_types():
        return Verdict.not_applicable()
    tags = resource.attributes.get("freeform_tags") or {}
    if not isinstance(tags, Mapping):
        return Verdict.non_compliant(f"freeform_tags is {tags!r}, not a literal map, so the keys cannot be verified")
    missing = [key for key in context.required_tags if not str(tags.get(key) or "").strip()]
    if missing:
        return Verdict.non_compliant(f"freeform_tags lacks {', '.join(missing)}")
    return Verdict.compliant()


REQUIRED_TAGS = Rule(
    id="OCI-TAG-1",
    severity=Severity.ERROR,
    title="required freeform tags are present",
    explanation="tags are how cost reports, cleanup and incident response find what an environment owns; "
    "an untagged resource is invisible to them.",
    check=_check_tags,
)

RULES = [REQUIRED_TAGS]
