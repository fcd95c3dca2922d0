"""One environment's stacks, built from a validated config with the L2 constructs.

Stacks are split by who applies them, each with its own state:
- `<env>-iam` (tenancy administrators, home region): the job-run dynamic group, the policy
  granting it exactly what the job uses, and the service policies the resources depend on.
- `<env>-network` (network team; only with `network.mode: create`): VCN, private subnet,
  gateways; it outputs `subnet_id`, which the training stack reads from its state.
- `<env>-training` (the ML platform team): outputs bucket, OCIR repository, logs, the Data
  Science project and the multi-node job (runs are started by `ocift run start`, never by apply).

Every stack gets the provider pinned to the schema's version, the environment's backend, and the
rule pack as an aspect (a blocking finding fails synth). Policies hold only names (bucket, repo,
secret OCIDs), never references, so IAM can live in its own stack without cross-stack tokens.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from cdk.framework import App, Aspects, TerraformOutput, TerraformResource, TerraformStack
from cdk.iam import (
    Condition,
    DynamicGroup,
    DynamicGroupPrincipal,
    DynamicGroupProps,
    GroupPrincipal,
    Policy,
    PolicyProps,
    Statement,
    Verb,
    grant,
)
from cdk.logs import CustomLog, CustomLogProps, LogGroup, LogGroupProps
from cdk.network import Network, NetworkProps
from cdk.oci.provider import OciProvider
from cdk.registry import ContainerRepository, ContainerRepositoryProps
from cdk.rules import RuleContext, RulePack, suppress
from cdk.storage import Bucket, BucketProps, ExpireRule
from cdk.training_job import DataScienceProject, NodeGroup, ProjectProps, TrainingJob, TrainingJobProps
from stacks.backends import apply_backend, remote_state
from stacks.config import CreateNetwork, EnvironmentConfig, ExistingNetwork
from stacks.errors import ConfigError, Problem

JOB_KEY = "finetune"
"""The environment's one job as `ocift run start <env> finetune` names it: the training stack outputs
`finetune_job_id`, the name `ocift.run.resolve_job` reads from `cdktf deploy --outputs-file`."""


@dataclass
class EnvironmentStacks:
    """The stacks of one environment, in the order they are applied."""

    config: EnvironmentConfig
    stacks: list[TerraformStack] = field(default_factory=list)


def build_environment(app: App, config: EnvironmentConfig) -> EnvironmentStacks:
    """Create every stack of `config` in `app` (nothing is written until `app.synth()`)."""
    env = EnvironmentStacks(config)
    iam = _stack(app, env, "iam", config.iam_region)
    network_stack = _stack(app, env, "network", config.region) if isinstance(config.network, CreateNetwork) else None
    training = _stack(app, env, "training", config.region)
    principal = DynamicGroupPrincipal.job_runs(config.dynamic_group_name, config.compartment_ocid)
    group = DynamicGroup(
        iam,
        "JobRunGroup",
        DynamicGroupProps(
            principal=principal,
            tenancy_id=config.tenancy_ocid,
            description=f"ocift {config.environment} job runs",
            tags=config.tags,
        ),
    )
    job_policy = Policy(
        iam,
        "JobRunPolicy",
        PolicyProps(
            name=config.policies()["jobs"][1],
            compartment_id=config.job_policy_compartment,
            description=f"what ocift {config.environment} job runs may use",
            subject_groups=[group],
            tags=config.tags,
        ),
    )

    network = _network(config, network_stack, training)  # the construct whose service statements apply
    job_network = network if network_stack is None else _subnet_from_state(config, training, network_stack)
    bucket = _training(config, training, principal, job_policy, job_network)
    job_network.grant_attach(principal, job_policy)
    service = [
        *network.service_statements(),
        *bucket.service_statements(config.region, config.storage.kms_key_compartment_ocid),
    ]
    if service:
        Policy(
            iam,
            "ServicePolicy",
            PolicyProps(
                name=config.policies()["services"][1],
                compartment_id=config.tenancy_ocid,
                description=f"OCI services acting for ocift {config.environment}",
                statements=service,
                tags=config.tags,
            ),
        )
    if config.iam.operators_group:
        Policy(
            iam,
            "OperatorPolicy",
            PolicyProps(
                name=config.policies()["operators"][1],
                compartment_id=config.tenancy_ocid,
                description=f"who may run and watch ocift {config.environment} jobs",
                statements=_operator_statements(config, network),
                tags=config.tags,
            ),
        )
    training.add_dependency(iam)
    _apply_suppressions(config, env)
    return env


def _operator_statements(config: EnvironmentConfig, network: Network) -> list[Statement]:
    """People or CI running the environment's jobs: runs, their logs and metrics, their outputs."""
    assert config.iam.operators_group is not None
    group = GroupPrincipal(config.iam.operators_group, config.iam.identity_domain)
    compartment, outputs = config.compartment_ocid, (Condition("target.bucket.name", config.outputs_bucket),)
    grants: list[tuple[Verb, str]] = [
        ("manage", "data-science-jobs"),
        ("manage", "data-science-job-runs"),
        ("read", "data-science-projects"),
        ("use", "logging-family"),
        ("read", "metrics"),
    ]
    statements = [
        Statement(subject=group, verb=verb, resource=resource, compartment_id=compartment) for verb, resource in grants
    ]
    statements += [
        Statement(subject=group, verb="read", resource=resource, compartment_id=compartment, conditions=outputs)
        for resource in ("buckets", "objects")
    ]
    if network.job_network_type == "CUSTOM_NETWORK":
        statements.append(
            Statement(
                subject=group, verb="use", resource="virtual-network-family", compartment_id=config.network_compartment
            )
        )
    return statements


def _stack(app: App, env: EnvironmentStacks, kind: str, region: str) -> TerraformStack:
    config = env.config
    name = f"{config.environment}-{kind}"
    stack = TerraformStack(app, name)
    OciProvider(stack, "oci", region=region)
    apply_backend(stack, config, name)
    Aspects.of(stack).add(RulePack(RuleContext(environment=config.environment, is_prod=config.tier == "production")))
    env.stacks.append(stack)
    return stack


def _network(config: EnvironmentConfig, network_stack: TerraformStack | None, training: TerraformStack) -> Network:
    """The network construct whose service statements apply: in its own stack when created here."""
    net = config.network
    if isinstance(net, CreateNetwork):
        assert network_stack is not None
        network = Network(
            network_stack,
            "Network",
            NetworkProps(
                mode="create",
                compartment_id=config.network_compartment,
                name=f"ocift-{config.environment}",
                vcn_cidr=str(net.vcn_cidr),
                subnet_cidr=str(net.subnet_cidr),
                tags=config.tags,
            ),
        )
        TerraformOutput(
            network_stack,
            "subnet_id",
            value=network.subnet_id,
            description="the private subnet job nodes attach to (read by the training stack)",
        )
        return network
    subnet = net.subnet_ocid if isinstance(net, ExistingNetwork) else None
    return Network(
        training,
        "Network",
        NetworkProps(mode=net.mode, compartment_id=config.network_compartment, subnet_id=subnet, tags=config.tags),
    )


def _subnet_from_state(config: EnvironmentConfig, training: TerraformStack, network_stack: TerraformStack) -> Network:
    """The created subnet as the training stack sees it: an output of the network stack's state."""
    training.add_dependency(network_stack)
    state = remote_state(training, config, network_stack.node.id, "network")
    return Network(
        training,
        "Network",
        NetworkProps(
            mode="existing", compartment_id=config.network_compartment, subnet_id=state.get_string("subnet_id")
        ),
    )


def _training(
    config: EnvironmentConfig, stack: TerraformStack, principal: DynamicGroupPrincipal, policy: Policy, network: Network
) -> Bucket:
    """The training stack's resources; every grant the job needs goes into `policy` (in the IAM stack)."""
    bucket = _outputs_bucket(config, stack, principal, policy)
    registry = ContainerRepository(
        stack,
        "Registry",
        ContainerRepositoryProps(
            name=config.repository,
            compartment_id=config.compartment_ocid,
            immutable=config.registry.immutable,
            tags=config.tags,
        ),
    )
    registry.grant_pull(principal, policy)
    group = LogGroup(
        stack,
        "Logs",
        LogGroupProps(
            display_name=f"ocift-{config.environment}-jobs", compartment_id=config.compartment_ocid, tags=config.tags
        ),
    )
    log = CustomLog(
        stack,
        "JobLog",
        CustomLogProps(
            display_name=f"ocift-{config.environment}-job-runs",
            log_group=group,
            retention_days=config.logs.retention_days,
            tags=config.tags,
        ),
    )
    log.grant_write(principal, policy)
    job = _job(config, stack, principal, network, registry, log)
    job.grant_secret_reads(config.training.secrets_compartment_ocid or config.compartment_ocid, policy)
    TerraformOutput(
        stack,
        f"{JOB_KEY}_job_id",
        value=job.id,
        description=f"the multi-node job: ocift run start {config.environment} {JOB_KEY}",
    )
    TerraformOutput(stack, "outputs_uri", value=config.output_uri, description="where runs sync their outputs")
    return bucket


def _outputs_bucket(
    config: EnvironmentConfig, stack: TerraformStack, principal: DynamicGroupPrincipal, policy: Policy
) -> Bucket:
    """The bucket runs write; runs may also read the buckets the recipe names (and nothing else)."""
    storage = config.storage
    bucket = Bucket(
        stack,
        "Outputs",
        BucketProps(
            name=config.outputs_bucket,
            compartment_id=config.compartment_ocid,
            namespace=config.namespace,
            kms_key_id=storage.kms_key_ocid,
            versioning=storage.versioning,
            previous_versions_days=30 if storage.versioning else None,
            expire=[ExpireRule(pattern=f"{config.job_name}/*/checkpoints/*", days=storage.checkpoint_expiry_days)]
            if storage.checkpoint_expiry_days
            else (),
            prevent_destroy=storage.prevent_destroy,
            tags=config.tags,
        ),
    )
    bucket.grant_read_write(principal, policy)
    for name in config.input_buckets():
        grant(
            policy,
            principal,
            storage.inputs_compartment_ocid or config.compartment_ocid,
            [("read", "buckets"), ("read", "objects")],
            (Condition("target.bucket.name", name),),
            policy,
        )
    return bucket


def _job(
    config: EnvironmentConfig,
    stack: TerraformStack,
    principal: DynamicGroupPrincipal,
    network: Network,
    registry: ContainerRepository,
    log: CustomLog,
) -> TrainingJob:
    """The project and the multi-node job (recipe as CMD, launcher settings as OCIFT_* variables)."""
    training, image = config.training, config.training.image
    project = DataScienceProject(
        stack,
        "Project",
        ProjectProps(display_name=config.project_name, compartment_id=config.compartment_ocid, tags=config.tags),
    )
    job = TrainingJob(
        stack,
        "Job",
        TrainingJobProps(
            display_name=config.job_name,
            compartment_id=config.compartment_ocid,
            project_id=project.id,
            principal=principal,
            network=network,
            image=registry.image(image.registry, config.namespace, digest=image.digest or None, tag=image.tag),
            require_digest=config.tier == "production",
            node_groups=[
                NodeGroup(
                    name=g.name,
                    shape=g.shape,
                    replicas=g.replicas,
                    minimum_success_replicas=g.minimum_success_replicas,
                    ocpus=g.ocpus,
                    memory_in_gbs=g.memory_gbs,
                    block_storage_gbs=g.block_storage_gbs,
                )
                for g in training.node_groups
            ],
            startup_order=training.startup_order,
            recipe=config.recipe(),
            settings=training.launcher.model_copy(update={"output_uri": config.output_uri}),
            maximum_runtime_minutes=training.max_runtime_minutes,
            log=log,
            tags=config.tags,
        ),
    )
    return job


def _apply_suppressions(config: EnvironmentConfig, env: EnvironmentStacks) -> None:
    """Apply `rules.suppress`; a suppression that matches no resource is a config error (stale)."""
    problems = []
    for i, entry in enumerate(config.rules.suppress):
        matched = 0
        for stack in env.stacks:
            if not fnmatch.fnmatchcase(stack.node.id, entry.stack):
                continue
            for node in stack.node.find_all():
                if isinstance(node, TerraformResource) and _matches(node, stack, entry.resource):
                    suppress(node, entry.rule, entry.reason)
                    matched += 1
        if not matched:
            problems.append(
                Problem(
                    config.source,
                    f"rules.suppress[{i}]",
                    f"matches no resource (stack {entry.stack!r}, resource {entry.resource!r}): "
                    "remove it or fix the pattern",
                )
            )
    if problems:
        raise ConfigError(problems)


def _matches(node: TerraformResource, stack: TerraformStack, pattern: str) -> bool:
    """Match the Terraform address (`oci_identity_policy.JobRunPolicy_...`) or the construct path
    below the stack (`JobRunPolicy/Resource`)."""
    address = f"{node.terraform_resource_type}.{stack.get_logical_id(node)}"
    path = node.node.path.removeprefix(stack.node.id + "/")
    return fnmatch.fnmatchcase(address, pattern) or fnmatch.fnmatchcase(path, pattern)
