"""Object Storage bucket: private, versioned, lifecycle-managed, with read and read-write grants."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from constructs import Construct

from cdk.framework import TerraformResourceLifecycle
from cdk.iam import Condition, Grantee, Policy, ServicePrincipal, Statement, grant, object_lifecycle_statement
from cdk.oci.objectstorage import (
    DataObjectstorageNamespace,
    ObjectstorageBucket,
    ObjectstorageObjectLifecyclePolicy,
    ObjectstorageObjectLifecyclePolicyRules,
    ObjectstorageObjectLifecyclePolicyRulesObjectNameFilter,
)
from cdk.props import Problems, validate
from contract.names import BUCKET_NAME

_MOUNT_DIR = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class ExpireRule:
    """Delete objects whose names match the glob `pattern` `days` after they were last written (old
    checkpoints). A glob, not a prefix: each run writes under its own name (`<job>/<run>/checkpoints/`),
    and OCI's object name filter matches `*` across `/` ("Matches any string of characters",
    ObjectNameFilter in the OCI SDK docs, which also recommend patterns over prefixes)."""

    pattern: str
    days: int


@dataclass(frozen=True)
class StorageMount:
    """A bucket (optionally a prefix of it) mounted into every job node at /mnt/<destination>."""

    bucket: str
    namespace: str
    destination: str
    prefix: str = ""

    def problems(self) -> list[str]:
        p = Problems()
        p.name("bucket", self.bucket, BUCKET_NAME)
        p.check(bool(self.namespace), "namespace", "is required")
        p.pattern(
            "destination", self.destination, _MOUNT_DIR, "a directory name of 1-64 letters, digits, '.', '_' or '-'"
        )
        return p.items


@dataclass(frozen=True, kw_only=True)
class BucketProps:
    """Props of a `Bucket`.

    name: the bucket name, unique in the namespace; carries the environment (`ocift-dev-outputs`).
    compartment_id: where the bucket lives; grants are scoped to it.
    namespace: the tenancy's Object Storage namespace; default: looked up (`oci_objectstorage_namespace`).
    kms_key_id: a customer-managed Vault key OCID; default: Oracle-managed keys.
    versioning: keep previous versions of overwritten objects (default on).
    expire: rules deleting objects under a prefix after N days (default none).
    previous_versions_days: delete non-current versions after N days (default 30; None keeps them; only
        with versioning).
    abort_multipart_days: abort multipart uploads left unfinished for N days (default 7; None keeps them).
    prevent_destroy: refuse `terraform destroy` of the bucket (turn on in prod).
    tags: freeform tags.
    """

    name: str
    compartment_id: str
    namespace: str | None = None
    kms_key_id: str | None = None
    versioning: bool = True
    expire: Sequence[ExpireRule] = ()
    previous_versions_days: int | None = 30
    abort_multipart_days: int | None = 7
    prevent_destroy: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("name", self.name, BUCKET_NAME)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.check(self.namespace is None or bool(self.namespace), "namespace", "must be non-empty when given")
        p.ocid("kms_key_id", self.kms_key_id, "key", required=False)
        patterns = [rule.pattern for rule in self.expire]
        for i, rule in enumerate(self.expire):
            p.check(isinstance(rule.days, int) and rule.days >= 1, f"expire[{i}].days", "must be a whole number >= 1")
            p.check(
                bool(rule.pattern.strip("*")),
                f"expire[{i}].pattern",
                "must name something (an empty or '*' pattern would expire the whole bucket)",
            )
            p.check(len(rule.pattern) <= 1024, f"expire[{i}].pattern", "is longer than OCI's 1024 characters")
            p.check(
                patterns.count(rule.pattern) == 1, f"expire[{i}].pattern", f"{rule.pattern!r} appears more than once"
            )
        for prop in ("previous_versions_days", "abort_multipart_days"):
            days = getattr(self, prop)
            p.check(days is None or (isinstance(days, int) and days >= 1), prop, "must be None or a whole number >= 1")
        p.check(
            self.versioning or self.previous_versions_days is None,
            "previous_versions_days",
            "needs versioning (set it to None or enable versioning)",
        )
        p.tags("tags", self.tags)
        return p.items


def _rule(
    name: str, action: str, target: str, days: int, pattern: str | None = None
) -> ObjectstorageObjectLifecyclePolicyRules:
    return ObjectstorageObjectLifecyclePolicyRules(
        name=name,
        action=action,
        target=target,
        is_enabled=True,
        time_amount=str(days),
        time_unit="DAYS",
        object_name_filter=ObjectstorageObjectLifecyclePolicyRulesObjectNameFilter(inclusion_patterns=[pattern])
        if pattern
        else None,
    )


class Bucket(Construct):
    """A private (`NoPublicAccess`) bucket with versioning, lifecycle rules and grants.

    Children: `Resource` (the bucket), `Namespace` (lookup, when no namespace is given),
    `Lifecycle` (when any lifecycle rule applies).
    """

    def __init__(self, scope: Construct, id_: str, props: BucketProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.props = props
        self.compartment_id = props.compartment_id
        self.bucket_name = props.name
        self.namespace = (
            props.namespace
            or DataObjectstorageNamespace(self, "Namespace", compartment_id=props.compartment_id).namespace
        )
        self.resource = ObjectstorageBucket(
            self,
            "Resource",
            name=props.name,
            compartment_id=props.compartment_id,
            namespace=self.namespace,
            access_type="NoPublicAccess",
            versioning="Enabled" if props.versioning else "Disabled",
            kms_key_id=props.kms_key_id,
            freeform_tags=dict(props.tags) or None,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.prevent_destroy else None,
        )
        rules = [
            _rule(
                f"expire-{i}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', rule.pattern).strip('-')}"[:100],
                "DELETE",
                "objects",
                rule.days,
                rule.pattern,
            )
            for i, rule in enumerate(props.expire)
        ]
        if props.previous_versions_days is not None:
            rules.append(
                _rule("expire-previous-versions", "DELETE", "previous-object-versions", props.previous_versions_days)
            )
        if props.abort_multipart_days is not None:
            rules.append(
                _rule("abort-stale-multipart-uploads", "ABORT", "multipart-uploads", props.abort_multipart_days)
            )
        self.lifecycle_policy = (
            ObjectstorageObjectLifecyclePolicy(
                self, "Lifecycle", bucket=self.resource.name, namespace=self.namespace, rules=rules
            )
            if rules
            else None
        )

    def uri(self, path: str = "") -> str:
        """`oci://<bucket>@<namespace>/<path>`: what the launcher's storage layer reads and writes."""
        return f"oci://{self.bucket_name}@{self.namespace}/{path.lstrip('/')}"

    def mount(self, destination: str, prefix: str = "") -> StorageMount:
        """This bucket (or a prefix of it) mounted into job nodes at /mnt/<destination>."""
        return StorageMount(bucket=self.bucket_name, namespace=self.namespace, destination=destination, prefix=prefix)

    def _where(self) -> tuple[Condition, ...]:
        return (Condition("target.bucket.name", self.bucket_name),)

    def grant_read(self, grantee: Grantee, policy: Policy | None = None) -> list[Statement]:
        """`read buckets` + `read objects` where target.bucket.name is this bucket."""
        return grant(
            self, grantee, self.compartment_id, [("read", "buckets"), ("read", "objects")], self._where(), policy
        )

    def grant_read_write(self, grantee: Grantee, policy: Policy | None = None) -> list[Statement]:
        """`read buckets` + `manage objects` (write, overwrite, delete) where target.bucket.name is this bucket."""
        return grant(
            self, grantee, self.compartment_id, [("read", "buckets"), ("manage", "objects")], self._where(), policy
        )

    def service_statements(self, region: str, key_compartment_id: str | None = None) -> list[Statement]:
        """Admin statements this bucket depends on: Object Storage running the lifecycle rules, and using
        the customer key. region: the region identifier (`us-ashburn-1`). key_compartment_id: the Vault
        key's compartment (default: the bucket's)."""
        out = []
        if self.lifecycle_policy is not None:
            out.append(object_lifecycle_statement(region, self.compartment_id, self.bucket_name))
        if self.props.kms_key_id:
            out.append(
                Statement(
                    subject=ServicePrincipal(f"objectstorage-{region}"),
                    verb="use",
                    resource="keys",
                    compartment_id=key_compartment_id or self.compartment_id,
                    conditions=(Condition("target.key.id", self.props.kms_key_id),),
                )
            )
        return out
