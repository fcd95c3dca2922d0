import pytest

from cdk.iam import DynamicGroupPrincipal, Policy, PolicyProps
from cdk.props import PropsError
from cdk.registry import ContainerRepository, ContainerRepositoryProps, ImageReference

from ._synth import COMPARTMENT, DIGEST, only, synth

PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)


def test_repository_is_private_and_optionally_immutable(stack):
    ContainerRepository(
        stack,
        "trainer_repo",
        ContainerRepositoryProps(name="ocift/trainer", compartment_id=COMPARTMENT, immutable=True, tags={"env": "dev"}),
    )
    repo = only(synth(stack), "oci_artifacts_container_repository")
    assert repo == {
        "compartment_id": COMPARTMENT,
        "display_name": "ocift/trainer",
        "is_public": False,
        "is_immutable": True,
        "freeform_tags": {"env": "dev"},
    }


def test_grant_pull_narrows_to_the_repository(stack):
    Policy(stack, "job_access", PolicyProps(name="ocift-dev-job-access", compartment_id=COMPARTMENT))
    repo = ContainerRepository(
        stack, "trainer_repo", ContainerRepositoryProps(name="ocift/trainer", compartment_id=COMPARTMENT)
    )
    repo.grant_pull(PRINCIPAL)
    assert only(synth(stack), "oci_identity_policy")["statements"] == [
        f"Allow dynamic-group ocift-dev-jobruns to read repos in compartment id {COMPARTMENT} "
        "where target.repo.name = 'ocift/trainer'"
    ]


def test_image_reference_round_trip(stack):
    text = f"iad.ocir.io/tenancyns/ocift/trainer:1.0@{DIGEST}"
    image = ImageReference.parse(text)
    assert (image.registry, image.namespace, image.repository, image.digest, image.tag) == (
        "iad.ocir.io",
        "tenancyns",
        "ocift/trainer",
        DIGEST,
        "1.0",
    )
    assert str(image) == text and image.pinned
    tagged = ImageReference.parse("iad.ocir.io/tenancyns/ocift/trainer:1.2")
    assert tagged.tag == "1.2" and not tagged.pinned
    assert tagged.problems(require_digest=True) == [
        "digest: is required: pin the image by digest (require_digest is set)"
    ]
    repo = ContainerRepository(
        stack, "repo", ContainerRepositoryProps(name="ocift/trainer", compartment_id=COMPARTMENT)
    )
    assert repo.image("iad.ocir.io", "tenancyns", digest=DIGEST, tag="1.0") == image


def test_a_digest_without_a_tag_is_refused():
    """Every image form the provider documents for a job carries a tag (`...:<tag>@digest`)."""
    with pytest.raises(PropsError) as err:
        ImageReference.parse(f"iad.ocir.io/tenancyns/ocift/trainer@{DIGEST}")
    assert err.value.problems == [
        "tag: is required, with or without a digest (the provider's image forms all carry one)"
    ]


def test_image_reference_reports_every_error():
    with pytest.raises(PropsError) as err:
        ImageReference.parse("docker.io/Tenancy/Trainer:bad tag@sha256:xyz")
    assert [p.split(":")[0] for p in err.value.problems] == ["registry", "namespace", "repository", "tag", "digest"]
    with pytest.raises(PropsError, match="is not <region-key>"):
        ImageReference.parse("trainer")


def test_repository_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        ContainerRepository(
            stack,
            "repo",
            ContainerRepositoryProps(name="Ocift//x", compartment_id="ocid1.bucket.oc1..b", tags={"": "x"}),
        )
    assert [p.split(":")[0] for p in err.value.problems] == ["name", "compartment_id", "tags['']"]
