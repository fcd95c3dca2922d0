"""Base/head pairs of a real stack, built with ocift's own constructs and synthesized by cdktf."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdk.framework import TerraformStack, Testing
from cdk.iam import TENANCY, DynamicGroupPrincipal, Policy, PolicyProps, Statement
from cdk.network import Network, NetworkProps
from cdk.registry import ContainerRepository, ContainerRepositoryProps
from cdk.storage import Bucket, BucketProps
from cdk.training_job import (
    DataScienceProject,
    NodeGroup,
    ProjectProps,
    TrainingJob,
    TrainingJobProps,
)
from contract.recipe import Recipe

STACK = "ocift-prod-app"
COMPARTMENT = "ocid1.compartment.oc1..aaaaapp"
DIGEST_A = "sha256:" + "ab" * 32
DIGEST_B = "sha256:" + "cd" * 32
PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-prod-jobruns", COMPARTMENT)


@dataclass(frozen=True)
class Variant:
    """What may differ between base and head."""

    outputs_name: str = "ocift-prod-outputs"
    scratch_id: str | None = "scratch_bucket"
    digest: str = DIGEST_A
    tags: dict[str, str] = field(default_factory=lambda: {"project": "ocift", "environment": "prod"})
    broad_grant: bool = False


def synth(variant: Variant) -> dict[str, Any]:
    stack = TerraformStack(Testing.app(), STACK)
    tags = variant.tags
    policy = Policy(stack, "job_access", PolicyProps(name="ocift-prod-job-access", compartment_id=COMPARTMENT, tags=tags))
    network = Network(stack, "job_network", NetworkProps(mode="default"))
    outputs = Bucket(stack, "outputs_bucket", BucketProps(name=variant.outputs_name, compartment_id=COMPARTMENT,
                                                          namespace="ns", tags=tags))
    if variant.scratch_id:
        Bucket(stack, variant.scratch_id, BucketProps(name="ocift-prod-scratch", compartment_id=COMPARTMENT,
                                                      namespace="ns", tags=tags))
    repo = ContainerRepository(stack, "trainer_repo", ContainerRepositoryProps(
        name="ocift/trainer", compartment_id=COMPARTMENT, tags=tags))
    project = DataScienceProject(stack, "project", ProjectProps(display_name="ocift-prod", compartment_id=COMPARTMENT,
                                                                tags=tags))
    job = TrainingJob(stack, "finetune_job", TrainingJobProps(
        display_name="ocift-prod-finetune", compartment_id=COMPARTMENT, project_id=project.id, principal=PRINCIPAL,
        network=network, image=repo.image("iad.ocir.io", "ns", digest=variant.digest),
        node_groups=[NodeGroup(name="nodes", shape="BM.GPU.H100.8", replicas=2)],
        recipe=Recipe.from_mapping({"use_peft": True}), tags=tags))
    outputs.grant_read_write(job.principal)
    repo.grant_pull(job.principal)
    if variant.broad_grant:  # what a careless change adds "to make it work"
        policy.add_statements(Statement(subject=PRINCIPAL, verb="manage", resource="objects", compartment_id=TENANCY))
    return json.loads(Testing.synth(stack))


def write_tree(root: Path, document: dict[str, Any]) -> Path:
    stack_dir = root / "stacks" / STACK
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document, indent=1))
    return root
