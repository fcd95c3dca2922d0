"""OCIR container repository with a pull grant, and the image reference a job runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from cdk.iam import Condition, Grantee, Policy, Statement, grant
from cdk.oci.artifacts import ArtifactsContainerRepository
from cdk.props import Problems, PropsError, validate
from contract.names import DIGEST, IMAGE_TAG, NAMESPACE, REGISTRY, REPOSITORY

_REFERENCE = re.compile(
    r"^(?P<registry>[^/]+)/(?P<namespace>[^/]+)/(?P<repository>[^:@]+)"
    r"(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$"
)


@dataclass(frozen=True)
class ImageReference:
    """`<region-key>.ocir.io/<namespace>/<repository>:<tag>[@sha256:<digest>]`.

    A job should run an image pinned by digest: a tag can be moved, a digest cannot. The tag is
    required all the same: every image form the provider documents for a job carries one
    (`<region>.ocir.io/<namespace>/<repo>:<tag>`, `...:<tag>@digest`; oracle/terraform-provider-oci
    v8.28.0 `website/docs/r/datascience_job.html.markdown`, `image`).
    """

    registry: str
    namespace: str
    repository: str
    digest: str | None = None
    tag: str | None = None

    @classmethod
    def parse(cls, reference: str) -> ImageReference:
        """Parse and validate a full reference; every problem is reported at once."""
        match = _REFERENCE.match(reference)
        if not match:
            raise PropsError(
                "image", [f"image: {reference!r} is not <region-key>.ocir.io/<namespace>/<repo>[:tag][@digest]"]
            )
        image = cls(**match.groupdict())
        validate(f"image {reference!r}", image.problems())
        return image

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.namespace}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def problems(self, require_digest: bool = False) -> list[str]:
        p = Problems()
        p.name("registry", self.registry, REGISTRY)
        p.name("namespace", self.namespace, NAMESPACE)
        p.name("repository", self.repository, REPOSITORY)
        if self.tag is not None:
            p.name("tag", self.tag, IMAGE_TAG)
        if self.digest is not None:
            p.name("digest", self.digest, DIGEST)
        elif require_digest:
            p.add("digest", "is required: pin the image by digest (require_digest is set)")
        p.check(
            self.tag is not None,
            "tag",
            "is required, with or without a digest (the provider's image forms all carry one)",
        )
        return p.items


@dataclass(frozen=True, kw_only=True)
class ContainerRepositoryProps:
    """Props of a `ContainerRepository`.

    name: the repository name (`ocift/trainer`): lowercase components separated by '/'.
    compartment_id: where the repository lives; grants are scoped to it.
    immutable: refuse pushing over an existing tag (default off; on in prod).
    tags: freeform tags. The repository is always private.
    """

    name: str
    compartment_id: str
    immutable: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("name", self.name, REPOSITORY)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.tags("tags", self.tags)
        return p.items


class ContainerRepository(Construct):
    """A private OCIR repository (`Resource`), with `grant_pull` and image references into it."""

    def __init__(self, scope: Construct, id_: str, props: ContainerRepositoryProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.compartment_id = props.compartment_id
        self.repository_name = props.name
        self.resource = ArtifactsContainerRepository(
            self,
            "Resource",
            compartment_id=props.compartment_id,
            display_name=props.name,
            is_public=False,
            is_immutable=props.immutable,
            freeform_tags=dict(props.tags) or None,
        )

    def image(
        self, registry: str, namespace: str, *, digest: str | None = None, tag: str | None = None
    ) -> ImageReference:
        """A reference to an image in this repository; `registry` is `<region-key>.ocir.io`."""
        return ImageReference(
            registry=registry, namespace=namespace, repository=self.repository_name, digest=digest, tag=tag
        )

    def grant_pull(self, grantee: Grantee, policy: Policy | None = None) -> list[Statement]:
        """`read repos` where target.repo.name is this repository."""
        return grant(
            self,
            grantee,
            self.compartment_id,
            [("read", "repos")],
            (Condition("target.repo.name", self.repository_name),),
            policy,
        )
