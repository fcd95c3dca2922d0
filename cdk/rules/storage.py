"""Object Storage bucket rules: never public, always versioned."""

from __future__ import annotations

from cdk.rules.core import Rule, RuleContext, Severity, SynthResource, Verdict

BUCKET = "oci_objectstorage_bucket"
PRIVATE = "NoPublicAccess"  # also the provider's default when access_type is left out


def _check_private(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type != BUCKET:
        return Verdict.not_applicable()
    access = resource.attributes.get("access_type", PRIVATE)
    if access == PRIVATE:
        return Verdict.compliant()
    return Verdict.non_compliant(f"access_type is {access!r}, not {PRIVATE!r}")


def _check_versioned(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type != BUCKET:
        return Verdict.not_applicable()
    versioning = resource.attributes.get("versioning")
    if versioning == "Enabled":
        return Verdict.compliant()
    if versioning is None:
        return Verdict.non_compliant("versioning is not set (OCI leaves it disabled)")
    return Verdict.non_compliant(f"versioning is {versioning!r}, not 'Enabled'")


NOT_PUBLIC = Rule(
    id="OCI-OS-1",
    severity=Severity.ERROR,
    title="bucket is not public",
    explanation="a public bucket lets anyone on the internet read (and with ObjectRead, list) training data, "
    "checkpoints and weights; grant access through IAM instead.",
    check=_check_private,
)

VERSIONED = Rule(
    id="OCI-OS-2",
    severity=Severity.ERROR,
    title="bucket versioning is Enabled",
    explanation="without versioning an overwrite or delete (a rerun writing the same prefix, a bad sync) loses "
    "checkpoints and outputs for good; versioning keeps the previous object.",
    check=_check_versioned,
)

RULES = [NOT_PUBLIC, VERSIONED]
