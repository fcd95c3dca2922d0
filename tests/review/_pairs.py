"""Base/head pairs of a real stack, built with ocift's own constructs and synthesized by cdktf."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdk.framework import TerraformStack, Testing
from cdk.iam import TENANCY, DynamicGroupPrincipal, Policy, PolicyProps, Statement
from cdk.logs import CustomLog, CustomLogProps, LogGroup, LogGroupProps
from cdk.network import Network, NetworkProps
from cdk.oci.datascience import DatascienceJobRun
from cdk.registry import ContainerRepository, ContainerRepositoryProps
from cdk.rules import suppress
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
    shape: str = "BM.GPU.H100.8"
    replicas: int = 2
    lr: float = 1e-4
    retention_days: int = 30
    subnet_cidr: str = "10.0.0.0/24"
    run_id: str | None = "first_run"  # a run declared in the stack (None: no run)
    statements: tuple[Statement, ...] = ()  # more grants
    suppressed: str = ""  # a reason to suppress OCI-OS-1 on the outputs bucket


def synth(variant: Variant) -> dict[str, Any]:
    stack = TerraformStack(Testing.app(), STACK)
    tags = variant.tags
    policy = Policy(
        stack, "job_access", PolicyProps(name="ocift-prod-job-access", compartment_id=COMPARTMENT, tags=tags)
    )
    network = Network(
        stack,
        "job_network",
        NetworkProps(
            mode="create", compartment_id=COMPARTMENT, name="ocift-prod", subnet_cidr=variant.subnet_cidr, tags=tags
        ),
    )
    group = LogGroup(
        stack, "job_logs", LogGroupProps(display_name="ocift-prod-jobs", compartment_id=COMPARTMENT, tags=tags)
    )
    log = CustomLog(
        stack,
        "train_log",
        CustomLogProps(
            display_name="ocift-prod-train", log_group=group, retention_days=variant.retention_days, tags=tags
        ),
    )
    outputs = Bucket(
        stack,
        "outputs_bucket",
        BucketProps(name=variant.outputs_name, compartment_id=COMPARTMENT, namespace="ns", tags=tags),
    )
    if variant.scratch_id:
        Bucket(
            stack,
            variant.scratch_id,
            BucketProps(name="ocift-prod-scratch", compartment_id=COMPARTMENT, namespace="ns", tags=tags),
        )
    repo = ContainerRepository(
        stack, "trainer_repo", ContainerRepositoryProps(name="ocift/trainer", compartment_id=COMPARTMENT, tags=tags)
    )
    project = DataScienceProject(
        stack, "project", ProjectProps(display_name="ocift-prod", compartment_id=COMPARTMENT, tags=tags)
    )
    job = TrainingJob(
        stack,
        "finetune_job",
        TrainingJobProps(
            display_name="ocift-prod-finetune",
            compartment_id=COMPARTMENT,
            project_id=project.id,
            principal=PRINCIPAL,
            network=network,
            image=repo.image("iad.ocir.io", "ns", digest=variant.digest, tag="1.0"),
            node_groups=[NodeGroup(name="nodes", shape=variant.shape, replicas=variant.replicas)],
            recipe=Recipe.from_mapping({"use_peft": True, "lr": variant.lr}),
            log=log,
            maximum_runtime_minutes=600,
            tags=tags,
        ),
    )
    if variant.run_id:
        # A run declared with the L1 binding: ocift's stacks declare none (runs start with
        # `ocift run start`), but a base from before that change, or a user's stack, may.
        DatascienceJobRun(
            job,
            variant.run_id,
            compartment_id=COMPARTMENT,
            project_id=project.id,
            job_id=job.resource.id,
            display_name="ocift-prod-first",
            asynchronous=True,
            freeform_tags=dict(tags) or None,
            depends_on=[policy.resource],
        )
    outputs.grant_read_write(job.principal)
    repo.grant_pull(job.principal)
    if variant.broad_grant:  # what a careless change adds "to make it work"
        policy.add_statements(Statement(subject=PRINCIPAL, verb="manage", resource="objects", compartment_id=TENANCY))
    policy.add_statements(*variant.statements)
    if variant.suppressed:
        suppress(outputs, "OCI-OS-1", variant.suppressed)
    outdir = Path(Testing.full_synth(stack))  # with cdktf's "//" metadata, where suppressions travel
    return json.loads((outdir / "stacks" / STACK / "cdk.tf.json").read_text())


def write_tree(root: Path, document: dict[str, Any]) -> Path:
    stack_dir = root / "stacks" / STACK
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document, indent=1))
    return root
