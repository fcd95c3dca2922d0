"""The vocabulary of ocift's policy rules: what a rule looks at, what it answers, what is reported.

A rule is a small pure function over one synthesized resource (the attributes exactly as they
appear in `cdk.tf.json`), so the same rule runs at synth time (as a cdktf Aspect) and later over a
synthesized file (`ocift validate`, the PR review) with no construct tree at hand.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Where suppressions travel inside a synthesized resource: Terraform ignores "//" keys in JSON,
# and cdktf keeps overrides there, so `resource.<type>.<name>["//"]["ocift"]["suppressions"]`
# survives synth and is read back by both entry points.
SUPPRESSIONS_PATH = ("//", "ocift", "suppressions")
# Where a RulePack records, at stack level, the context it checked the stack under.
CONTEXT_PATH = ("//", "ocift", "rule_context")

DEFAULT_REQUIRED_TAGS = ("project", "environment")


class Severity(enum.Enum):
    """ERROR fails synth; WARNING is reported and lets synth go on."""

    ERROR = "error"
    WARNING = "warning"


class Outcome(enum.Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Verdict:
    """A rule's answer for one resource; `detail` says exactly what is wrong (or why it does not apply)."""

    outcome: Outcome
    detail: str = ""
    problems: tuple[str, ...] = ()  # each problem on its own, so a suppression can target one

    @classmethod
    def compliant(cls) -> Verdict:
        return cls(Outcome.COMPLIANT)

    @classmethod
    def not_applicable(cls, detail: str = "") -> Verdict:
        return cls(Outcome.NOT_APPLICABLE, detail)

    @classmethod
    def non_compliant(cls, detail: str) -> Verdict:
        return cls(Outcome.NON_COMPLIANT, detail)

    @classmethod
    def from_problems(cls, problems: list[str]) -> Verdict:
        """Compliant when nothing is wrong, else one verdict naming every problem."""
        return cls(Outcome.NON_COMPLIANT, "; ".join(problems), tuple(problems)) if problems else cls.compliant()


@dataclass(frozen=True)
class RuleContext:
    """What rules need to know about the environment being synthesized."""

    environment: str
    is_prod: bool = False
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "is_prod": self.is_prod, "required_tags": list(self.required_tags)}

    @classmethod
    def recorded_in(cls, document: Mapping[str, Any]) -> RuleContext:
        """The context a RulePack recorded in a synthesized stack, so a later check uses the same one."""
        node = _dig(document, CONTEXT_PATH)
        if node is None:
            raise ValueError(
                "the stack records no rule context (synthesized without a RulePack): pass one to evaluate()"
            )
        fields = node if isinstance(node, Mapping) else {}
        environment, is_prod, tags = fields.get("environment"), fields.get("is_prod"), fields.get("required_tags")
        if not (
            isinstance(environment, str)
            and isinstance(is_prod, bool)
            and isinstance(tags, list)
            and all(isinstance(t, str) for t in tags)
        ):
            raise ValueError(f"malformed rule context {node!r}")
        return cls(environment, is_prod, tuple(tags))


@dataclass(frozen=True)
class SynthResource:
    """One managed resource as synthesized: its Terraform type, name, construct path, attributes."""

    tf_type: str
    name: str
    attributes: Mapping[str, Any]
    path: str = ""
    suppressions: Mapping[str, Suppression] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.tf_type}.{self.name}"

    @classmethod
    def from_body(cls, tf_type: str, name: str, body: Mapping[str, Any]) -> SynthResource:
        """Split a synthesized resource body into its attributes and cdktf/ocift metadata."""
        meta = body.get("//")
        meta = meta if isinstance(meta, Mapping) else {}
        info = meta.get("metadata")
        path = info.get("path", "") if isinstance(info, Mapping) else ""
        return cls(
            tf_type=tf_type,
            name=name,
            attributes={k: v for k, v in body.items() if k != "//"},
            path=path if isinstance(path, str) else "",
            suppressions=_read_suppressions(body),
        )


def resources_of(synthesized: Mapping[str, Any]) -> Iterator[SynthResource]:
    """Every managed resource in a synthesized stack (or one resource's `to_terraform()`)."""
    section = synthesized.get("resource")
    if not isinstance(section, Mapping):
        return
    for tf_type, by_name in section.items():
        if not isinstance(by_name, Mapping):
            continue
        for name, body in by_name.items():
            if isinstance(body, Mapping):
                yield SynthResource.from_body(tf_type, name, body)


def _dig(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


@dataclass(frozen=True)
class Suppression:
    """A rule switched off on one resource, with its reason; `applies_to` narrows it to the problems
    that contain one of these texts (a statement, a variable name), as cdk-nag's `appliesTo` does."""

    reason: str
    applies_to: tuple[str, ...] = ()

    def covers(self, problem: str) -> bool:
        return not self.applies_to or any(text in problem for text in self.applies_to)


def _read_suppressions(body: Mapping[str, Any]) -> dict[str, Suppression]:
    """Rule id -> suppression; an entry without a non-empty reason suppresses nothing."""
    node = _dig(body, SUPPRESSIONS_PATH)
    out: dict[str, Suppression] = {}
    for entry in node if isinstance(node, list) else []:
        if not isinstance(entry, Mapping):
            continue
        rule, reason, targets = entry.get("rule"), entry.get("reason"), entry.get("applies_to") or []
        if isinstance(rule, str) and isinstance(reason, str) and reason.strip() and isinstance(targets, list):
            out[rule] = Suppression(reason.strip(), tuple(t for t in targets if isinstance(t, str) and t))
    return out


Check = Callable[[SynthResource, RuleContext], Verdict]


@dataclass(frozen=True)
class Rule:
    """A named check: `id` (e.g. OCI-IAM-1) is what suppressions refer to."""

    id: str
    severity: Severity
    title: str
    explanation: str
    check: Check


@dataclass(frozen=True)
class Finding:
    """A non-compliant verdict of one rule on one resource, suppressed (with its reason) or not."""

    rule: Rule
    resource: SynthResource
    detail: str
    suppressed_reason: str = ""

    @property
    def suppressed(self) -> bool:
        return bool(self.suppressed_reason)

    @property
    def blocking(self) -> bool:
        """Whether this finding must fail synth."""
        return self.rule.severity is Severity.ERROR and not self.suppressed

    @property
    def message(self) -> str:
        """What is wrong and why (or the suppression's reason), without the location."""
        text = f"[{self.rule.id}] {self.rule.title}: {self.detail}"
        if self.suppressed:
            return f"{text} (suppressed: {self.suppressed_reason})"
        return f"{text}. Why: {self.rule.explanation}"

    def __str__(self) -> str:
        return f"{self.resource.path or self.resource.address}: {self.message}"


def evaluate_resource(resource: SynthResource, rules: Sequence[Rule], context: RuleContext) -> list[Finding]:
    """Run every rule on one resource; the one code path under both entry points.

    A rule that raises is reported as a finding of that rule (its resource could not be shown
    compliant), not a crash, as cdk-nag reports a rule's validation failure."""
    findings = []
    for rule in rules:
        try:
            verdict = rule.check(resource, context)
        except Exception as exc:  # noqa: BLE001 - any bug in a rule must not hide the other rules' findings
            verdict = Verdict.non_compliant(
                f"the rule raised {type(exc).__name__}: {exc}, so this resource could not be checked"
            )
        if verdict.outcome is Outcome.NON_COMPLIANT:
            findings += _split(rule, resource, verdict)
    return findings


def _split(rule: Rule, resource: SynthResource, verdict: Verdict) -> list[Finding]:
    """The verdict's problems as findings: those a targeted suppression covers are suppressed, the
    rest stay one finding; a whole-rule suppression covers them all."""
    suppression = resource.suppressions.get(rule.id)
    if suppression is None:
        return [Finding(rule, resource, verdict.detail)]
    if not suppression.applies_to:
        return [Finding(rule, resource, verdict.detail, suppression.reason)]
    problems = verdict.problems or (verdict.detail,)
    covered = [p for p in problems if suppression.covers(p)]
    left = [p for p in problems if not suppression.covers(p)]
    out = [Finding(rule, resource, "; ".join(covered), suppression.reason)] if covered else []
    return out + ([Finding(rule, resource, "; ".join(left))] if left else [])


def summarize(findings: Sequence[Finding]) -> str:
    """One line per finding, blocking ones first, then the counts."""
    ordered = sorted(
        findings, key=lambda f: (not f.blocking, f.suppressed, f.rule.id, f.resource.path, f.resource.address)
    )
    blocking = sum(f.blocking for f in ordered)
    suppressed = sum(f.suppressed for f in ordered)
    return "\n".join([*map(str, ordered), f"{len(ordered)} finding(s): {blocking} blocking, {suppressed} suppressed"])
