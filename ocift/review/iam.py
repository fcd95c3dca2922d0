"""The IAM part of a review: which policy statements come and go, and which widen access.

Statements are compared as permissions, not as text. An added statement is covered when some base
statement for the same subject grants at least as much on every axis: verb (inspect < read < use <
manage), resource type (an individual type inside its family, every family inside all-resources),
scope (the tenancy, written `in tenancy` or `in compartment id <tenancy OCID>`, holds every
compartment; `compartment a` holds `compartment a:b`), and `where` (no clause, or a subset of the
added one's conditions). A statement not covered is named with the axes on which it is wider than
the base statements closest to it; a brand-new grant is called out only when it is broad on its
own (unconditioned manage, tenancy-wide, object or secret access without a `where`).

Sources: verbs in order of ability and the family types, Oracle's Policy Reference ("Verbs",
"Resource-Types", https://docs.oracle.com/en-us/iaas/Content/Identity/Reference/policyreference.htm);
policies inherit down the compartment tree ("How Policies Work"). Secret and Data Science families:
the Vault and Data Science policy pages linked from that reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdk.rules.policy_syntax import Condition, PolicySyntaxError, Statement, parse
from ocift.review.model import PolicyChange, Resource

POLICY_TYPE = "oci_identity_policy"
VERBS = ("inspect", "read", "use", "manage")
ALL_RESOURCES = "all-resources"
# Family -> the individual types it holds (only those the sources above list; an unlisted type is
# compared by equality, and is inside all-resources).
FAMILIES: dict[str, frozenset[str]] = {
    "object-family": frozenset({"buckets", "objects"}),
    "virtual-network-family": frozenset(
        {
            "vcns",
            "subnets",
            "route-tables",
            "security-lists",
            "dhcp-options",
            "network-security-groups",
            "internet-gateways",
            "nat-gateways",
            "service-gateways",
            "vnics",
            "vnic-attachments",
            "private-ips",
            "public-ips",
        }
    ),
    "volume-family": frozenset({"volumes", "volume-attachments", "volume-backups"}),
    "instance-family": frozenset({"instances", "instance-images", "volume-attachments", "console-histories"}),
    "database-family": frozenset({"db-systems", "db-homes", "databases"}),
    "secret-family": frozenset({"secrets", "secret-versions", "secret-bundles"}),
    "data-science-family": frozenset(
        {
            "data-science-projects",
            "data-science-notebook-sessions",
            "data-science-models",
            "data-science-model-deployments",
            "data-science-jobs",
            "data-science-job-runs",
            "data-science-pipelines",
            "data-science-pipeline-runs",
        }
    ),
}
_NEEDS_WHERE = ("objects", "object-family", "secret-bundles", "secret-family", "buckets", "repos")
TENANCY = ("tenancy",)


@dataclass(frozen=True)
class Grant:
    """One parsed allow/endorse/admit statement, as the axes it is compared on."""

    text: str
    action: str
    subject: str
    verb: str  # "" for a permission list
    resource_type: str
    permissions: frozenset[str]
    scope: tuple[str, ...]  # ("tenancy",) | ("id", ocid) | ("name", part, ...) | ("?", text)
    where_mode: str  # "" when there is no where clause
    conditions: frozenset[tuple[str, str, str]]

    @classmethod
    def of(cls, text: str, statement: Statement) -> Grant:
        where = statement.where
        return cls(
            text,
            statement.action,
            " ".join(t.text.lower() for t in statement.subject),
            statement.verb,
            statement.resource_type,
            frozenset(statement.permissions),
            _scope(statement),
            where.mode if where else "",
            frozenset(map(_condition, where.conditions)) if where else frozenset(),
        )


def _condition(condition: Condition) -> tuple[str, str, str]:
    return condition.lhs, condition.op, condition.value.text


def _scope(statement: Statement) -> tuple[str, ...]:
    words = [t.text for t in statement.location]
    lower = [w.lower() for w in words]
    if not words or lower == ["tenancy"]:
        return TENANCY  # no location reads as the tenancy, which is what OCI would do at the root
    if len(words) == 3 and lower[:2] == ["compartment", "id"]:
        return TENANCY if words[2].startswith("ocid1.tenancy.") else ("id", words[2])
    if len(words) == 2 and lower[0] == "compartment":
        return ("name", *words[1].split(":"))
    return ("?", " ".join(words))


def verb_covers(wide: str, narrow: str) -> bool:
    return VERBS.index(wide) >= VERBS.index(narrow)


def type_covers(wide: str, narrow: str) -> bool:
    return wide == narrow or wide == ALL_RESOURCES or narrow in FAMILIES.get(wide, frozenset())


def scope_covers(wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
    """Policies inherit downwards: a scope holds itself and every compartment under it."""
    if wide == TENANCY or wide == narrow:
        return True
    return wide[0] == narrow[0] == "name" and narrow[: len(wide)] == wide


def where_covers(wide: Grant, narrow: Grant) -> bool:
    """Whether `wide`'s conditions let through at least what `narrow`'s do."""
    if not wide.where_mode:
        return True
    if not narrow.where_mode:
        return False
    if wide.where_mode == "all":  # every condition of wide is also required by narrow
        return narrow.where_mode == "all" and wide.conditions <= narrow.conditions
    # wide is any {...}: each way into narrow must be one of wide's alternatives
    if narrow.where_mode == "any":
        return narrow.conditions <= wide.conditions
    return bool(narrow.conditions & wide.conditions)


def _grants_covers(wide: Grant, narrow: Grant) -> bool:
    if wide.verb and narrow.verb:
        return verb_covers(wide.verb, narrow.verb) and type_covers(wide.resource_type, narrow.resource_type)
    return not wide.verb and not narrow.verb and narrow.permissions <= wide.permissions


def covers(wide: Grant, narrow: Grant) -> bool:
    """Whether `wide` grants everything `narrow` does."""
    return (
        wide.action == narrow.action
        and wide.subject == narrow.subject
        and _grants_covers(wide, narrow)
        and scope_covers(wide.scope, narrow.scope)
        and where_covers(wide, narrow)
    )


def _related(old: Grant, new: Grant) -> bool:
    """A base statement close enough to compare axes with: same subject, overlapping resources."""
    if old.action != new.action or old.subject != new.subject:
        return False
    if old.verb and new.verb:
        return type_covers(old.resource_type, new.resource_type) or type_covers(new.resource_type, old.resource_type)
    return bool(old.permissions & new.permissions)


def _retargeted(old: Grant, new: Grant) -> bool:
    """The same grant pinned to another named target (`target.bucket.name = 'b'` for `= 'a'`, as when
    a bucket is renamed): different access, no wider; the statement diff shows it."""

    def pins(grant: Grant) -> set[tuple[str, str]]:
        return {(lhs, op) for lhs, op, _ in grant.conditions}

    same = (old.action, old.subject, old.verb, old.resource_type, old.permissions, old.scope, old.where_mode)
    return (
        same == (new.action, new.subject, new.verb, new.resource_type, new.permissions, new.scope, new.where_mode)
        and bool(new.conditions)
        and pins(old) == pins(new)
        and all(op == "=" for _, op in pins(new))
    )


def _wider_on(new: Grant, peers: list[Grant]) -> list[str]:
    """The axes on which `new` exceeds every related base statement."""
    reasons = []
    if new.verb and all(o.verb and not verb_covers(o.verb, new.verb) for o in peers):
        reasons.append(f"verb raised to {new.verb} (was {', '.join(sorted({o.verb for o in peers}))})")
    if new.verb and all(not type_covers(o.resource_type, new.resource_type) for o in peers):
        reasons.append(
            f"resource type widened to {new.resource_type} (was {', '.join(sorted({o.resource_type for o in peers}))})"
        )
    if not new.verb and all(not new.permissions <= o.permissions for o in peers):
        reasons.append("more permissions")
    if all(not scope_covers(o.scope, new.scope) for o in peers):
        reasons.append(
            "scope widened to the whole tenancy"
            if new.scope == TENANCY
            else f"scope reaches {_scope_text(new.scope)}, which the base did not"
        )
    if all(not where_covers(o, new) for o in peers):
        reasons.append("where-conditions dropped" if not new.where_mode else "where-conditions relaxed")
    return reasons


def _scope_text(scope: tuple[str, ...]) -> str:
    if scope[0] == "name":
        return "compartment " + ":".join(scope[1:])
    return f"compartment id {scope[1]}" if scope[0] == "id" else scope[1]


def policy_changes(stack: str, base: dict[str, Resource], head: dict[str, Resource]) -> list[PolicyChange]:
    base_all = _statements(base)
    head_all = _statements(head)
    base_parsed = _parsed([text for _, text in base_all])  # once per stack, not per added statement
    out = []
    for address in sorted({a for a, _ in base_all} | {a for a, _ in head_all}):
        before = [s for a, s in base_all if a == address]
        after = [s for a, s in head_all if a == address]
        added = [s for s in after if _norm(s) not in {_norm(b) for b in before}]
        removed = [s for s in before if _norm(s) not in {_norm(a) for a in after}]
        if not (added or removed):
            continue
        widenings = [w for s in added if (w := widening(s, base_parsed))]
        out.append(PolicyChange(stack, address, added, removed, widenings))
    return out


def _statements(resources: dict[str, Resource]) -> list[tuple[str, str]]:
    return [
        (r.address, s)
        for r in resources.values()
        if r.type == POLICY_TYPE
        for s in _list(r.attrs.get("statements"))
        if isinstance(s, str)
    ]


def _list(value: object) -> list:
    """A list attribute as synthesized; anything else (a token string, a malformed value) holds nothing."""
    return value if isinstance(value, list) else []


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def widening(text: str, base: list[Grant]) -> str:
    """Why `text` widens access compared with the base, or '' when it does not."""
    try:
        new = Grant.of(text, parse(text))
    except PolicySyntaxError as exc:
        return f"`{text}`: cannot be parsed ({exc}), so it cannot be shown to be narrow"
    if new.action == "define" or any(covers(old, new) or _retargeted(old, new) for old in base):
        return ""
    peers = [old for old in base if _related(old, new)]
    reasons = _wider_on(new, peers) if peers else _broad(new)
    return f"`{text}`: " + "; ".join(reasons) if reasons else ""


def _broad(new: Grant) -> list[str]:
    reasons = []
    if new.verb == "manage" and (not new.where_mode or new.resource_type == ALL_RESOURCES):
        reasons.append("new manage access" + ("" if new.where_mode else " without a where-condition"))
    if new.resource_type == ALL_RESOURCES or new.resource_type in FAMILIES:
        reasons.append(f"a whole family ({new.resource_type})")
    if new.scope == TENANCY:
        reasons.append("tenancy-wide")
    if not new.where_mode and new.resource_type in _NEEDS_WHERE:
        reasons.append(f"{new.resource_type} without a where-condition")
    return reasons


def _parsed(texts: list[str]) -> list[Grant]:
    out = []
    for text in texts:
        try:
            statement = parse(text)
        except PolicySyntaxError:
            continue
        if statement.action != "define":
            out.append(Grant.of(text, statement))
    return out
