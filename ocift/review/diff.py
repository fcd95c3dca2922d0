"""Classify what changes between two versions of a stack, as Terraform would act on it.

Without state or credentials we cannot run `terraform plan`, but the provider's schema tells
which attributes force a replacement (`force_new` in the pinned extras file), so a change to
one of them is shown as the destroy-then-create it will be. A resource whose logical id
changes is a destroy and a create too (unless the author adds a `moved` block).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from cdk.oci.generate import EXTRAS_FILE as EXTRAS
from contract.names import is_secret_name
from ocift.review.model import Action, AttrChange, Resource, ResourceChange

# Resources that hold data or identity: deleting or replacing one loses what is in it.
STATEFUL = {
    "oci_objectstorage_bucket": "bucket (objects and their versions are lost)",
    "oci_artifacts_container_repository": "container repository (images are lost)",
    "oci_kms_vault": "vault (keys and secrets are scheduled for deletion)",
    "oci_kms_key": "encryption key (data encrypted with it becomes unreadable)",
    "oci_logging_log_group": "log group (logs are lost)",
    "oci_logging_log": "log (its entries are lost)",
}

_INDEX = re.compile(r"\[\d+\]")
_IDENTITY = ("name", "display_name")


@cache
def _sdk_schema() -> dict[str, Any]:
    return json.loads(EXTRAS.read_text())["sdk_schema"]


def forces_replacement(tf_type: str, path: str) -> bool:
    """True when changing the attribute at `path` makes the provider replace the resource."""
    spec: Any = _sdk_schema()["resources"].get(tf_type, {})
    for segment in _INDEX.sub("", path).split("."):
        if not isinstance(spec, dict) or segment not in spec:
            return False
        entry = spec[segment]
        if entry.get("force_new"):
            return True
        spec = entry.get("elem")
    return False


def is_sensitive(path: str) -> bool:
    """Never print what looks like a secret: by the attribute's or map key's name, judged as the
    policy rules judge environment variables."""
    return is_secret_name(path.rsplit(".", 1)[-1])


def attr_changes(tf_type: str, before: Any, after: Any, path: str = "") -> list[AttrChange]:
    """Leaf-level differences; nested blocks (lists of objects) are compared element by element."""
    if before == after:
        return []
    if _is_dict(before) and _is_dict(after):
        before, after = before or {}, after or {}
        out: list[AttrChange] = []
        for key in sorted(set(before) | set(after)):
            out += attr_changes(tf_type, before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return out
    if _is_block_list(before) and _is_block_list(after):
        before, after = before or [], after or []
        out = []
        for i in range(max(len(before), len(after))):
            b = before[i] if i < len(before) else None
            a = after[i] if i < len(after) else None
            out += attr_changes(tf_type, b, a, f"{path}[{i}]")
        return out
    return [AttrChange(path, before, after, forces_replacement(tf_type, path), is_sensitive(path))]


def _is_dict(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _is_block_list(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, dict) for v in value))


def compare_stack(stack: str, base: dict[str, Resource], head: dict[str, Resource]) -> list[ResourceChange]:
    """Every change between two versions of one stack, destroys and replacements first.

    References are followed as Terraform follows them: a resource that refers to one being created
    anew (replaced, renamed, created) sees the new value of a configured attribute and "known after
    apply" for a computed one (its id); when that lands in a force-new attribute, it is replaced
    too, and so on through the references until nothing more changes.
    """
    fresh: set[str] = set(head) - set(base)
    while True:
        changes = _compare_once(stack, base, head, fresh)
        now = {c.address for c in changes if c.action in (Action.REPLACE, Action.RENAME, Action.CREATE)}
        if now == fresh:
            return sorted(changes, key=lambda c: (c.action.order, c.address))
        fresh = now


def _compare_once(
    stack: str, base: dict[str, Resource], head: dict[str, Resource], fresh: set[str]
) -> list[ResourceChange]:
    before = {a: _resolved(r, base, set()) for a, r in base.items()}
    after = {a: _resolved(r, head, fresh) for a, r in head.items()}
    removed = {a: before[a] for a in base if a not in head}
    added = {a: after[a] for a in head if a not in base}
    changes: list[ResourceChange] = []
    for old, new in _renames(removed, added):
        del removed[old.address], added[new.address]
        changes.append(_renamed(stack, old, new))
    for address in sorted(set(base) & set(head)):
        diffs = attr_changes(base[address].type, before[address].attrs, after[address].attrs)
        if diffs:
            changes.append(_updated(stack, base[address], diffs, _cascade(head[address], diffs, fresh)))
    for resource in removed.values():
        changes.append(_deleted(stack, resource))
    for resource in added.values():
        changes.append(
            ResourceChange(
                stack, resource.address, resource.type, Action.CREATE, attr_changes(resource.type, None, resource.attrs)
            )
        )
    return changes


# `${<address>.<attribute><rest>}`: a reference to another resource's attribute (rest: an index or a
# nested path). Anything more complex (functions, operators) is not followed.
_REFERENCE = re.compile(r"\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)((?:\[\d+\]|\.[A-Za-z0-9_]+)*)\}")
UNKNOWN = "(known after apply)"


def _resolved(resource: Resource, side: dict[str, Resource], fresh: set[str]) -> Resource:
    """`resource` with each reference replaced by what Terraform will see: the target's configured
    value, "known after apply" for a computed attribute of a target created anew, and the reference
    itself (a value that stays what it is) otherwise."""

    def value_of(match: re.Match[str], depth: int) -> Any:
        address, attribute, rest = match.groups()
        target = side.get(address)
        if target is not None and not rest and attribute in target.attrs and depth < 8:
            return resolve(target.attrs[attribute], depth + 1)
        return UNKNOWN if address in fresh else match.group(0)

    def resolve(value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, depth) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return value_of(whole, depth)
        return _REFERENCE.sub(lambda m: _text(value_of(m, depth)), value)

    return Resource(resource.stack, resource.address, resource.type, resolve(resource.attrs), resource.path)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _cascade(resource: Resource, diffs: list[AttrChange], fresh: set[str]) -> list[str]:
    """The resources created anew that a force-new change of `resource` comes from."""
    found: set[str] = set()
    for diff in diffs:
        if diff.forces_replacement:
            raw = json.dumps(_at(resource.attrs, diff.path))
            found |= {m.group(1) for m in _REFERENCE.finditer(raw) if m.group(1) in fresh}
    return sorted(found)


def _at(attrs: Any, path: str) -> Any:
    """The synthesized value at an attribute path ("a.b[0].c"); cdktf writes a single nested block
    as an object where the plan has a one-element list, so an index into an object is skipped."""
    node = attrs
    for part in re.split(r"\.|(?=\[)", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if isinstance(node, list):
                node = node[index] if index < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _renames(removed: dict[str, Resource], added: dict[str, Resource]) -> list[tuple[Resource, Resource]]:
    """Pair a removed and an added resource of the same type that are the same thing:
    identical attributes, or the same name / display name."""
    pairs = []
    taken: set[str] = set()
    for old in removed.values():
        candidates = [r for r in added.values() if r.type == old.type and r.address not in taken]
        match = next((r for r in candidates if r.attrs == old.attrs), None)
        if match is None:
            match = next(
                (
                    r
                    for r in candidates
                    for key in _IDENTITY
                    if old.attrs.get(key) is not None and r.attrs.get(key) == old.attrs.get(key)
                ),
                None,
            )
        if match is not None:
            taken.add(match.address)
            pairs.append((old, match))
    return pairs


def _renamed(stack: str, old: Resource, new: Resource) -> ResourceChange:
    what = STATEFUL.get(old.type)
    reason = (
        f"logical id changed from {old.address}: Terraform destroys and re-creates it; "
        f"add `moved {{ from = {old.address}, to = {new.address} }}` to keep it"
    )
    if what:
        reason += f" ({what} otherwise)"
    reason += _runs_deleted(old)
    return ResourceChange(
        stack,
        new.address,
        new.type,
        Action.RENAME,
        attr_changes(new.type, old.attrs, new.attrs),
        dangerous=bool(what),
        reason=reason,
        renamed_from=old.address,
    )


def _updated(stack: str, resource: Resource, diffs: list[AttrChange], cascade: list[str]) -> ResourceChange:
    causes = [d.path for d in diffs if d.forces_replacement]
    if not causes:
        return ResourceChange(stack, resource.address, resource.type, Action.UPDATE, diffs)
    what = STATEFUL.get(resource.type)
    reason = f"{', '.join(causes)} cannot change in place"
    if cascade:
        reason += f" (it follows {', '.join(cascade)}, created anew)"
    if what:
        reason += f"; replacing a {what}"
    reason += _runs_deleted(resource)
    return ResourceChange(
        stack,
        resource.address,
        resource.type,
        Action.REPLACE,
        diffs,
        dangerous=bool(what),
        reason=reason,
        cascade_from=cascade,
    )


def _runs_deleted(resource: Resource) -> str:
    """What the Data Science service deletes with a job: every run of it, not only the declared ones."""
    if resource.type == "oci_datascience_job" and resource.attrs.get("delete_related_job_runs") is True:
        return (
            "; the service deletes every run of this job with it (delete_related_job_runs), "
            "runs started outside Terraform included"
        )
    return ""


def _deleted(stack: str, resource: Resource) -> ResourceChange:
    what = STATEFUL.get(resource.type)
    reason = (f"deletes a {what}" if what else "") + _runs_deleted(resource)
    return ResourceChange(
        stack,
        resource.address,
        resource.type,
        Action.DELETE,
        attr_changes(resource.type, resource.attrs, None),
        dangerous=bool(what),
        reason=reason.removeprefix("; "),
    )


def plan_changes(stack: str, plan: dict[str, Any]) -> list[ResourceChange]:
    """Terraform's own verdict, from `terraform show -json`: actions and replace_paths are
    authoritative; sensitive and unknown values are masked as Terraform marks them."""
    actions = {
        ("create",): Action.CREATE,
        ("delete",): Action.DELETE,
        ("update",): Action.UPDATE,
        ("delete", "create"): Action.REPLACE,
        ("create", "delete"): Action.REPLACE,
    }
    out = []
    for rc in plan.get("resource_changes", []):
        change = rc.get("change", {})
        action = actions.get(tuple(change.get("actions", [])))
        if action is None or rc.get("mode") == "data":
            continue
        replace = {".".join(str(p) for p in path) for path in change.get("replace_paths", [])}
        secrets = _sensitive_values(change.get("before"), change.get("before_sensitive")) | _sensitive_values(
            change.get("after"), change.get("after_sensitive")
        )
        diffs = [
            AttrChange(
                d.path,
                _mask(secrets, d.before),
                _mask(secrets, _unknown(change, d.path, d.after)),
                forces_replacement=_dotted(d.path) in replace or d.forces_replacement,
                sensitive=d.sensitive,
            )
            for d in attr_changes(rc["type"], change.get("before"), change.get("after"))
        ]
        what = STATEFUL.get(rc["type"])
        dangerous = bool(what) and action in (Action.DELETE, Action.REPLACE)
        reason = {
            Action.REPLACE: ", ".join(sorted(replace)) or rc.get("action_reason", ""),
            Action.DELETE: f"deletes a {what}" if what else rc.get("action_reason", ""),
        }.get(action, "")
        out.append(ResourceChange(stack, rc["address"], rc["type"], action, diffs, dangerous, reason))
    return sorted(out, key=lambda c: (c.action.order, c.address))


def _dotted(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _lookup(tree: Any, path: str) -> Any:
    """The mark at `path` in Terraform's mirror trees (after_unknown); a `true` above it covers it."""
    for part in _dotted(path).split("."):
        if isinstance(tree, dict):
            tree = tree.get(part)
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return tree if isinstance(tree, bool) else None
    return tree


def _sensitive_values(values: Any, marks: Any) -> set[str]:
    """The text of every value Terraform marks sensitive. Terraform does not mark values
    derived from them (a computed copy in another attribute), so the report masks any
    value that contains one, wherever it appears."""
    if marks is True:
        return {json.dumps(values) if not isinstance(values, str) else values} if values is not None else set()
    found: set[str] = set()
    if isinstance(marks, dict) and isinstance(values, dict):
        for key, mark in marks.items():
            found |= _sensitive_values(values.get(key), mark)
    elif isinstance(marks, list) and isinstance(values, list):
        for value, mark in zip(values, marks):
            found |= _sensitive_values(value, mark)
    return found


def _mask(secrets: set[str], value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value)
    return "(sensitive)" if any(secret and secret in text for secret in secrets) else value


def _unknown(change: dict[str, Any], path: str, value: Any) -> Any:
    return "(known after apply)" if _lookup(change.get("after_unknown"), path) is True else value
