"""IAM rules over `oci_identity_policy.statements`: least privilege, compartment scope, bucket scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cdk.rules.core import Check, Rule, RuleContext, Severity, SynthResource, Verdict
from cdk.rules.policy_syntax import PolicySyntaxError, Statement, Token, parse

POLICY = "oci_identity_policy"
OBJECT_RESOURCE_TYPES = frozenset({"objects", "object-family", "all-resources"})


def _statements(resource: SynthResource) -> list[str] | None:
    """The literal statements, or None when they are not a list of strings (e.g. a `${var.x}`)."""
    value = resource.attributes.get("statements")
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    return None


def _parsed(resource: SynthResource) -> Iterator[tuple[str, Statement]]:
    """Each statement that parses; unparsed ones are OCI-IAM-2's to report."""
    for text in _statements(resource) or []:
        try:
            yield text, parse(text)
        except PolicySyntaxError:
            continue


def _per_statement(problem: Callable[[Statement], str]) -> Check:
    """A check that applies `problem` to every parsed statement of a policy ('' = fine)."""

    def check(resource: SynthResource, context: RuleContext) -> Verdict:
        if resource.tf_type != POLICY:
            return Verdict.not_applicable()
        return Verdict.from_problems(
            [f"{text!r}: {why}" for text, statement in _parsed(resource) if (why := problem(statement))]
        )

    return check


def _manages_everything(statement: Statement) -> str:
    if statement.verb == "manage" and statement.resource_type == "all-resources":
        return "grants manage all-resources"
    return ""


def _id_problem(value: Token) -> str:
    text = value.text
    if text.startswith("ocid1.tenancy."):
        return "the tenancy OCID is the root compartment"
    if text.startswith("ocid1.compartment.") or (text.startswith("${") and text.endswith("}")):
        return ""
    return f"{text!r} is not a compartment OCID"


def _location_problem(location: tuple[Token, ...]) -> str:
    words = [t.text.lower() for t in location]
    if not words:
        return "no 'in compartment ...' clause"
    if words[0] == "tenancy":
        return "scoped to the whole tenancy"
    if words[0] == "compartment" and len(words) == 3 and words[1] == "id":
        return _id_problem(location[2])
    if words[0] == "compartment" and len(words) == 2 and location[1].kind in ("word", "quoted"):
        return ""
    return f"cannot read location {' '.join(t.text for t in location)!r}"


def _check_scope(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type != POLICY:
        return Verdict.not_applicable()
    statements = _statements(resource)
    if statements is None:
        return Verdict.non_compliant("statements are not a literal list, so their scope cannot be verified")
    problems = []
    for text in statements:
        try:
            statement = parse(text)
        except PolicySyntaxError as exc:
            problems.append(f"{text!r}: cannot parse ({exc}), so its scope cannot be verified")
            continue
        if statement.action != "define" and (why := _location_problem(statement.location)):
            problems.append(f"{text!r}: {why}")
    return Verdict.from_problems(problems)


def _names_a_bucket(value: Token) -> bool:
    """A name or a /pattern/ that is more than wildcards."""
    text = value.text
    if value.kind == "word" and len(text) >= 2 and text[0] == text[-1] == "/":
        text = text[1:-1]
    return bool(text.strip().strip("*"))


def _unscoped_object_grant(statement: Statement) -> str:
    grants_objects = statement.resource_type in OBJECT_RESOURCE_TYPES or any(
        p.startswith("OBJECT_") for p in statement.permissions
    )
    if not grants_objects:
        return ""
    where = statement.where
    if where:
        pins = [c.lhs == "target.bucket.name" and c.op == "=" and _names_a_bucket(c.value) for c in where.conditions]
        # all {...}: one bucket condition narrows the grant; any {...}: every alternative must.
        if all(pins) if where.mode == "any" else any(pins):
            return ""
    return "grants objects without \"where target.bucket.name = '<bucket>'\""


NO_MANAGE_ALL = Rule(
    id="OCI-IAM-1",
    severity=Severity.ERROR,
    title="no 'manage all-resources'",
    explanation="'manage all-resources' is full administration of everything in its scope (Oracle's proof-of-concept "
    "policy); grant the verbs and resource types the principal needs instead.",
    check=_per_statement(_manages_everything),
)

COMPARTMENT_SCOPE = Rule(
    id="OCI-IAM-2",
    severity=Severity.ERROR,
    title="every statement scoped to a compartment",
    explanation="a grant 'in tenancy' (or with no readable location) reaches every compartment, including other "
    "teams' and the root; scope it 'in compartment id <ocid>' or 'in compartment <name>'.",
    check=_check_scope,
)

BUCKET_SCOPED_OBJECTS = Rule(
    id="OCI-IAM-3",
    severity=Severity.ERROR,
    title="object grants are bucket-scoped",
    explanation="without 'where target.bucket.name = ...' an object grant reaches every bucket in the compartment "
    "(state, other runs' outputs); name the bucket.",
    check=_per_statement(_unscoped_object_grant),
)

RULES = [NO_MANAGE_ALL, COMPARTMENT_SCOPE, BUCKET_SCOPED_OBJECTS]
