"""The IAM part of a review: which policy statements come and go, and which widen access.

A statement widens access when, for the same subject and resource type, it grants a stronger
verb, reaches a wider scope (a compartment becomes the tenancy) or drops `where` conditions;
a brand-new statement is called out when it is broad on its own (manage, tenancy-wide, or
object/secret access without a `where`).
"""

from __future__ import annotations

from cdk.rules.policy_syntax import PolicySyntaxError, Statement, parse
from ocift.review.model import PolicyChange, Resource

POLICY_TYPE = "oci_identity_policy"
_VERB_RANK = {"inspect": 0, "read": 1, "use": 2, "manage": 3}
_NEEDS_WHERE = ("objects", "secret-bundles", "secret-family", "buckets", "repos")


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
    return [(r.address, s) for r in resources.values() if r.type == POLICY_TYPE
            for s in _list(r.attrs.get("statements")) if isinstance(s, str)]


def _list(value: object) -> list:
    """A list attribute as synthesized; anything else (a token string, a malformed value) holds nothing."""
    return value if isinstance(value, list) else []


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def widening(text: str, base_statements: list[Statement]) -> str:
    """Why `text` widens access compared with the base, or '' when it does not."""
    try:
        new = parse(text)
    except PolicySyntaxError as exc:
        return f"`{text}`: cannot be parsed ({exc}), so it cannot be shown to be narrow"
    if new.action != "allow":
        return ""
    peers = [old for old in base_statements if _key(old) == _key(new)]
    if not peers:
        return _broad(text, new)
    reasons = []
    if all(_VERB_RANK.get(new.verb, 3) > _VERB_RANK.get(old.verb, 3) for old in peers):
        reasons.append(f"verb raised to {new.verb}")
    if _is_tenancy(new) and not any(_is_tenancy(old) for old in peers):
        reasons.append("scope widened to the whole tenancy")
    if all(_condition_count(new) < _condition_count(old) for old in peers):
        reasons.append("where-conditions dropped" if new.where is None else "fewer where-conditions")
    return f"`{text}`: " + "; ".join(reasons) if reasons else ""


def _broad(text: str, new: Statement) -> str:
    reasons = []
    if new.verb == "manage":
        reasons.append("new manage access")
    if _is_tenancy(new) or not new.location:
        reasons.append("tenancy-wide")
    if new.where is None and new.resource_type in _NEEDS_WHERE:
        reasons.append(f"{new.resource_type} without a where-condition")
    return f"`{text}`: " + "; ".join(reasons) if reasons else ""


def _parsed(texts: list[str]) -> list[Statement]:
    out = []
    for text in texts:
        try:
            out.append(parse(text))
        except PolicySyntaxError:
            continue
    return out


def _key(statement: Statement) -> tuple[str, str]:
    subject = " ".join(t.text.lower() for t in statement.subject)
    return subject, statement.resource_type or ",".join(statement.permissions)


def _is_tenancy(statement: Statement) -> bool:
    return bool(statement.location) and statement.location[0].is_word("tenancy")


def _condition_count(statement: Statement) -> int:
    return len(statement.where.conditions) if statement.where else 0
