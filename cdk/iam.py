"""Principals, typed policy statements, and the policies that collect grants.

OCI policy language is text; building it from typed parts keeps every statement scoped to a
compartment and narrowed with `where` conditions, and lets resource constructs offer intent-level
grants (`bucket.grant_read_write(job.principal)`) that land in a `Policy` of the same compartment.

Tenancy-level parts (the dynamic group, the Data Science service policy) are separate constructs
and statements, so an environment can put them in an admins-only stack; other stacks refer to the
principal by name through the `DynamicGroupPrincipal` value object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import jsii
from constructs import Construct, IValidation

from cdk.framework import IListProducer, IResolveContext, Lazy, TerraformStack
from cdk.oci.identity import IdentityDynamicGroup, IdentityPolicy
from cdk.props import Problems, is_token, validate
from contract.names import IAM_NAME

Verb = Literal["inspect", "read", "use", "manage"]
VERBS: tuple[str, ...] = ("inspect", "read", "use", "manage")
TENANCY = "tenancy"
"""Statement scope meaning the whole tenancy (`in tenancy`); use sparingly, rules flag it."""

MAX_STATEMENTS = 50
"""OCI's default limit of statements in one policy."""

_RESOURCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*$")
_VARIABLE = re.compile(r"^[a-z]+(\.[a-z-]+)+$")


class Grantee(Protocol):
    """Anything that can be the subject of a statement (`dynamic-group x`, `service y`)."""

    @property
    def subject(self) -> str: ...


def _quoted_subject(kind: str, name: str, identity_domain: str | None) -> str:
    return f"{kind} '{identity_domain}'/'{name}'" if identity_domain else f"{kind} {name}"


@dataclass(frozen=True)
class DynamicGroupPrincipal:
    """A dynamic group by name and matching rule: referable from any stack without a construct.

    `identity_domain`: set when the group lives in a non-default identity domain; statements then
    name it `dynamic-group '<domain>'/'<name>'`.
    """

    name: str
    matching_rule: str
    identity_domain: str | None = None

    @classmethod
    def job_runs(cls, name: str, compartment_id: str, identity_domain: str | None = None) -> DynamicGroupPrincipal:
        """The principal of every Data Science job run in `compartment_id`."""
        rule = f"all {{ resource.type = 'datasciencejobrun', resource.compartment.id = '{compartment_id}' }}"
        return cls(name=name, matching_rule=rule, identity_domain=identity_domain)

    @property
    def subject(self) -> str:
        return _quoted_subject("dynamic-group", self.name, self.identity_domain)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("name", self.name, IAM_NAME)
        p.check(bool(self.matching_rule.strip()), "matching_rule", "is required")
        return p.items


@dataclass(frozen=True)
class ServicePrincipal:
    """An OCI service acting on the tenancy's behalf (`service datascience`)."""

    service: str

    @property
    def subject(self) -> str:
        return f"service {self.service}"


@dataclass(frozen=True)
class GroupPrincipal:
    """A group of people or CI users."""

    name: str
    identity_domain: str | None = None

    @property
    def subject(self) -> str:
        return _quoted_subject("group", self.name, self.identity_domain)


@dataclass(frozen=True)
class Condition:
    """One `where` condition: `target.bucket.name = 'outputs'`."""

    variable: str
    value: str
    operator: Literal["=", "!="] = "="

    def render(self) -> str:
        return f"{self.variable} {self.operator} '{self.value}'"


@dataclass(frozen=True, kw_only=True)
class Statement:
    """`Allow <subject> to <verb> <resource> in <scope> [where ...]`.

    compartment_id: the compartment the statement applies to, or `TENANCY` (`in tenancy`).
    conditions: one renders as `where a = 'x'`, several as `where all { a = 'x', b = 'y' }`.
    """

    subject: Grantee
    verb: Verb
    resource: str
    compartment_id: str
    conditions: tuple[Condition, ...] = ()

    def render(self) -> str:
        scope = "tenancy" if self.compartment_id == TENANCY else f"compartment id {self.compartment_id}"
        text = f"Allow {self.subject.subject} to {self.verb} {self.resource} in {scope}"
        if len(self.conditions) == 1:
            text += f" where {self.conditions[0].render()}"
        elif self.conditions:
            text += " where all { " + ", ".join(c.render() for c in self.conditions) + " }"
        return text

    def problems(self) -> list[str]:
        p = Problems()
        p.check(self.verb in VERBS, "verb", f"{self.verb!r} is not one of {', '.join(VERBS)}")
        p.pattern("resource", self.resource, _RESOURCE_TYPE, "a resource type or family such as 'objects'")
        if self.compartment_id != TENANCY:
            p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        for i, cond in enumerate(self.conditions):
            p.pattern(f"conditions[{i}].variable", cond.variable, _VARIABLE, "a variable such as target.bucket.name")
            p.check(
                is_token(cond.value) or (bool(cond.value) and "'" not in cond.value),
                f"conditions[{i}].value",
                "must be non-empty and contain no single quote",
            )
        return p.items


def datascience_network_statement(network_compartment_id: str) -> Statement:
    """The service policy custom networking needs: Data Science attaches VNICs in that compartment."""
    return Statement(
        subject=ServicePrincipal("datascience"),
        verb="use",
        resource="virtual-network-family",
        compartment_id=network_compartment_id,
    )


def object_lifecycle_statement(region: str, compartment_id: str, bucket_name: str) -> Statement:
    """The service policy a bucket's lifecycle rules need: Object Storage deletes on the tenancy's
    behalf, narrowed to that bucket."""
    return Statement(
        subject=ServicePrincipal(f"objectstorage-{region}"),
        verb="manage",
        resource="object-family",
        compartment_id=compartment_id,
        conditions=(Condition("target.bucket.name", bucket_name),),
    )


# ---- constructs -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DynamicGroupProps:
    """principal: name and matching rule. tenancy_id: dynamic groups live in the tenancy (home region)."""

    principal: DynamicGroupPrincipal
    tenancy_id: str
    description: str = "ocift job runs"
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.extend("principal", self.principal.problems())
        p.ocid("tenancy_id", self.tenancy_id, "tenancy")
        p.check(bool(self.description.strip()), "description", "is required by OCI")
        p.tags("tags", self.tags)
        return p.items


class DynamicGroup(Construct):
    """Creates the dynamic group of a `DynamicGroupPrincipal` (an admin stack's job)."""

    def __init__(self, scope: Construct, id_: str, props: DynamicGroupProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.principal = props.principal
        self.resource = IdentityDynamicGroup(
            self,
            "Resource",
            compartment_id=props.tenancy_id,
            name=props.principal.name,
            matching_rule=props.principal.matching_rule,
            description=props.description,
            freeform_tags=dict(props.tags) or None,
        )

    @property
    def subject(self) -> str:
        """The group as a statement subject, so the construct itself can be granted to."""
        return self.principal.subject


@dataclass(frozen=True, kw_only=True)
class PolicyProps:
    """name: unique in its compartment. compartment_id: where the policy is attached (its statements
    may only reach that compartment and those below; the tenancy OCID for tenancy-level policies).
    statements: initial statements; grants add more.
    subject_groups: dynamic groups made in the same stack that its statements name: the policy is
        created after them, since OCI rejects a policy naming a subject that does not exist yet
        ("400-InvalidParameter ... The group README specified in the policy statement does not exist
        under current compartment hierarchy", oracle-devrel/terraform-oci-ocloud-foundation#6) and,
        without an edge, Terraform creates both at once. Default none."""

    name: str
    compartment_id: str
    description: str = "ocift grants"
    statements: Sequence[Statement] = ()
    subject_groups: Sequence[DynamicGroup] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("name", self.name, IAM_NAME)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.check(bool(self.description.strip()), "description", "is required by OCI")
        p.tags("tags", self.tags)
        for i, statement in enumerate(self.statements):
            p.extend(f"statements[{i}]", statement.problems())
        return p.items


@jsii.implements(IListProducer)
class _Rendered:
    """Renders the statements at synth time, so grants made after construction are included."""

    def __init__(self, policy: Policy):
        self._policy = policy

    def produce(self, context: IResolveContext) -> list[str]:
        return self._policy.rendered()


@jsii.implements(IValidation)
class _NotEmptyOrFull:
    def __init__(self, policy: Policy):
        self._policy = policy

    def validate(self) -> list[str]:
        n = len(self._policy.statements)
        if n == 0:
            return ["policy has no statements (OCI rejects an empty policy): grant something or remove it"]
        if n > MAX_STATEMENTS:
            return [f"policy has {n} statements, more than OCI's limit of {MAX_STATEMENTS}: split it"]
        return []


class Policy(Construct):
    """One OCI policy collecting statements, duplicates dropped, order kept.

    Resource constructs' grant methods find the `Policy` attached to their compartment in the same
    stack (`Policy.for_compartment`), or take one explicitly (`policy=`).
    """

    def __init__(self, scope: Construct, id_: str, props: PolicyProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.compartment_id = props.compartment_id
        self.statements: list[Statement] = []
        self.resource = IdentityPolicy(
            self,
            "Resource",
            compartment_id=props.compartment_id,
            name=props.name,
            description=props.description,
            statements=Lazy.list_value(_Rendered(self)),
            freeform_tags=dict(props.tags) or None,
            depends_on=[g.resource for g in props.subject_groups] or None,
        )
        self.node.add_validation(_NotEmptyOrFull(self))
        self.add_statements(*props.statements)

    def add_statements(self, *statements: Statement) -> None:
        """Add statements (validated, all problems at once); one already present is skipped."""
        p = Problems()
        for i, statement in enumerate(statements):
            p.extend(f"statements[{i}]", statement.problems())
        validate(self.node.path, p.items)
        for statement in statements:
            if statement.render() not in self.rendered():
                self.statements.append(statement)

    def rendered(self) -> list[str]:
        """The statements as OCI policy language, in the order added."""
        return [s.render() for s in self.statements]

    @staticmethod
    def for_compartment(scope: Construct, compartment_id: str) -> Policy:
        """The one `Policy` in `scope`'s stack attached to `compartment_id`."""
        stack = TerraformStack.of(scope)
        found = [c for c in stack.node.find_all() if isinstance(c, Policy) and c.compartment_id == compartment_id]
        if len(found) != 1:
            what = "no Policy" if not found else f"{len(found)} Policies ({', '.join(f.node.path for f in found)})"
            raise ValueError(
                f"{scope.node.path}: grant needs a Policy attached to compartment {compartment_id} in stack "
                f"{stack.node.id}, found {what}: create one (Policy(..., PolicyProps(compartment_id=...))) "
                "or pass policy= explicitly"
            )
        return found[0]


def grant(
    scope: Construct,
    grantee: Grantee,
    compartment_id: str,
    verbs_resources: Sequence[tuple[Verb, str]],
    conditions: tuple[Condition, ...] = (),
    policy: Policy | None = None,
) -> list[Statement]:
    """Add one statement per (verb, resource), all with the same scope and conditions, to `policy`
    (default: the stack's Policy for `compartment_id`). Returns the statements."""
    target = policy or Policy.for_compartment(scope, compartment_id)
    statements = [
        Statement(subject=grantee, verb=verb, resource=resource, compartment_id=compartment_id, conditions=conditions)
        for verb, resource in verbs_resources
    ]
    target.add_statements(*statements)
    return statements


def grant_secret_read(
    scope: Construct, grantee: Grantee, secret_id: str, compartment_id: str, policy: Policy | None = None
) -> list[Statement]:
    """Let `grantee` read the contents of one Vault secret (`read secret-bundles where target.secret.id`).

    compartment_id: the compartment that holds the secret (often a security compartment).
    """
    p = Problems()
    p.ocid("secret_id", secret_id, "vaultsecret")
    validate(f"{scope.node.path} grant_secret_read", p.items)
    return grant(
        scope,
        grantee,
        compartment_id,
        [("read", "secret-bundles")],
        (Condition("target.secret.id", secret_id),),
        policy,
    )
